#!/bin/sh
# The metrics as operators meet them: every metric family tidsd exposes
# (daemon/metrics.c) is documented in tidsd(8), and the Grafana dashboard is
# valid JSON that queries only metrics tidsd exposes.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$root" <<'PY'
import json, re, sys
root = sys.argv[1]
src = open(root + "/daemon/metrics.c").read()
families = set(re.findall(r'"(tids_[a-z_]+)', src))
families = {f for f in families if not f.endswith("_")}
if len(families) < 20:
    sys.exit("check_metrics_docs: found only %d metric families in daemon/metrics.c" % len(families))
man = open(root + "/packaging/man/tidsd.8").read().replace("\\-", "-").replace("\\", "")
missing = sorted(f for f in families if f not in man)
if missing:
    sys.exit("check_metrics_docs: tidsd(8) does not document " + ", ".join(missing))
dash = json.load(open(root + "/packaging/grafana-dashboard.json"))
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("expr", "query", "definition") and isinstance(x, str):
                exprs.append(x)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(dash)
used = set()
for e in exprs:
    for name in re.findall(r"\btids_[a-z_]+", e):
        used.add(re.sub(r"_(bucket|sum|count)$", "", name) if re.sub(r"_(bucket|sum|count)$", "", name) in families else name)
unknown = sorted(used - families)
if unknown:
    sys.exit("check_metrics_docs: the dashboard queries metrics tidsd does not expose: " + ", ".join(unknown))
if not used:
    sys.exit("check_metrics_docs: the dashboard queries nothing")
print("  METRICS  %d metric families documented in tidsd(8); the dashboard queries %d of them" % (len(families), len(used)))
PY
