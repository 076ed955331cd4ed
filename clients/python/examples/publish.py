#!/usr/bin/env python3
"""Publish a few telemetry records as one signed batch.

    publish.py --hub 127.0.0.1:7400 --key factory.key --hub-key @hub.pub --asset press-7
"""
import argparse

import tids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--hub-key", required=True, help="base64 or @hub.pub")
    ap.add_argument("--asset", default="")
    ap.add_argument("--origin", default="CN-SH")
    ap.add_argument("-n", type=int, default=3)
    args = ap.parse_args()

    with tids.Client(args.hub, args.key, args.hub_key) as c:
        me = c.ping().participant
        records = [tids.record(owner=me, category="telemetry", tier="general", origin=args.origin,
                               asset_id=args.asset, schema="press.telemetry/1",
                               fields={"spindle_rpm": 1200.0 + i, "cycles": tids.Uint(i)})
                   for i in range(args.n)]
        ack = c.publish(records)
        print("batch %d: %d accepted" % (ack.sequence, ack.accepted))
        for e in ack.errors:
            print("record %d refused: %s" % (e.index, e.status.message))


if __name__ == "__main__":
    main()
