#!/bin/sh
# tidsd's own arguments: --help and --version (and -h, -V) answer and exit 0
# without a configuration; an unknown option is a usage error (exit 2);
# tidsd(8) documents each.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case "$O" in /*) ;; *) O=$root/$O ;; esac
tidsd=$O/tidsd
fail() { echo "check_tidsd_args: $*" >&2; exit 1; }
version=$(sed -n 's/^#define TIDSD_VERSION "\(.*\)"/\1/p' "$root/daemon/tidsd.h")

for opt in --help -h; do
	out=$("$tidsd" $opt -c /nonexistent) || fail "tidsd $opt exited $?"
	for want in "usage: tidsd" "-c, --config" "-n, --check" "-V, --version" "-h, --help"; do
		printf '%s\n' "$out" | grep -qF -- "$want" || fail "tidsd $opt does not say '$want'"
	done
done
for opt in --version -V; do
	out=$("$tidsd" $opt) || fail "tidsd $opt exited $?"
	[ "$out" = "tidsd $version" ] || fail "tidsd $opt printed '$out', not 'tidsd $version'"
done
rc=0
"$tidsd" --no-such-option >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "an unknown option exited $rc, not 2"
rc=0
"$tidsd" -n extra-argument >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "a stray argument exited $rc, not 2"
for want in '\-V' '\-\-version' '\-\-help' '\-\-config' '\-\-check'; do
	grep -qF -- "$want" "$root/packaging/man/tidsd.8" || fail "tidsd(8) does not document $want"
done
echo "  ARGS     tidsd --help, --version, -V, -h; unknown options exit 2; tidsd(8) documents them"
