#!/usr/bin/env python3
"""A tids participant written without libtids: Python's noiseprotocol for
Noise_XX_25519_ChaChaPoly_BLAKE2b, classes that protoc generated from proto/,
and the key conversion, Merkle tree and batch signature rebuilt here from
their definitions. It connects to a hub, checks the hub's key, is welcomed,
pings, publishes a signed batch and checks the PublishAck; a batch with a
bad signature must be refused. With --grant-to it also grants, as the owner,
a Grant serialized here and signed over exactly those bytes (SignedGrant),
and checks that the same grant issued to another hub is refused.
tests/integration/itest_interop.c runs it.

Prints one line per step and "interop OK" at the end; exits 1 on any
mismatch, with the reason on stderr.
"""
import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from noise.connection import Keypair, NoiseConnection

PROTOCOL = b"Noise_XX_25519_ChaChaPoly_BLAKE2b"
PROLOGUE = b"tids.v1"
RAW = serialization.Encoding.Raw
P = 2**255 - 19

# tids.v1.Code
OK = 0
PERMISSION_DENIED = 7
UNAUTHENTICATED = 16


def fail(why):
    print("interop FAILED: " + why, file=sys.stderr)
    sys.exit(1)


# ---- keys: libsodium's Ed25519 -> X25519 conversions ----------------------

def ed25519_seed_to_x25519(seed):
    """crypto_sign_ed25519_sk_to_curve25519: SHA-512 of the seed, first
    half, clamped."""
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def ed25519_pk_to_x25519(pk):
    """crypto_sign_ed25519_pk_to_curve25519: the Montgomery u of the Edwards
    point, u = (1 + y) / (1 - y) mod p."""
    y = int.from_bytes(pk, "little") & ((1 << 255) - 1)
    if y >= P or y == 1:
        fail("not an Ed25519 public key: " + pk.hex())
    u = (1 + y) * pow(1 - y, P - 2, P) % P
    return u.to_bytes(32, "little")


def read_seed(path):
    """A tids key file: one base64 line holding the 32-byte Ed25519 seed."""
    with open(path, "r", encoding="ascii") as f:
        seed = base64.b64decode(f.read().strip(), validate=True)
    if len(seed) != 32:
        fail("%s: expected a 32-byte seed, got %d bytes" % (path, len(seed)))
    return seed


# ---- batches: RFC 6962 Merkle tree over BLAKE2b-256, signature -----------

def b2b256(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def merkle_root(leaves):
    """RFC 6962 section 2.1, recursively: split at the largest power of two
    below n. Leaves are H(0x00 || data), nodes H(0x01 || left || right)."""
    if len(leaves) == 1:
        return b2b256(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return b2b256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))


def batch_message(publisher, sequence, root):
    return b"tids.v1.batch" + publisher.encode() + b"\x00" + struct.pack(">Q", sequence) + root


# ---- the connection ------------------------------------------------------

class Conn:
    """Noise messages with uint16be lengths; inside, a plaintext stream of
    uint32be-length frames."""

    def __init__(self, sock, noise):
        self.sock = sock
        self.noise = noise
        self.raw = b""
        self.plain = b""

    def recv_exact(self, n):
        while len(self.raw) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("the hub closed the connection")
            self.raw += chunk
        out, self.raw = self.raw[:n], self.raw[n:]
        return out

    def read_message(self):
        (n,) = struct.unpack(">H", self.recv_exact(2))
        return self.recv_exact(n)

    def send_message(self, msg):
        self.sock.sendall(struct.pack(">H", len(msg)) + bytes(msg))

    def send_frame(self, data):
        stream = struct.pack(">I", len(data)) + data
        # Each Noise transport message carries at most 65535 - 16 bytes.
        for i in range(0, len(stream), 65519):
            self.send_message(self.noise.encrypt(stream[i:i + 65519]))

    def read_frame(self):
        while True:
            if len(self.plain) >= 4:
                (n,) = struct.unpack(">I", self.plain[:4])
                if len(self.plain) >= 4 + n:
                    out, self.plain = self.plain[4:4 + n], self.plain[4 + n:]
                    return out
            self.plain += bytes(self.noise.decrypt(self.read_message()))


