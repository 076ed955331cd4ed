"""The Python client against the protocol's known answers
(tests/vectors/protocol.json, made by libtids): keys, a recorded handshake
and its first transport messages, a signed batch with its Merkle paths, a
signed grant and approval. Run with the installed package:

    python -m unittest discover -s clients/python/tests -p 'test_vectors.py'

TIDS_VECTORS names the vector file (default: the repository's).
"""
import base64
import os
import stat
import tempfile
import unittest

import warnings

import tids
from tids import merkle, signing
from tids.channel import Channel
from tids.v1 import consent_pb2, record_pb2, rpc_pb2, status_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.environ.get("TIDS_VECTORS", os.path.join(HERE, "..", "..", "..", "tests", "vectors", "protocol.json"))


def load():
    import json

    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


V = load()
# Fixed ephemerals are what known answers need; noiseprotocol warns of them.
warnings.filterwarnings("ignore", "One of ephemeral keypairs")
H = bytes.fromhex
IDS = {i["name"]: i for i in V["identities"]}


class ScriptedHub:
    """A transport that answers with the recorded hub messages and keeps
    what the client sends."""

    def __init__(self, replies):
        self.incoming = b"".join(replies)
        self.sent = b""

    def sendall(self, data):
        self.sent += bytes(data)

    def recv(self, n):
        # One byte at a time: the client must reassemble messages itself.
        out, self.incoming = self.incoming[:1], self.incoming[1:]
        return out


class Keys(unittest.TestCase):
    def test_identities(self):
        for v in V["identities"]:
            ident = tids.Identity(H(v["seed"]))
            self.assertEqual(ident.public_key.hex(), v["ed25519_public"], v["name"])
            self.assertEqual(ident.public_key_base64, v["ed25519_public_base64"])
            self.assertEqual(ident.dh_private.hex(), v["x25519_private"], v["name"])
            self.assertEqual(ident.dh_public.hex(), v["x25519_public"], v["name"])
            self.assertEqual(tids.ed25519_pk_to_x25519(ident.public_key).hex(), v["x25519_public"])

    def test_key_file(self):
        v = IDS["participant"]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "p.key")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, v["key_file"].encode())
            os.close(fd)
            self.assertEqual(tids.read_secret(path).hex(), v["seed"])
            self.assertEqual(tids.Identity.from_file(path).public_key.hex(), v["ed25519_public"])
            # Written by us, read the same; a key others may read is refused.
            path2 = os.path.join(d, "q.key")
            tids.Identity(H(v["seed"])).write(path2)
            with open(path2) as f:
                self.assertEqual(f.read(), v["key_file"])
            self.assertEqual(stat.S_IMODE(os.stat(path2).st_mode), 0o600)
            os.chmod(path, 0o644)
            with self.assertRaisesRegex(tids.TidsError, "run chmod 600"):
                tids.read_secret(path)

    def test_public_key_forms(self):
        v = IDS["hub"]
        self.assertEqual(tids.public_key(v["ed25519_public_base64"]).hex(), v["ed25519_public"])
        with tempfile.NamedTemporaryFile("w", suffix=".pub", delete=False) as f:
            f.write(v["ed25519_public_base64"] + "\n")
        try:
            self.assertEqual(tids.public_key("@" + f.name).hex(), v["ed25519_public"])
        finally:
            os.unlink(f.name)
        with self.assertRaises(tids.TidsError):
            tids.public_key("not base64!")


class Handshake(unittest.TestCase):
    hs = V["handshake"]

    def connect(self, hub_key):
        t = self.hs["transport"]
        hub = ScriptedHub([H(self.hs["message2"]), H(t[0]["wire"]), H(t[2]["wire"]), H(t[3]["wire"])])
        ch = Channel(hub)
        ident = tids.Identity(H(IDS["participant"]["seed"]))
        hub_id = ch.handshake(ident, hub_key, ephemeral=H(self.hs["initiator_ephemeral_private"]))
        return ch, hub, hub_id

    def test_recorded_handshake(self):
        self.assertEqual(tids.NOISE_PROTOCOL.decode(), self.hs["protocol"])
        self.assertEqual(tids.PROLOGUE.decode(), self.hs["prologue"])
        ch, hub, hub_id = self.connect(H(IDS["hub"]["ed25519_public"]))
        self.assertEqual(hub_id, self.hs["hub_id"])
        self.assertEqual(hub.sent, H(self.hs["message1"]) + H(self.hs["message3"]))
        self.assertEqual(ch.handshake_hash.hex(), self.hs["handshake_hash"])

        t = self.hs["transport"]
        # The welcome is a framed Status.
        welcome = ch.read_frame()
        self.assertEqual(welcome, H(t[0]["frame"]))
        st = status_pb2.Status()
        st.ParseFromString(welcome)
        self.assertEqual((st.code, st.message), (0, "welcome " + IDS["participant"]["id"]))
        # Our Ping request: the same frame bytes and the same wire bytes.
        ping = rpc_pb2.Frame()
        ping.ParseFromString(H(t[1]["frame"]))
        self.assertEqual((ping.call_id, ping.kind, ping.method), (1, rpc_pb2.FRAME_REQUEST, "tids.v1.Exchange/Ping"))
        self.assertEqual(ping.SerializeToString(), H(t[1]["frame"]))
        before = len(hub.sent)
        ch.send_frame(ping.SerializeToString())
        self.assertEqual(hub.sent[before:], H(t[1]["wire"]))
        # The hub's answers decrypt to the recorded frames.
        self.assertEqual(ch.read_frame(), H(t[2]["frame"]))
        reply = rpc_pb2.Frame()
        reply.ParseFromString(H(t[2]["frame"]))
        pr = rpc_pb2.PingReply()
        pr.ParseFromString(reply.body)
        self.assertEqual((pr.hub_id, pr.participant), (self.hs["hub_id"], IDS["participant"]["id"]))
        self.assertEqual(ch.read_frame(), H(t[3]["frame"]))

    def test_other_hub_key_refused_before_message3(self):
        with self.assertRaises(tids.HubKeyMismatch):
            ch, hub, _ = self.connect(H(IDS["regulator"]["ed25519_public"]))
        # Message 3 (our static key) never left.
        t = self.hs["transport"]
        hub = ScriptedHub([H(self.hs["message2"]), H(t[0]["wire"])])
        ch = Channel(hub)
        try:
            ch.handshake(tids.Identity(H(IDS["participant"]["seed"])), H(IDS["regulator"]["ed25519_public"]),
                         ephemeral=H(self.hs["initiator_ephemeral_private"]))
        except tids.HubKeyMismatch:
            pass
        self.assertEqual(hub.sent, H(self.hs["message1"]))

    def test_frame_split_over_messages(self):
        # A frame larger than one Noise message is its length in one
        # message, then its bytes in full-sized ones; read back whole.
        ch, hub, _ = self.connect(H(IDS["hub"]["ed25519_public"]))
        big = bytes(range(256)) * 300
        wire = ch.seal(big)
        self.assertEqual(wire[:2], (4 + 16).to_bytes(2, "big"))
        self.assertEqual(len(wire), 2 + 20 + 2 + 65535 + 2 + (len(big) - 65519) + 16)


