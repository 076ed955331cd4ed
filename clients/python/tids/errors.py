"""Status codes (tids.v1.Code, gRPC's numbering) and the errors the client
raises."""
import enum


class Code(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class TidsError(Exception):
    """Anything that went wrong talking to a hub."""


class HubError(TidsError):
    """The hub answered a call with a status other than OK: `code` says
    what kind of failure (an automaton can act on it), `message` what was
    wrong with which input."""

    def __init__(self, code: int, message: str, method: str = ""):
        try:
            self.code: "Code | int" = Code(code)
        except ValueError:
            self.code = code
        self.message = message
        self.method = method
        name = self.code.name if isinstance(self.code, Code) else str(code)
        super().__init__("%s%s: %s" % (method + ": " if method else "", name, message))


class ProtocolError(TidsError):
    """The hub broke the protocol (bad framing, a message that does not
    decrypt, a frame above our limit): the connection is unusable."""


class HubKeyMismatch(TidsError):
    """The hub's Noise key is not the X25519 form of the key we pinned: we
    did not reveal who we are, and did not connect."""
