#!/bin/sh
# make demo: the whole story on one machine, in under a minute. tidsd runs
# with kafka.mode = embedded (librdkafka's in-process mock cluster: nothing
# is durable); a factory publishes data from a leased press, and the lessor,
# the regulator and a lessor abroad each receive what the default policies
# allow them, in the form they allow. Act 2: a second hub (Wuhan) joins as
# a peer; a press in Shanghai leased from a Wuhan lessor sends its run hours
# across, with the factory's signature checked at the end, and each hub's
# ledger holds its side of the forward. At the end an auditor verifies the
# Shanghai ledger with the hub's public key and proves one delivery; then
# the lessor's signed statement for press-7, checked against the ledger,
# and an evaluation report, both kept in $O/demo/.
#
# KEEP=1 (make demo KEEP=1) keeps the demo's folder (ledgers, keys, proof,
# logs) and says where it is.
set -eu

O=${O:-build}
O=$(cd "$O" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
tidsd=$O/tidsd
tidsctl=$O/tidsctl
keep=${KEEP:-0}
dir=$(mktemp -d "${TMPDIR:-/tmp}/tids-demo.XXXXXX")
pid=
pid2=
cleanup() {
	[ -z "$pid2" ] || kill "$pid2" 2>/dev/null || true
	[ -z "$pid2" ] || wait "$pid2" 2>/dev/null || true
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	if [ "$keep" = 1 ]; then
		printf '\n== kept: %s (tidsd.conf, tidsd.log, state/ledger.db, hub.pub, proof.jsonl, the keys, wh/)\n' "$dir"
	else
		rm -rf "$dir"
	fi
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
# The hub's identity, made here so that the auditor has its public key.
(cd "$dir" && "$tidsctl" keygen hub >/dev/null)
cat > "$dir/tidsd.conf" <<CONF
hub.id = hub.sh
hub.jurisdiction = CN-SH
hub.key = $dir/hub.key
state.dir = $dir/state
policy.dir = $root/policy/default
listen.tcp = 127.0.0.1:$port
listen.unix = $dir/tidsd.sock
metrics.listen = 127.0.0.1:$metrics_port
kafka.mode = embedded
audit.checkpoint_interval = 1s
CONF

say() { printf '\n== %s\n' "$*"; }

say "starting tidsd (embedded Kafka, not durable)"
"$tidsd" -c "$dir/tidsd.conf" >"$dir/tidsd.log" 2>&1 &
pid=$!
i=0
until "$tidsctl" ping --hub "$dir/tidsd.sock" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/tidsd.log"; echo "tidsd did not start" >&2; exit 1; }
	sleep 0.1
done
grep -E "warning: kafka.mode|policies:" "$dir/tidsd.log" | sed 's/^/   /'
# The router joins its consumer group in the background; wait for it so
# that the story is not told to an empty room.
i=0
until grep -q "ingress partitions assigned" "$dir/tidsd.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || { cat "$dir/tidsd.log"; echo "the router did not start" >&2; exit 1; }
	sleep 0.1
done

say "registering participants and the leased press"
cd "$dir"
admin() { "$tidsctl" admin --hub "$dir/tidsd.sock" "$@" | sed 's/^/   /'; }
for p in factory.sh1 lessor.wh reg.sh lessor.de; do "$tidsctl" keygen "$p" >/dev/null; done
admin register participant --id factory.sh1 --role factory --jurisdiction CN-SH --key-pub @factory.sh1.pub
admin register participant --id lessor.wh --role lessor --jurisdiction CN-HB --key-pub @lessor.wh.pub \
	--attr security_agreement=true
admin register participant --id reg.sh --role regulator --jurisdiction CN-SH --key-pub @reg.sh.pub
admin register participant --id lessor.de --role lessor --jurisdiction DE --key-pub @lessor.de.pub
admin register asset --id press-7 --lessee factory.sh1 --lessor lessor.wh --site sh-plant-2 --kind press
admin register asset --id cnc-3 --lessee factory.sh1 --lessor lessor.de --site sh-plant-2 --kind cnc

say "participants pin the hub's key (the operator hands out its known-hubs line)"
"$tidsctl" admin --hub "$dir/tidsd.sock" hub-key --address "127.0.0.1:$port" >known_hubs
sed 's/^/   known_hubs: /' known_hubs
# Their known-hubs file: any other key at this address is refused, and
# with --no-tofu so is any hub it does not name.
TIDS_KNOWN_HUBS=$dir/known_hubs
export TIDS_KNOWN_HUBS
hub="--hub 127.0.0.1:$port --no-tofu"
for p in factory.sh1 lessor.wh reg.sh lessor.de; do
	"$tidsctl" ping $hub --key "$p.key" 2>&1 | sed 's/^/   /'
done

say "recipients subscribe (their purposes stand from now on)"
sub() {
	who=$1
	shift
	"$tidsctl" subscribe $hub --key "$who.key" "$@" --idle 5 --receipts "receipts.$who" >"$who.jsonl" \
		2>"$who.err" &
	echo "   $who: $*"
}
sub lessor.wh --purpose billing --purpose maintenance
sub reg.sh --purpose statistics --purpose supervision
sub lessor.de --purpose maintenance
sleep 1

say "factory.sh1 publishes data from press-7 and cnc-3"
now=$(date +%s%3N)
hour_ago=$((now - 3600 * 1000 - 60000))
month_ago=$((now - 45 * 86400 * 1000))
cat >records.jsonl <<JSON
{"owner":"factory.sh1","asset_id":"press-7","category":"run_hours","tier":"general","origin":"CN-SH","fields":[{"name":"hours","value":7.5}]}
{"owner":"factory.sh1","asset_id":"press-7","category":"output_count","tier":"general","origin":"CN-SH","produced_at":$hour_ago,"fields":[{"name":"count","value":120},{"name":"sku","value":"BRK-2231"}]}
{"owner":"factory.sh1","asset_id":"press-7","category":"output_count","tier":"general","origin":"CN-SH","produced_at":$((hour_ago + 1000)),"fields":[{"name":"count","value":80},{"name":"sku","value":"BRK-2240"}]}
{"owner":"factory.sh1","asset_id":"press-7","category":"telemetry","tier":"important","origin":"CN-SH","personal":true,"individuals":1,"fields":[{"name":"spindle_load","value":0.82},{"name":"operator_id","value":"op-117","labels":["personal"]}]}
{"owner":"factory.sh1","asset_id":"press-7","category":"recipe","tier":"important","origin":"CN-SH","fields":[{"name":"temperature_c","value":182},{"name":"dwell_s","value":14}]}
{"owner":"factory.sh1","asset_id":"press-7","category":"energy","tier":"general","origin":"CN-SH","produced_at":$month_ago,"fields":[{"name":"kwh","value":410.5}]}
{"owner":"factory.sh1","asset_id":"press-7","category":"energy","tier":"general","origin":"CN-SH","produced_at":$((month_ago + 3600000)),"fields":[{"name":"kwh","value":388.0}]}
{"owner":"factory.sh1","asset_id":"cnc-3","category":"telemetry","tier":"core","origin":"CN-SH","fields":[{"name":"axis_error_um","value":3}]}
JSON
"$tidsctl" publish $hub --key factory.sh1.key --receipts receipts.factory.sh1 <records.jsonl | sed 's/^/   /'

say "what arrived (waiting for the subscribers to go idle)"
wait_subs() { while pgrep -f "tidsctl subscribe $hub" >/dev/null; do sleep 0.2; done; }
wait_subs
python3 "$root/packaging/demo/show.py" lessor.wh reg.sh lessor.de

if "$tidsctl" audit --help >/dev/null 2>&1 && [ -f "$dir/state/ledger.db" ]; then
	say "the audit ledger: every decision, including the denials"
	"$tidsctl" audit query --ledger "$dir/state/ledger.db" 2>/dev/null | sed 's/^/   /' || true
	say "the ledger against the receipts the participants kept (the key: their pin)"
	# The indexer signs and indexes within a second or two; wait for it.
	i=0
	until "$tidsctl" audit verify --ledger "$dir/state/ledger.db" --strict \
		--receipts receipts.factory.sh1 --receipts receipts.lessor.wh --receipts receipts.reg.sh \
		>verify.out 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || break
		sleep 0.2
	done
	grep -E "receipts:|^OK|FAILED" verify.out | sed 's/^/   /'
fi
say "act 2: the national network. A second hub, hub.wh (Wuhan, CN-HB), with its own (embedded) Kafka"
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/wh"
cat > "$dir/wh/tidsd.conf" <<CONF
hub.id = hub.wh
hub.jurisdiction = CN-HB
hub.key = $dir/wh/hub.key
state.dir = $dir/wh/state
policy.dir = $root/policy/default
listen.tcp = 127.0.0.1:$port2
listen.unix = $dir/wh/tidsd.sock
metrics.listen = ""
kafka.mode = embedded
audit.checkpoint_interval = 1s
CONF
"$tidsd" -c "$dir/wh/tidsd.conf" >"$dir/wh/tidsd.log" 2>&1 &
pid2=$!
i=0
until grep -q "ingress partitions assigned" "$dir/wh/tidsd.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || { cat "$dir/wh/tidsd.log"; echo "hub.wh did not start" >&2; exit 1; }
	sleep 0.1
done
# Each hub's public key, as it logs it at start: the operators exchange them.
pubkey() { sed -n 's/.*, public key \([A-Za-z0-9+/=]*\).*/\1/p' "$1" | head -1; }
pubkey "$dir/tidsd.log" >hub.sh.pub
pubkey "$dir/wh/tidsd.log" >hub.wh.pub
admin2() { "$tidsctl" admin --hub "$dir/wh/tidsd.sock" "$@" | sed 's/^/   /'; }
"$tidsctl" keygen lessor.hb >/dev/null
admin2 register participant --id lessor.hb --role lessor --jurisdiction CN-HB --key-pub @lessor.hb.pub \
	--attr security_agreement=true
say "the two hubs register each other as peers (address, key, jurisdiction) and link over Noise"
admin register peer --id hub.wh --address "127.0.0.1:$port2" --key-pub @hub.wh.pub --jurisdiction CN-HB
admin2 register peer --id hub.sh --address "127.0.0.1:$port" --key-pub @hub.sh.pub --jurisdiction CN-SH
hub2="--hub 127.0.0.1:$port2"
"$tidsctl" subscribe $hub2 --key lessor.hb.key --purpose billing --idle 1 >/dev/null 2>&1 || true
echo "   lessor.hb subscribes at hub.wh (billing); hub.wh's signed directory tells hub.sh"
i=0
until grep -q "directory of hub.wh, version .*: 1 participants, 1 with standing purposes" "$dir/tidsd.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "hub.sh never learned hub.wh's directory" >&2; exit 1; }
	sleep 0.1
done
admin register asset --id press-9 --lessee factory.sh1 --lessor lessor.hb@hub.wh --site sh-plant-2 --kind press
"$tidsctl" peers --hub "$dir/tidsd.sock" | sed 's/^/   /'

say "factory.sh1 publishes run hours of press-9 at hub.sh; lessor.hb receives them at hub.wh"
echo '{"owner":"factory.sh1","asset_id":"press-9","category":"run_hours","tier":"general","origin":"CN-SH","fields":[{"name":"hours","value":6.5}]}' |
	"$tidsctl" publish $hub --key factory.sh1.key | sed 's/^/   /'
"$tidsctl" subscribe $hub2 --key lessor.hb.key --purpose billing --count 1 --idle 30 \
	--publisher-key factory.sh1=@factory.sh1.pub >lessor.hb.jsonl 2>lessor.hb.err || true
python3 "$root/packaging/demo/show.py" lessor.hb
python3 - lessor.hb.jsonl <<'PY'
import json, sys
for l in open(sys.argv[1]):
    p = json.loads(l).get("provenance")
    if p:
        print("     provenance: published at %s by %s, %d hop(s), export entry %s; factory's signature verified: %s"
              % (p["hub"], p["publisher"], p["hops"], p["export_entry"], p.get("verified")))
PY

say "both ledgers: hub.sh audits the export (naming hub.wh), hub.wh the import (naming hub.sh's entry)"
sleep 2
ledgers() {
	python3 - "$@" <<'PY'
import json, subprocess, sys
tidsctl = sys.argv[1]
for name, path in (("hub.sh", sys.argv[2]), ("hub.wh", sys.argv[3])):
    out = subprocess.run([tidsctl, "audit", "query", "--ledger", path, "--recipient", "lessor.hb",
                          "--format", "jsonl"], capture_output=True, text=True).stdout
    for l in out.splitlines():
        e = json.loads(l)
        if not e.get("peer_hub"):
            continue
        way = ("imported from %s, export entry %s" % (e["peer_hub"], e["peer_entry"]) if e.get("peer_entry")
               else "exported to %s" % e["peer_hub"])
        print("   %s entry %d:%d  %-9s %-10s %-9s -> %-10s %s; rules %s" % (
            name, e["partition"], e["seq"], e["decision"], e["category"], e["owner"], e["recipient"], way,
            ",".join(e["rule_ids"])))
PY
}
ledgers "$tidsctl" "$dir/state/ledger.db" "$dir/wh/state/ledger.db"

say "hub.sh's own counters (http://127.0.0.1:$metrics_port/metrics)"
python3 - "$metrics_port" <<'PY' | sed 's/^/   /'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
for line in text.splitlines():
    if line.startswith(("tids_records_in_total", "tids_records_routed_total", "tids_records_out_total",
                        "tids_decisions_total", "tids_denials_total")):
        print(line)
PY

say "both tidsd stop (they sign the heads of their audit chains), and their embedded Kafka with them"
kill "$pid2"
wait "$pid2" || { cat "$dir/wh/tidsd.log"; echo "hub.wh did not stop cleanly" >&2; exit 1; }
pid2=
kill "$pid"
wait "$pid" || { cat "$dir/tidsd.log"; echo "hub.sh did not stop cleanly" >&2; exit 1; }
pid=

say "an auditor verifies hub.sh's ledger with the hub's public key"
"$tidsctl" audit verify --ledger "$dir/state/ledger.db" --hub-key @hub.pub --strict | sed 's/^/   /'

say "and proves what happened to one record: the run hours lessor.wh received"
record=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    rec = d.get("record", d)
    if rec.get("category") == "run_hours":
        print(d.get("source_record_id") or rec["record_id"])
        break
' lessor.wh.jsonl)
[ -n "$record" ] || { echo "lessor.wh received no run hours" >&2; exit 1; }
"$tidsctl" audit proof --ledger "$dir/state/ledger.db" -o proof.jsonl "$record"
echo "   proof.jsonl: record $record, $(wc -l <proof.jsonl) lines"
"$tidsctl" audit check-proof --hub-key @hub.pub --publisher-key @factory.sh1.pub proof.jsonl | sed 's/^/   /'

say "the lessor's statement for press-7: its run hours and output counts, signed by hub.sh, with a proof per line"
# What lessor.wh received of press-7 since the output counts were made
# (their window starts on the hour before), checked offline against the
# ledger (the stopped hub signed its last checkpoints). The files stay
# after the demo, beside the build.
out=$O/demo
mkdir -p "$out"
since=$((hour_ago - 3600 * 1000))
to=$(($(date +%s) * 1000 + 1000))
"$tidsctl" audit statement --ledger "$dir/state/ledger.db" --lessor lessor.wh --asset press-7 \
	--since "$since" --until "$to" --key "$dir/hub.key" -o "$out/statement.press-7.jsonl" 2>&1 | sed 's/^/   /'
"$tidsctl" audit check-statement --hub-key @hub.pub --ledger "$dir/state/ledger.db" \
	--publisher-key @factory.sh1.pub "$out/statement.press-7.jsonl" >check.out 2>&1 ||
	{ sed 's/^/   /' check.out; echo "the statement does not check" >&2; exit 1; }
sed 's/^/   /' check.out
echo "   statement: $out/statement.press-7.jsonl"

say "the evaluation report of hub.sh: one HTML file, charts inline"
"$tidsctl" audit report --ledger "$dir/state/ledger.db" --since "$((now - 86400 * 1000))" --until "$to" \
	--hub-key @hub.pub --html --output "$out/report.html" --title "tids demo: hub.sh" 2>&1 | sed 's/^/   /'
[ -s "$out/report.html" ] || { echo "no report" >&2; exit 1; }
echo "   report: $out/report.html"

say "done"