class Batch(unittest.TestCase):
    b = V["batch"]

    def test_merkle(self):
        leaves = [H(r["bytes"]) for r in self.b["records"]]
        self.assertEqual(merkle.root(leaves).hex(), self.b["merkle_root"])
        for i, r in enumerate(self.b["records"]):
            self.assertEqual(merkle.leaf_hash(leaves[i]).hex(), r["leaf_hash"])
            self.assertEqual([p.hex() for p in merkle.path(leaves, i)], r["path"])
            self.assertTrue(merkle.verify_path(H(r["leaf_hash"]), i, len(leaves), [H(p) for p in r["path"]],
                                               H(self.b["merkle_root"])))
            self.assertFalse(merkle.verify_path(H(r["leaf_hash"]), (i + 1) % len(leaves), len(leaves),
                                                [H(p) for p in r["path"]], H(self.b["merkle_root"])))

    def test_signature(self):
        ident = tids.Identity(H(IDS["participant"]["seed"]))
        root = H(self.b["merkle_root"])
        msg = signing.batch_message(self.b["publisher"], self.b["sequence"], root)
        self.assertEqual((signing.DOMAIN_BATCH + msg).hex(), self.b["signed_message"])
        self.assertEqual(signing.sign_batch(ident, self.b["publisher"], self.b["sequence"], root).hex(),
                         self.b["signature"])

    def test_records_and_batch_bytes(self):
        # protobuf's Python encoder gives libtids' bytes for these messages.
        for r in self.b["records"]:
            rec = record_pb2.Record()
            rec.ParseFromString(H(r["bytes"]))
            self.assertEqual(rec.owner, self.b["publisher"])
            self.assertEqual(rec.SerializeToString().hex(), r["bytes"])
        pb = record_pb2.PublishBatch()
        pb.ParseFromString(H(self.b["publish_batch"]))
        self.assertEqual(pb.signature.hex(), self.b["signature"])
        self.assertEqual(pb.SerializeToString().hex(), self.b["publish_batch"])


class Consent(unittest.TestCase):
    def check(self, v, domain, msg_cls, signed_cls, field, signer):
        ident = tids.Identity(H(IDS[signer]["seed"]))
        data = H(v[field])
        m = msg_cls()
        m.ParseFromString(data)
        self.assertEqual(m.hub_id, v["hub_id"])
        self.assertEqual((domain + data).hex(), v["signed_message"])
        sig = ident.sign(domain, data)
        self.assertEqual(sig.hex(), v["signature"])
        self.assertTrue(tids.verify(ident.public_key, domain, data, sig))
        # Under the other domain the same bytes do not verify.
        other = signing.DOMAIN_APPROVAL if domain == signing.DOMAIN_GRANT else signing.DOMAIN_GRANT
        self.assertFalse(tids.verify(ident.public_key, other, data, sig))
        self.assertEqual(signed_cls(**{field: data, "signature": sig}).SerializeToString().hex(), v["signed"])
        return m

    def test_grant(self):
        g = self.check(V["grant"], signing.DOMAIN_GRANT, consent_pb2.Grant, consent_pb2.SignedGrant, "grant",
                       "participant")
        self.assertEqual((g.grant_id, g.owner, g.grantee), (V["grant"]["grant_id"], IDS["participant"]["id"],
                                                           V["grant"]["grantee"]))

    def test_approval(self):
        a = self.check(V["approval"], signing.DOMAIN_APPROVAL, consent_pb2.Approval, consent_pb2.SignedApproval,
                       "approval", "regulator")
        self.assertEqual((a.approval_id, a.regulator), (V["approval"]["approval_id"], IDS["regulator"]["id"]))


if __name__ == "__main__":
    unittest.main()
