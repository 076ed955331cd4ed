"""Identities and key files.

A tids identity is one 32-byte seed: its Ed25519 key pair signs batches,
grants and approvals, and the X25519 form of that pair (libsodium's
crypto_sign_ed25519_{sk,pk}_to_curve25519) is the Noise static key, so the
hub authenticates a connection against the Ed25519 key it registered.

A key file (`tidsctl keygen NAME` writes NAME.key) is one line of standard
base64 holding the seed, mode 0600; like libtids, we refuse a key file that
group or others may read or write, that is a symlink or not a regular file.
A public key file (NAME.pub) is one line of base64 of the 32-byte Ed25519
public key.
"""
import base64
import binascii
import os
import stat
from typing import Union

import nacl.bindings
import nacl.signing

from .errors import TidsError

KEY_FILE_MAX = 256


def _b64_32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise TidsError("%s: not base64" % what) from None
    if len(raw) != 32:
        raise TidsError("%s: expected 32 bytes of key, got %d" % (what, len(raw)))
    return raw


def ed25519_pk_to_x25519(pk: bytes) -> bytes:
    """The Noise (X25519) form of an Ed25519 public key; refuses keys that
    are not points of the curve, as the hub does."""
    try:
        return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(pk))
    except Exception:
        raise TidsError("not an Ed25519 public key: %s" % bytes(pk).hex()) from None


class Identity:
    """A participant's (or hub's) key pair, derived from its seed."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise TidsError("an identity seed has 32 bytes, not %d" % len(seed))
        self._signing = nacl.signing.SigningKey(bytes(seed))
        self.public_key: bytes = bytes(self._signing.verify_key)
        _, sk64 = nacl.bindings.crypto_sign_seed_keypair(bytes(seed))  # seed || public
        self.dh_private: bytes = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(sk64)
        self.dh_public: bytes = ed25519_pk_to_x25519(self.public_key)

    @classmethod
    def generate(cls) -> "Identity":
        return cls(os.urandom(32))

    @classmethod
    def from_file(cls, path: str) -> "Identity":
        return cls(read_secret(path))

    @property
    def seed(self) -> bytes:
        return bytes(self._signing)

    @property
    def public_key_base64(self) -> str:
        return base64.b64encode(self.public_key).decode("ascii")

    def sign(self, domain: bytes, message: bytes) -> bytes:
        """Ed25519 over domain || message (64 bytes)."""
        return self._signing.sign(bytes(domain) + bytes(message)).signature

    def write(self, path: str) -> None:
        """Writes the seed as a key file, mode 0600; never overwrites."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, base64.b64encode(self.seed) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)


def verify(public_key: bytes, domain: bytes, message: bytes, signature: bytes) -> bool:
    """Does signature verify as Ed25519 over domain || message?"""
    try:
        nacl.signing.VerifyKey(bytes(public_key)).verify(bytes(domain) + bytes(message), bytes(signature))
        return True
    except Exception:
        return False


def read_secret(path: str) -> bytes:
    """The 32-byte secret of a key file, with libtids' checks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise TidsError("%s: %s" % (path, "is a symlink; refusing it" if e.errno == 40 else e.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TidsError("%s: not a regular file" % path)
        if st.st_mode & 0o077:
            raise TidsError("%s: mode %04o lets others read or change a secret key; run chmod 600 on it"
                            % (path, st.st_mode & 0o7777))
        data = os.read(fd, KEY_FILE_MAX + 1)
    finally:
        os.close(fd)
    if len(data) >= KEY_FILE_MAX:
        raise TidsError("%s: too long for a key file" % path)
    line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("ascii", "replace")
    try:
        return _b64_32(line, path)
    except TidsError:
        raise TidsError("%s: not one base64 line of a 32-byte key" % path) from None


PublicKeyLike = Union[bytes, str]


def public_key(value: PublicKeyLike) -> bytes:
    """A public key given as 32 raw bytes, base64 text, or "@path" of a .pub
    file (as tidsctl's --hub-key takes it)."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise TidsError("a public key has 32 bytes, not %d" % len(value))
        return bytes(value)
    if value.startswith("@"):
        with open(value[1:], "r", encoding="ascii") as f:
            value = f.readline().strip()
    return _b64_32(value, "public key %r" % value[:60])
