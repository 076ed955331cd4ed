#!/usr/bin/env python3
"""Grant (and optionally revoke) consent as the data owner: the Grant is
serialized here, signed over exactly those bytes, and names the connected
hub, which refuses it anywhere else.

    grant.py --hub 127.0.0.1:7400 --key factory.key --hub-key @hub.pub \\
        --id g-billing-1 --grantee lessor.leaseco --category run_hours --purpose billing --days 30
"""
import argparse
import time

import tids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--hub-key", required=True, help="base64 or @hub.pub")
    ap.add_argument("--id", required=True)
    ap.add_argument("--grantee", required=True)
    ap.add_argument("--category", action="append", required=True)
    ap.add_argument("--purpose", action="append", required=True)
    ap.add_argument("--asset", action="append", default=[])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--revoke", action="store_true", help="revoke the grant again right away")
    args = ap.parse_args()

    with tids.Client(args.hub, args.key, args.hub_key) as c:
        until = int(time.time() * 1000) + args.days * 86400 * 1000
        try:
            print("granted", c.grant(args.id, args.grantee, args.category, args.purpose, assets=args.asset,
                                     not_after_ms=until))
            if args.revoke:
                print("revoked", c.revoke(args.id))
        except tids.HubError as e:
            raise SystemExit("refused (%s): %s" % (e.code.name if isinstance(e.code, tids.Code) else e.code,
                                                  e.message))


if __name__ == "__main__":
    main()
