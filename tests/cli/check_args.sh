#!/bin/sh
# tidsctl refuses bad arguments as usage errors (exit 2) with words that say
# what was wrong, before it touches a hub or a ledger; a path that is no
# ledger file is named as such, not as SQLite's "disk I/O error".
set -u
O=${O:-build}
tidsctl=$O/tidsctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# expect STATUS NEEDLE ARGS...: exit status and a phrase of stderr.
expect() {
	want=$1 needle=$2
	shift 2
	"$tidsctl" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: tidsctl $*: exit $got (want $want), stderr: $(cat "$tmp/err") (want '$needle')" >&2
	fi
}

for n in abc -3 0 5x ''; do
	expect 2 "--limit '$n': a whole number" audit query --ledger "$tmp/none.db" --limit "$n"
done
expect 2 "--threads 'abc': a whole number" audit verify --ledger "$tmp/none.db" --hub-key AAAA --threads abc
expect 2 "--threads '0': a whole number" audit verify --ledger "$tmp/none.db" --hub-key AAAA --threads 0
expect 2 "--timeout 'abc': a whole number" ping --hub 127.0.0.1:1 --timeout abc
expect 2 "--timeout '-1': a whole number" ping --hub 127.0.0.1:1 --timeout -1
expect 2 "--window '0': a whole number" subscribe --hub 127.0.0.1:1 --purpose x --window 0
expect 2 "--batch '1001': a whole number" publish --hub 127.0.0.1:1 --batch 1001
expect 2 "--limit '0': a whole number" admin --hub "$tmp/sock" list participants --limit 0
expect 2 "admin list keys: list participants" admin --hub "$tmp/sock" list keys
expect 2 "needs the hub's public key" audit verify --ledger "$tmp/none.db"
expect 2 "prune verifies the ledger first: --hub-key KEY" audit prune --ledger "$tmp/none.db"
expect 2 "needs the hub's public key" audit check-proof "$tmp/none.bundle"
expect 2 "--since must be before --until" audit query --ledger "$tmp/none.db" \
	--since 2026-01-02T00:00:00Z --until 2026-01-01T00:00:00Z
expect 1 "is a directory, not a ledger file" audit query --ledger "$tmp"
expect 1 "no such file" audit query --ledger "$tmp/none.db"
expect 1 "is a directory, not a ledger file" audit verify --ledger "$tmp" --hub-key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

echo "  CLI      tests/cli/check_args.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
