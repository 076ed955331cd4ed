#!/usr/bin/env python3
"""Receive deliveries for some purposes and print them; each is acked when
the next is taken, and the last when the stream is closed.

    subscribe.py --hub 127.0.0.1:7400 --key lessor.key --hub-key @hub.pub --purpose billing
"""
import argparse

import tids
from google.protobuf import json_format


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--hub-key", required=True, help="base64 or @hub.pub")
    ap.add_argument("--purpose", action="append", required=True)
    ap.add_argument("--idle", type=float, default=None, help="stop after this many seconds without a delivery")
    args = ap.parse_args()

    with tids.Client(args.hub, args.key, args.hub_key) as c:
        with c.subscribe(args.purpose, idle=args.idle) as deliveries:
            for d in deliveries:
                print(json_format.MessageToJson(d, indent=None))


if __name__ == "__main__":
    main()