def handshake(sock, x_sk, hub_pk):
    noise = NoiseConnection.from_name(PROTOCOL)
    noise.set_as_initiator()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, x_sk)
    noise.set_prologue(PROLOGUE)
    noise.start_handshake()
    conn = Conn(sock, noise)
    conn.send_message(noise.write_message())
    hub_id = bytes(noise.read_message(conn.read_message())).decode()
    # Refuse a hub that is not the one we were told of before we say who we
    # are (message 3 carries our static key).
    rs = noise.noise_protocol.handshake_state.rs.public_bytes
    if rs != ed25519_pk_to_x25519(hub_pk):
        fail("the hub's Noise key is not the X25519 form of its Ed25519 key")
    conn.send_message(noise.write_message())
    if not noise.handshake_finished:
        fail("handshake not finished after message 3")
    return conn, hub_id


def call(conn, pb, call_id, method, body):
    frame = pb.rpc.Frame(call_id=call_id, kind=pb.rpc.FRAME_REQUEST, method=method, body=body)
    conn.send_frame(frame.SerializeToString())
    while True:
        got = pb.rpc.Frame()
        got.ParseFromString(conn.read_frame())
        if got.call_id in (call_id, 0):
            if got.kind != pb.rpc.FRAME_RESPONSE:
                fail("call %d: expected a RESPONSE, got kind %d" % (call_id, got.kind))
            return got


def make_records(pb, owner, n):
    out = []
    for i in range(n):
        rec = pb.record.Record(
            record_id=os.urandom(16), owner=owner, category="telemetry",
            tier=pb.record.TIER_GENERAL, origin="CN-SH",
            produced_at_ms=int(time.time() * 1000), schema="interop.python/1")
        rec.fields.add(name="rpm", value=pb.record.Value(real=1200.5 + i))
        rec.fields.add(name="line", value=pb.record.Value(text="python"))
        rec.fields.add(name="count", value=pb.record.Value(uint=i))
        out.append(rec)
    return out


def publish(conn, pb, call_id, sk, publisher, sequence, records, corrupt=False):
    leaves = [r.SerializeToString() for r in records]
    root = merkle_root(leaves)
    sig = sk.sign(batch_message(publisher, sequence, root))
    if corrupt:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    batch = pb.record.PublishBatch(publisher=publisher, sequence=sequence, records=leaves,
                                   merkle_root=root, signature=sig)
    return call(conn, pb, call_id, "tids.v1.Exchange/Publish", batch.SerializeToString())


def grant(conn, pb, call_id, sk, owner, grantee, hub_id, grant_id):
    """A Grant as Python serializes it: no obligations field at all (the
    protobuf-c encoder would write an empty one), signed over exactly these
    bytes, sent with them in a SignedGrant."""
    now = int(time.time() * 1000)
    g = pb.consent.Grant(grant_id=grant_id, owner=owner, grantee=grantee, categories=["recipe"],
                         purposes=["maintenance"], not_before_ms=now - 1000,
                         not_after_ms=now + 86400 * 1000, hub_id=hub_id)
    data = g.SerializeToString()
    signed = pb.consent.SignedGrant(grant=data, signature=sk.sign(b"tids.v1.grant" + data))
    return call(conn, pb, call_id, "tids.v1.Exchange/Grant", signed.SerializeToString())


