#!/usr/bin/env python3
"""Prints what each demo recipient received (its subscribe output, JSON
lines) as a short table: purpose, decision, category, fields, what was
removed and which rules decided."""
import json
import sys


def value(v):
    if isinstance(v, dict):
        return next(iter(v.values()))
    return v


for who in sys.argv[1:]:
    try:
        lines = [json.loads(l) for l in open(who + ".jsonl") if l.strip()]
    except OSError:
        lines = []
    print("   %s received %d deliveries" % (who, len(lines)))
    for d in lines:
        r = d["record"]
        fields = ", ".join("%s=%s" % (f["name"], value(f["value"])) for f in r.get("fields", []))
        extra = []
        ob = d.get("obligations", {})
        if ob.get("redacted"):
            extra.append("removed " + ",".join(ob["redacted"]))
        if ob.get("aggregate"):
            a = ob["aggregate"]
            extra.append("%s of %s per %dh" % (a["function"], a["field"], a["window_ms"] // 3600000))
        print("     %-11s %-9s %-12s %-8s %s%s" % (
            d["purpose"], d["decision"], r["category"], r["tier"], fields,
            ("   [" + "; ".join(extra) + "]") if extra else ""))
    err = open(who + ".err").read().strip() if True else ""
    if err:
        print("     (%s)" % err)
