"""What tids signs, and under which domain. Every signature is Ed25519 over
a fixed domain string followed by the message; no domain is a prefix of
another, so a signature made for one purpose never verifies for another."""
import struct

from . import merkle
from .keys import Identity

DOMAIN_BATCH = b"tids.v1.batch"
DOMAIN_GRANT = b"tids.v1.grant"
DOMAIN_APPROVAL = b"tids.v1.approval"
DOMAIN_CHECKPOINT = b"tids.v1.checkpoint"
DOMAIN_STATE = b"tids.v1.state"
DOMAIN_BUNDLE = b"tids.v1.bundle"

ID_MAX = 128


def batch_message(publisher: str, sequence: int, root: bytes) -> bytes:
    """What a batch signature covers after its domain: publisher (its UTF-8
    bytes) || 0x00 || uint64 big-endian sequence || the 32-byte Merkle root."""
    p = publisher.encode("utf-8")
    if not 0 < len(p) <= ID_MAX or b"\x00" in p:
        raise ValueError("publisher id must be 1..%d bytes without NUL" % ID_MAX)
    if len(root) != merkle.HASH_BYTES:
        raise ValueError("a Merkle root has %d bytes" % merkle.HASH_BYTES)
    return p + b"\x00" + struct.pack(">Q", sequence) + bytes(root)


def sign_batch(identity: Identity, publisher: str, sequence: int, root: bytes) -> bytes:
    return identity.sign(DOMAIN_BATCH, batch_message(publisher, sequence, root))


def sign_grant(identity: Identity, grant_bytes: bytes) -> bytes:
    """The owner's signature over the serialized Grant exactly as sent."""
    return identity.sign(DOMAIN_GRANT, grant_bytes)


def sign_approval(identity: Identity, approval_bytes: bytes) -> bytes:
    """The regulator's signature over the serialized Approval exactly as sent."""
    return identity.sign(DOMAIN_APPROVAL, approval_bytes)
