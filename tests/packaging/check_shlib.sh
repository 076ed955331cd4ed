#!/bin/sh
# libtids as a shared library: SONAME libtids.so.1, only tids_* exported
# (exactly the symbols debian/libtids1.symbols promises), no unprefixed
# global in the static library either, and a client links against the .so
# alone and runs.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case "$O" in /*) ;; *) O=$root/$O ;; esac
so=$O/libtids.so.1
fail() { echo "check_shlib: $*" >&2; exit 1; }
[ -f "$so" ] || fail "$so is not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libtids.so.1 ] || fail "SONAME is '$soname', not libtids.so.1"

nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sed 's/@@*/@/; s/^LIBTIDS_1$/&@&/' | sort >"$tmp/exported"
bad=$(grep -v -e '^tids_[a-z0-9]' -e '^LIBTIDS_1@LIBTIDS_1$' "$tmp/exported" || true)
[ -z "$bad" ] || fail "exported without the tids_ prefix (or generated protobuf-c code): $bad"
sed -n 's/^ \([^ ]*\) .*/\1/p' "$root/debian/libtids1.symbols" | sort >"$tmp/promised"
if ! cmp -s "$tmp/exported" "$tmp/promised"; then
	diff "$tmp/promised" "$tmp/exported" >&2 || true
	fail "exports differ from debian/libtids1.symbols (< promised, > exported): a removed symbol breaks the ABI (new SONAME); a new one goes into the file (nm -D --defined-only $so lists them)"
fi

# (What sanitizers add to instrumented objects is theirs, not ours.)
bad=$(nm -g --defined-only "$O/libtids.a" | awk 'NF == 3 && $3 !~ /^tids_/ && $3 !~ /^_+(odr_)?asan|^__ubsan/ { print $3 }')
[ -z "$bad" ] || fail "libtids.a defines globals without the tids_ prefix: $bad"

cat >"$tmp/client.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "tids/crypto.h"
#include "tids/error.h"
int main(void)
{
	struct tids_identity id;
	uint8_t sig[TIDS_SIGNATURE_BYTES];
	char b64[TIDS_KEY_BASE64_BYTES];
	const uint8_t msg[] = "shared";

	if (tids_identity_generate(&id) != 0 ||
	    tids_sign_detached(id.sign_sk, "tids.test", msg, sizeof(msg), sig) != 0 ||
	    tids_sign_verify_detached(id.sign_pk, "tids.test", msg, sizeof(msg), sig) != 0)
		return 1;
	sig[0] ^= 1;
	if (tids_sign_verify_detached(id.sign_pk, "tids.test", msg, sizeof(msg), sig) == 0)
		return 1;
	tids_key_to_base64(id.sign_pk, b64);
	tids_identity_wipe(&id);
	printf("%s %s\n", b64, tids_strerror(TIDS_EINVAL));
	return 0;
}
C
# tids/wire.h includes obligations.def, which make install puts beside it
# (in the tree it is policy/'s one table of obligations).
# A library built with sanitizers needs them in its clients too.
san=
readelf -d "$so" | grep -q 'NEEDED.*libasan' && san="$san -fsanitize=address"
readelf -d "$so" | grep -q 'NEEDED.*libubsan' && san="$san -fsanitize=undefined"
# shellcheck disable=SC2086
${CC:-cc} -std=c11 $san -I"$root/lib/include" -I"$root/policy" -o "$tmp/client" "$tmp/client.c" -L"$O" -ltids
readelf -d "$tmp/client" | grep -q 'NEEDED.*libtids.so.1' || fail "the client did not link against libtids.so.1"
out=$(LD_LIBRARY_PATH=$O "$tmp/client") || fail "the client linked against libtids.so.1 failed"
[ -n "$out" ] || fail "the client printed nothing"
echo "  SHLIB    libtids.so.1: $(wc -l <"$tmp/exported") tids_* symbols as debian/libtids1.symbols says; a client links and runs"
