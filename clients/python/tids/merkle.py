"""The batch Merkle tree: RFC 6962's shape over BLAKE2b-256 (32-byte
digests, no key). leaf = H(0x00 || record bytes), node = H(0x01 || left ||
right); a level's unpaired last node moves up unchanged. Paths and their
check are RFC 9162 section 2.1.3."""
import hashlib
from typing import List, Sequence

HASH_BYTES = 32


def _h(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=HASH_BYTES).digest()


def leaf_hash(data: bytes) -> bytes:
    return _h(b"\x00" + bytes(data))


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def _levels(leaves: Sequence[bytes]) -> List[List[bytes]]:
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [leaf_hash(x) for x in leaves]
    out = [level]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
        out.append(level)
    return out


def root(leaves: Sequence[bytes]) -> bytes:
    """The root over the exact serialized records of a batch."""
    return _levels(leaves)[-1][0]


def path(leaves: Sequence[bytes], index: int) -> List[bytes]:
    """The audit path of leaf `index`: sibling hashes from the leaf up
    (levels where the node has no sibling contribute nothing)."""
    out = []
    for level in _levels(leaves)[:-1]:
        sib = index ^ 1
        if sib < len(level):
            out.append(level[sib])
        index //= 2
    return out


def verify_path(leaf: bytes, index: int, size: int, audit_path: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does the leaf hash at index of a tree of
    size leaves lead to expected_root along audit_path?"""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
