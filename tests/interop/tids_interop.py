#!/usr/bin/env python3
"""A tids participant in Python: the official client (clients/python,
package tids, installed with pip into the test venv) against the real tidsd.
tests/integration/itest_interop.c runs it in steps:

  (default)     connect with the hub's key pinned, ping, publish a signed
                batch (checks the PublishAck), have a batch with a bad
                signature refused; with --grant-to also grant (a Grant this
                side serialized and signed over exactly those bytes), have a
                grant issued to another hub refused, grant and revoke a
                second one, and have a revoke of an unknown grant refused
  --subscribe N receive N deliveries for --purpose, acking each, and print
                them; the stream is closed (acked) before exiting
  --approve-exporter X --approve-recipient Y
                as a regulator: approve an export, refuse a second approval
                under the same id, revoke it

Prints one line per step and "interop OK" at the end; exits 1 on any
mismatch, with the reason on stderr.
"""
import argparse
import sys
import time

import tids
from tids import Code, HubError
from tids.v1 import record_pb2


def fail(why):
    print("interop FAILED: " + why, file=sys.stderr)
    sys.exit(1)


def expect_refused(code, what, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except HubError as e:
        print("%s: code=%d message=%s" % (what, e.code, e.message))
        if e.code != code:
            fail("%s: expected code %d, got %d (%s)" % (what, code, e.code, e.message))
        return
    fail("%s was not refused" % what)


def make_records(owner, n):
    return [tids.record(owner=owner, category="telemetry", tier="general", origin="CN-SH",
                        schema="interop.python/1",
                        fields={"rpm": 1200.5 + i, "line": "python", "count": tids.Uint(i)})
            for i in range(n)]


def publish_steps(c, args):
    seq = args.sequence
    records = make_records(c.participant, args.records)
    ack = c.publish(records, sequence=seq)
    print("publish: sequence=%d accepted=%d errors=%d" % (ack.sequence, ack.accepted, len(ack.errors)))
    if ack.sequence != seq or ack.accepted != len(records) or ack.errors:
        fail("publish ack does not match: %s" % ack)
    for r in records:
        print("record_id: " + r.record_id.hex())

    # The hub checks what Python signs: one flipped bit and it refuses.
    bad = c.build_batch(make_records(c.participant, 1), seq + 1)
    bad.signature = bytes([bad.signature[0] ^ 1]) + bad.signature[1:]
    expect_refused(Code.UNAUTHENTICATED, "bad-signature", c.publish_batch, bad)

    if args.grant_to:
        until = int(time.time() * 1000) + 86400 * 1000
        # A Grant as Python serializes it (no obligations field at all,
        # where protobuf-c would write an empty one), signed over exactly
        # these bytes: the hub verifies those bytes, not a re-encoding.
        gid = c.grant("g-py", args.grant_to, ["recipe"], ["maintenance"], not_after_ms=until)
        print("grant: code=0 id=%s" % gid)
        # Signed for another hub: no replay here.
        expect_refused(Code.PERMISSION_DENIED, "grant-other-hub", c.grant, "g-py-elsewhere", args.grant_to,
                       ["recipe"], ["maintenance"], not_after_ms=until, hub_id="hub.elsewhere")
        c.grant("g-py-2", args.grant_to, ["cycles"], ["maintenance"], not_after_ms=until)
        print("revoke: id=%s" % c.revoke("g-py-2"))
        expect_refused(Code.NOT_FOUND, "revoke-again", c.revoke, "g-py-2")


def subscribe_steps(c, args):
    got = 0
    with c.subscribe([args.purpose], window=10) as sub:
        for d in sub:
            print("delivery: seq=%d record_id=%s owner=%s decision=%d purpose=%s"
                  % (d.delivery_seq, d.record.record_id.hex(), d.record.owner, d.decision, d.purpose))
            if d.decision not in (record_pb2.DECISION_ALLOW, record_pb2.DECISION_TRANSFORM):
                fail("a delivery with decision %d" % d.decision)
            got += 1
            if got == args.subscribe:
                break
    if got != args.subscribe:
        fail("%d deliveries, expected %d" % (got, args.subscribe))
    print("subscribe: received=%d acked-to=%d" % (got, sub.last_seq))


def approve_steps(c, args):
    now = int(time.time() * 1000)
    kw = dict(categories=["quality"], tiers=[record_pb2.TIER_IMPORTANT], purposes=["export"],
              from_jurisdiction="CN-SH", to_jurisdiction="SG", valid_until_ms=now + 86400 * 1000)
    aid = c.approve("a-py", "export", args.approve_exporter, args.approve_recipient, **kw)
    print("approve: id=%s" % aid)
    expect_refused(Code.ALREADY_EXISTS, "approve-again", c.approve, "a-py", "export", args.approve_exporter,
                   args.approve_recipient, **kw)
    print("revoke-approval: id=%s" % c.revoke_approval("a-py"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", required=True, help="host:port of the hub's participant API")
    ap.add_argument("--hub-key", required=True, help="the hub's Ed25519 public key, base64")
    ap.add_argument("--key", required=True, help="our tids key file (base64 Ed25519 seed)")
    ap.add_argument("--id", required=True, help="our registered participant id")
    ap.add_argument("--sequence", type=int, default=1, help="first batch sequence to use")
    ap.add_argument("--records", type=int, default=5, help="records per batch")
    ap.add_argument("--grant-to", help="also grant this participant recipes for maintenance (grant g-py)")
    ap.add_argument("--subscribe", type=int, help="only receive this many deliveries")
    ap.add_argument("--purpose", default="maintenance")
    ap.add_argument("--approve-exporter")
    ap.add_argument("--approve-recipient")
    args = ap.parse_args()

    try:
        with tids.Client(args.hub, args.key, args.hub_key, timeout=60) as c:
            print("welcome: hub=%s message=%s" % (c.hub_id, c.welcome))
            reply = c.ping()
            print("ping: participant=%s hub=%s" % (reply.participant, reply.hub_id))
            if reply.participant != args.id:
                fail("the hub says we are %s, not %s" % (reply.participant, args.id))
            if args.subscribe:
                subscribe_steps(c, args)
            elif args.approve_exporter:
                approve_steps(c, args)
            else:
                publish_steps(c, args)
    except tids.TidsError as e:
        fail(str(e))
    print("interop OK")


if __name__ == "__main__":
    main()