class Protos:
    def __init__(self, pb_dir):
        sys.path.insert(0, pb_dir)
        from tids.v1 import consent_pb2, record_pb2, rpc_pb2, status_pb2
        self.consent, self.record, self.rpc, self.status = consent_pb2, record_pb2, rpc_pb2, status_pb2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", required=True, help="host:port of the hub's participant API")
    ap.add_argument("--hub-key", required=True, help="the hub's Ed25519 public key, base64")
    ap.add_argument("--key", required=True, help="our tids key file (base64 Ed25519 seed)")
    ap.add_argument("--id", required=True, help="our registered participant id")
    ap.add_argument("--pb-dir", required=True, help="where protoc --python_out put tids/v1/*_pb2.py")
    ap.add_argument("--sequence", type=int, default=1, help="first batch sequence to use")
    ap.add_argument("--records", type=int, default=5, help="records per batch")
    ap.add_argument("--grant-to", help="also grant this participant recipes for maintenance (grant g-py)")
    args = ap.parse_args()
    pb = Protos(args.pb_dir)

    seed = read_seed(args.key)
    sk = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    pk = sk.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    x_sk = ed25519_seed_to_x25519(seed)
    x_pk = x25519.X25519PrivateKey.from_private_bytes(x_sk).public_key().public_bytes(
        RAW, serialization.PublicFormat.Raw)
    # Both conversions are libsodium's only if they agree with each other.
    if x_pk != ed25519_pk_to_x25519(pk):
        fail("the converted secret and public keys do not match")
    hub_pk = base64.b64decode(args.hub_key, validate=True)

    host, port = args.hub.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        conn, hub_id = handshake(sock, x_sk, hub_pk)
        welcome = pb.status.Status()
        welcome.ParseFromString(conn.read_frame())
        if welcome.code != OK:
            fail("refused by %s: %s" % (hub_id, welcome.message))
        print("welcome: hub=%s message=%s" % (hub_id, welcome.message))

        nonce = os.urandom(16)
        got = call(conn, pb, 1, "tids.v1.Exchange/Ping", pb.rpc.PingRequest(nonce=nonce).SerializeToString())
        if got.status.code != OK:
            fail("ping: %d %s" % (got.status.code, got.status.message))
        reply = pb.rpc.PingReply()
        reply.ParseFromString(got.body)
        if reply.nonce != nonce or reply.participant != args.id or reply.hub_id != hub_id:
            fail("ping reply does not match: %s" % reply)
        print("ping: participant=%s hub=%s" % (reply.participant, reply.hub_id))

        seq = args.sequence
        records = make_records(pb, args.id, args.records)
        got = publish(conn, pb, 2, sk, args.id, seq, records)
        if got.status.code != OK:
            fail("publish %d: %d %s" % (seq, got.status.code, got.status.message))
        ack = pb.record.PublishAck()
        ack.ParseFromString(got.body)
        print("publish: sequence=%d accepted=%d errors=%d" % (ack.sequence, ack.accepted, len(ack.errors)))
        if ack.sequence != seq or ack.accepted != len(records) or ack.errors:
            fail("publish ack does not match: %s" % ack)
        for r in records:
            print("record_id: " + r.record_id.hex())

        # The hub checks what Python signs: one flipped bit and it refuses.
        got = publish(conn, pb, 3, sk, args.id, seq + 1, make_records(pb, args.id, 1), corrupt=True)
        print("bad-signature: code=%d message=%s" % (got.status.code, got.status.message))
        if got.status.code != UNAUTHENTICATED:
            fail("a batch with a bad signature was not refused")

        if args.grant_to:
            got = grant(conn, pb, 4, sk, args.id, args.grant_to, reply.hub_id, "g-py")
            print("grant: code=%d message=%s" % (got.status.code, got.status.message))
            if got.status.code != OK:
                fail("the grant Python signed over its own bytes was refused")
            # Signed for another hub: no replay here.
            got = grant(conn, pb, 5, sk, args.id, args.grant_to, "hub.elsewhere", "g-py-elsewhere")
            print("grant-other-hub: code=%d message=%s" % (got.status.code, got.status.message))
            if got.status.code != PERMISSION_DENIED:
                fail("a grant issued to another hub was not refused")
    print("interop OK")


if __name__ == "__main__":
    main()
