"""The bytes of a participant connection (docs/PROTOCOL.md, sections 2-3).

TCP carries Noise messages, each as a uint16 big-endian length and the
message. The handshake is Noise_XX_25519_ChaChaPoly_BLAKE2b with prologue
"tids.v1"; the hub's message 2 carries its hub id as payload. After it,
transport messages carry a plaintext stream of frames, each a uint32
big-endian length and that many bytes (a serialized tids.v1.Frame; the very
first one, from the hub, is a serialized tids.v1.Status). A frame may span
several transport messages, and a transport message may hold several
frames: only the byte stream counts.
"""
import socket
import struct
from typing import Optional, Protocol

from noise.connection import Keypair, NoiseConnection

from .errors import HubKeyMismatch, ProtocolError, TidsError
from .keys import Identity, ed25519_pk_to_x25519

NOISE_PROTOCOL = b"Noise_XX_25519_ChaChaPoly_BLAKE2b"
PROLOGUE = b"tids.v1"
NOISE_MAX_MESSAGE = 65535
NOISE_TAG = 16
NOISE_MAX_PAYLOAD = NOISE_MAX_MESSAGE - NOISE_TAG
FRAME_MAX_DEFAULT = 1 << 20


class Transport(Protocol):
    def sendall(self, data: bytes) -> None: ...
    def recv(self, n: int) -> bytes: ...


def frame_prefix(data: bytes) -> bytes:
    """uint32 big-endian length + data: one frame of the plaintext stream."""
    return struct.pack(">I", len(data)) + bytes(data)


def message_prefix(msg: bytes) -> bytes:
    """uint16 big-endian length + msg: one Noise message on TCP."""
    if len(msg) > NOISE_MAX_MESSAGE:
        raise ProtocolError("a Noise message has at most %d bytes" % NOISE_MAX_MESSAGE)
    return struct.pack(">H", len(msg)) + bytes(msg)


class Channel:
    """An initiator's side of a connection: handshake, then frames."""

    def __init__(self, transport: Transport, frame_max: int = FRAME_MAX_DEFAULT):
        self.transport = transport
        self.frame_max = frame_max
        self.noise: Optional[NoiseConnection] = None
        self.hub_id = ""
        self.handshake_hash = b""
        self._raw = b""
        self._plain = b""

    # -- Noise messages on TCP -------------------------------------------
    def _read_message(self) -> bytes:
        # Nothing is consumed until the whole message is here, so a timeout
        # in the middle of one loses nothing.
        while True:
            if len(self._raw) >= 2:
                (n,) = struct.unpack(">H", self._raw[:2])
                if len(self._raw) >= 2 + n:
                    out, self._raw = self._raw[2:2 + n], self._raw[2 + n:]
                    return out
            chunk = self.transport.recv(65536)
            if not chunk:
                raise TidsError("the hub closed the connection")
            self._raw += chunk

    def _send_message(self, msg: bytes) -> None:
        self.transport.sendall(message_prefix(msg))

    # -- the handshake -----------------------------------------------------
    def handshake(self, identity: Identity, hub_key: bytes, ephemeral: Optional[bytes] = None) -> str:
        """Runs Noise_XX as initiator. The hub's static key must be the X25519
        form of hub_key (its Ed25519 key), checked before message 3 reveals
        who we are. Returns the hub id the hub sent in message 2 (before the
        0x00 and the Ed25519 key it names, which must be hub_key).
        `ephemeral` fixes our ephemeral key: known-answer tests only."""
        noise = NoiseConnection.from_name(NOISE_PROTOCOL)
        noise.set_as_initiator()
        noise.set_keypair_from_private_bytes(Keypair.STATIC, identity.dh_private)
        if ephemeral is not None:
            noise.set_keypair_from_private_bytes(Keypair.EPHEMERAL, ephemeral)
        noise.set_prologue(PROLOGUE)
        noise.start_handshake()
        self._send_message(bytes(noise.write_message()))
        try:
            payload = bytes(noise.read_message(self._read_message()))
        except Exception as e:
            raise ProtocolError("the hub's handshake message does not verify: %s" % e) from None
        rs = noise.noise_protocol.handshake_state.rs.public_bytes
        if rs != ed25519_pk_to_x25519(hub_key):
            raise HubKeyMismatch("the hub's key is not the one expected: not connecting")
        # The payload: the hub id, 0x00, the hub's Ed25519 key (an older hub
        # sends its id alone). The key it names must be the one expected.
        hub_id, sep, named = payload.partition(b"\0")
        if sep and named != hub_key:
            raise HubKeyMismatch("the hub names another key than the one expected: not connecting")
        self.hub_id = hub_id.decode("utf-8", "replace")
        self._send_message(bytes(noise.write_message()))
        if not noise.handshake_finished:
            raise ProtocolError("handshake not finished after message 3")
        self.handshake_hash = bytes(noise.get_handshake_hash())
        self.noise = noise
        return self.hub_id

    # -- frames ------------------------------------------------------------
    def seal(self, frame: bytes) -> bytes:
        """The wire bytes of one frame: its length and bytes, encrypted in
        pieces of at most 65519 bytes (65535 with the tag), each sent as
        uint16 length + Noise message. libtids sends a frame of up to 65515
        bytes in one message, and a larger one as its 4-byte length in one
        message, then its bytes in full-sized pieces: any split decodes."""
        assert self.noise is not None
        if len(frame) > self.frame_max:
            raise TidsError("frame of %d bytes is above the limit of %d" % (len(frame), self.frame_max))
        header = struct.pack(">I", len(frame))
        pieces = [header + frame] if len(frame) + 4 <= NOISE_MAX_PAYLOAD else [header, frame]
        out = b""
        for piece in pieces:
            for i in range(0, len(piece), NOISE_MAX_PAYLOAD):
                out += message_prefix(self.noise.encrypt(bytes(piece[i:i + NOISE_MAX_PAYLOAD])))
        return out

    def send_frame(self, frame: bytes) -> None:
        self.transport.sendall(self.seal(frame))

    def read_frame(self) -> bytes:
        """The next frame of the plaintext stream, blocking (the transport's
        timeout applies)."""
        assert self.noise is not None
        while True:
            if len(self._plain) >= 4:
                (n,) = struct.unpack(">I", self._plain[:4])
                if n > self.frame_max:
                    raise ProtocolError("the hub announced a frame of %d bytes, above our limit of %d"
                                        % (n, self.frame_max))
                if len(self._plain) >= 4 + n:
                    out, self._plain = self._plain[4:4 + n], self._plain[4 + n:]
                    return out
            try:
                self._plain += bytes(self.noise.decrypt(self._read_message()))
            except TidsError:
                raise
            except Exception:
                raise ProtocolError("a message from the hub does not decrypt") from None


def connect_tcp(address: str, timeout: float) -> socket.socket:
    """host:port (an IPv6 host in brackets)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise TidsError("%s: expected host:port" % address)
    host = host.strip("[]")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as e:
        raise TidsError("%s: %s" % (address, e.strerror or e)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock

