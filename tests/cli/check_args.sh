#!/bin/sh
# tidsctl refuses bad arguments as usage errors (exit 2) with words that say
# what was wrong, before it touches a hub or a ledger; a path that is no
# ledger file is named as such, not as SQLite's "disk I/O error". And the
# --json of the commands that need neither hub nor ledger (keygen, policy);
# tests/integration/ covers the --json of the others.
set -u
O=${O:-build}
tidsctl=$(cd "$O" && pwd)/tidsctl
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

expect 2 "--since must be before --until" audit stats --ledger "$tmp/none.db" --since 2026-01-02T00:00:00Z \
	--until 2026-01-02T00:00:00Z
expect 2 "proof --json describes the proof it wrote: give -o FILE" audit proof --json --ledger "$tmp/none.db" \
	00112233445566778899aabbccddeeff
expect 2 "export --json describes the bundle it wrote: give -o FILE" audit export --json --key "$tmp/k.key"

# --json: one object per line with the documented fields, on stdout.
# expect_json NEEDLE ARGS...: exit 0 and NEEDLE in stdout.
expect_json() {
	needle=$1
	shift
	if "$tidsctl" "$@" >"$tmp/out" 2>"$tmp/err" && grep -qF -- "$needle" "$tmp/out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: tidsctl $*: stdout: $(cat "$tmp/out"), stderr: $(cat "$tmp/err") (want '$needle')" >&2
	fi
}
root=$(cd "$(dirname "$0")/../.." && pwd)
(cd "$tmp" && "$tidsctl" keygen --json kg >"$tmp/kg.json" 2>"$tmp/err")
if grep -q "^{\"public_key\":\"$(cat "$tmp/kg.pub")\",\"key_file\":\"kg.key\",\"public_key_file\":\"kg.pub\"}\$" \
	"$tmp/kg.json"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: keygen --json: $(cat "$tmp/kg.json") $(cat "$tmp/err")" >&2
fi
expect_json '{"ok":true,"rules":' policy check --json "$root/policy/default"
expect_json '"warnings":0,"diagnostics":[]}' policy check --json "$root/policy/default"
printf 'permit broken\n' >"$tmp/bad.tidspol"
"$tidsctl" policy check --json "$tmp/bad.tidspol" >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 1 ] && grep -qF '{"ok":false,' "$tmp/out" && grep -qF '"severity":"error"' "$tmp/out"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: policy check --json of a bad file: $(cat "$tmp/out")" >&2
fi
expect_json '"failed":0,"broken":0}' policy test --json -p "$root/policy/default" "$root/policy/scenarios"
expect_json '"passed":true,"decision":"' policy test --json -p "$root/policy/default" "$root/policy/scenarios"

echo "  CLI      tests/cli/check_args.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
