#!/bin/sh
# make demo's promises: it ends by verifying the ledger with the hub's
# public key and proving one delivery, then a lessor's statement and a
# report whose paths it prints; KEEP=1 keeps its folder and says
# where; without KEEP nothing of it is left behind. (The demo runs on the
# embedded Kafka, so this needs no broker.)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case "$O" in /*) ;; *) O=$root/$O ;; esac
fail() { echo "check_demo: $*" >&2; [ -z "${out:-}" ] || tail -30 "$out" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/kept.out

mkdir "$tmp/t1"
TMPDIR=$tmp/t1 KEEP=1 O=$O "$root/packaging/demo/demo.sh" >"$out" 2>&1 || fail "make demo KEEP=1 failed"
kept=$(sed -n 's/^== kept: \([^ ]*\) .*/\1/p' "$out")
[ -n "$kept" ] || fail "KEEP=1 did not say where the folder is"
[ -d "$kept" ] || fail "KEEP=1 did not keep $kept"
for f in state/ledger.db hub.pub proof.jsonl tidsd.log tidsd.conf; do
	[ -e "$kept/$f" ] || fail "the kept folder has no $f"
done
grep -q "^== an auditor verifies .*ledger with the hub's public key" "$out" || fail "the demo does not verify its ledger"
grep -q "^   OK$" "$out" || fail "the ledger did not verify"
grep -q "proof of record [0-9a-f]\{32\} on hub hub.sh: VALID" "$out" || fail "the demo proved no delivery"
# What was kept stands on its own: the auditor's commands work on it later.
"$O/tidsctl" audit verify --ledger "$kept/state/ledger.db" --hub-key "@$kept/hub.pub" --strict >/dev/null ||
	fail "the kept ledger does not verify"
"$O/tidsctl" audit check-proof --quiet --hub-key "@$kept/hub.pub" --publisher-key "@$kept/factory.sh1.pub" \
	"$kept/proof.jsonl" >/dev/null || fail "the kept proof does not check"
# It ends with the lessor's statement for press-7 and a report, at the
# paths it prints: the statement checks against the kept ledger.
st=$(sed -n 's/^   statement: //p' "$out")
report=$(sed -n 's/^   report: //p' "$out")
[ -n "$st" ] && [ -s "$st" ] || fail "the demo printed no statement"
"$O/tidsctl" audit check-statement --hub-key "@$kept/hub.pub" --ledger "$kept/state/ledger.db" \
	--publisher-key "@$kept/factory.sh1.pub" "$st" >/dev/null || fail "the demo's statement does not check"
grep -q "^     use run_hours: 1 lines, 1 records, hours 7.5$" "$out" || fail "the statement bills no run hours"
[ -n "$report" ] && grep -q '<svg' "$report" || fail "the demo printed no report with charts"

mkdir "$tmp/t2"
out=$tmp/plain.out
TMPDIR=$tmp/t2 O=$O "$root/packaging/demo/demo.sh" >"$out" 2>&1 || fail "make demo failed"
! grep -q "^== kept" "$out" || fail "the demo kept its folder without KEEP=1"
[ -z "$(ls -A "$tmp/t2")" ] || fail "the demo left $(ls "$tmp/t2") behind"
echo "  DEMO     make demo verifies its ledger, proves a delivery, bills press-7 and writes a report; KEEP=1 keeps $(basename "$kept"), else nothing is left"
