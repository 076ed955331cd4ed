"""tids: the official Python client of the tids trusted industrial data
space broker. Pure Python on noiseprotocol, protobuf and PyNaCl; the wire
protocol it speaks is docs/PROTOCOL.md of the tids repository."""
from . import merkle, signing
from .channel import NOISE_PROTOCOL, PROLOGUE, Channel
from .client import Client, Subscription
from .errors import Code, HubError, HubKeyMismatch, ProtocolError, TidsError
from .keys import Identity, ed25519_pk_to_x25519, public_key, read_secret, verify
from .records import Uint, record, value
from .v1 import consent_pb2, record_pb2, registry_pb2, rpc_pb2, status_pb2

__version__ = "0.1.0"

__all__ = [
    "Channel", "Client", "Code", "HubError", "HubKeyMismatch", "Identity", "NOISE_PROTOCOL", "PROLOGUE",
    "ProtocolError", "Subscription", "TidsError", "Uint", "consent_pb2", "ed25519_pk_to_x25519", "merkle",
    "public_key", "read_secret", "record", "record_pb2", "registry_pb2", "rpc_pb2", "signing",
    "status_pb2", "value", "verify",
]
