"""The tids participant client: one blocking connection to a hub.

    from tids import Client, Identity
    with Client("hub.example:7400", "factory.key", "@hub.pub") as c:
        c.ping()
        c.publish([tids.record(owner=c.participant, category="telemetry", ...)])
        for d in c.subscribe(["maintenance"]):
            ...   # d is a tids.v1.Delivery; it is acked when you take the next

Calls are multiplexed on the connection by call id; a Subscribe stream's
items wait in a queue while a unary call is answered, so one client can
publish, grant and receive in the same thread.
"""
import collections
import os
import socket
import time
from typing import Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from . import merkle
from .channel import FRAME_MAX_DEFAULT, Channel, connect_tcp
from .errors import Code, HubError, ProtocolError, TidsError
from .keys import Identity, PublicKeyLike, public_key
from .signing import sign_approval, sign_batch, sign_grant
from .v1 import consent_pb2, record_pb2, rpc_pb2, status_pb2

RecordLike = Union[record_pb2.Record, bytes]
KeyLike = Union[Identity, str]

PING = "tids.v1.Exchange/Ping"
PUBLISH = "tids.v1.Exchange/Publish"
SUBSCRIBE = "tids.v1.Exchange/Subscribe"
GRANT = "tids.v1.Exchange/Grant"
REVOKE = "tids.v1.Exchange/Revoke"
APPROVE = "tids.v1.Exchange/Approve"
REVOKE_APPROVAL = "tids.v1.Exchange/RevokeApproval"

BATCH_MAX = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


class _Timeout(Exception):
    pass


class Client:
    """A connection to a hub as a registered participant.

    address   "host:port" of the hub's participant listener
    key       an Identity, or the path of a key file (base64 seed, mode 0600)
    hub_key   the hub's Ed25519 public key (32 bytes, base64, or "@hub.pub"):
              a hub whose Noise key is not its X25519 form is refused before
              we reveal who we are. Required: an unpinned hub could be anyone.
    timeout   seconds per operation
    """

    def __init__(self, address: str, key: KeyLike, hub_key: PublicKeyLike, *, timeout: float = 30.0,
                 frame_max: int = FRAME_MAX_DEFAULT):
        if hub_key is None:
            raise TidsError("hub_key is required: pin the hub you mean to talk to (its hub.pub)")
        self.identity = key if isinstance(key, Identity) else Identity.from_file(key)
        self.hub_key = public_key(hub_key)
        self.timeout = timeout
        self.participant = ""
        self._next_call = 1
        self._queues: Dict[int, Deque[rpc_pb2.Frame]] = collections.defaultdict(collections.deque)
        self._sock = connect_tcp(address, timeout)
        try:
            self._ch = Channel(self._sock, frame_max)
            self.hub_id = self._ch.handshake(self.identity, self.hub_key)
            welcome = status_pb2.Status()
            welcome.ParseFromString(self._ch.read_frame())
            if welcome.code != Code.OK:
                raise HubError(welcome.code, welcome.message, "hub %s refused us" % self.hub_id)
            self.welcome = welcome.message
        except BaseException:
            self._sock.close()
            raise

    # -- plumbing ---------------------------------------------------------
    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, frame: rpc_pb2.Frame) -> None:
        self._sock.settimeout(self.timeout)
        self._ch.send_frame(frame.SerializeToString())

    def _wait(self, call_id: int, timeout: Optional[float]) -> rpc_pb2.Frame:
        """The next frame of call_id (or of call 0: the hub could not read a
        frame of ours); frames of other calls are queued. _Timeout if none
        came within timeout seconds (None: wait for ever)."""
        for cid in (call_id, 0):
            if self._queues.get(cid):
                return self._queues[cid].popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise _Timeout()
            self._sock.settimeout(left)
            try:
                data = self._ch.read_frame()
            except socket.timeout:
                raise _Timeout() from None
            except OSError as e:
                raise TidsError("connection to hub %s: %s" % (self.hub_id, e)) from None
            f = rpc_pb2.Frame()
            try:
                f.ParseFromString(data)
            except Exception:
                raise ProtocolError("the hub sent a frame that does not parse") from None
            if f.call_id in (call_id, 0):
                return f
            self._queues[f.call_id].append(f)

    def call(self, method: str, body: bytes) -> bytes:
        """One unary call: the response body, or HubError with the hub's
        status."""
        call_id = self._next_call
        self._next_call += 1
        self._send(rpc_pb2.Frame(call_id=call_id, kind=rpc_pb2.FRAME_REQUEST, method=method, body=body))
        try:
            f = self._wait(call_id, self.timeout)
        except _Timeout:
            raise TidsError("%s: no answer within %g s" % (method, self.timeout)) from None
        if f.kind != rpc_pb2.FRAME_RESPONSE:
            raise ProtocolError("%s: expected a RESPONSE, got frame kind %d" % (method, f.kind))
        if f.status.code != Code.OK:
            raise HubError(f.status.code, f.status.message, method)
        return f.body

    # -- Exchange ---------------------------------------------------------
    def ping(self) -> rpc_pb2.PingReply:
        """Who the hub says we are (also sets .participant and .hub_id)."""
        nonce = os.urandom(16)
        reply = rpc_pb2.PingReply()
        reply.ParseFromString(self.call(PING, rpc_pb2.PingRequest(nonce=nonce).SerializeToString()))
        if reply.nonce != nonce:
            raise ProtocolError("the hub echoed another nonce")
        self.participant = reply.participant
        if reply.hub_id:
            self.hub_id = reply.hub_id
        return reply

    def _me(self) -> str:
        if not self.participant:
            self.ping()
        return self.participant

    def build_batch(self, records: Sequence[RecordLike], sequence: int) -> record_pb2.PublishBatch:
        """A signed PublishBatch: the records' exact bytes are the Merkle
        leaves, the root is signed under "tids.v1.batch"."""
        if not 0 < len(records) <= BATCH_MAX:
            raise TidsError("a batch holds 1..%d records, not %d" % (BATCH_MAX, len(records)))
        leaves = [r if isinstance(r, (bytes, bytearray)) else r.SerializeToString() for r in records]
        leaves = [bytes(x) for x in leaves]
        root = merkle.root(leaves)
        me = self._me()
        return record_pb2.PublishBatch(publisher=me, sequence=sequence, records=leaves, merkle_root=root,
                                       signature=sign_batch(self.identity, me, sequence, root))

    def publish(self, records: Sequence[RecordLike], sequence: Optional[int] = None) -> record_pb2.PublishAck:
        """Publishes one signed batch. sequence must rise with every batch of
        this participant (default: the time in microseconds, as tidsctl).
        The ack comes after Kafka confirmed every accepted record; records
        refused are in ack.errors (index and status)."""
        seq = sequence if sequence is not None else time.time_ns() // 1000
        return self.publish_batch(self.build_batch(records, seq))

    def publish_batch(self, batch: record_pb2.PublishBatch) -> record_pb2.PublishAck:
        ack = record_pb2.PublishAck()
        ack.ParseFromString(self.call(PUBLISH, batch.SerializeToString()))
        return ack

    def subscribe(self, purposes: Iterable[str], window: int = 100, idle: Optional[float] = None,
                  auto_ack: bool = True) -> "Subscription":
        """Starts this participant's delivery stream for purposes."""
        purposes = list(purposes)
        if not purposes:
            raise TidsError("subscribe needs at least one purpose")
        call_id = self._next_call
        self._next_call += 1
        start = rpc_pb2.SubscribeControl(start=rpc_pb2.SubscribeRequest(purposes=purposes, window=window))
        self._send(rpc_pb2.Frame(call_id=call_id, kind=rpc_pb2.FRAME_REQUEST, method=SUBSCRIBE,
                                 body=start.SerializeToString()))
        return Subscription(self, call_id, idle, auto_ack)

    def _change(self, method: str, body: bytes) -> str:
        reply = rpc_pb2.ChangeReply()
        reply.ParseFromString(self.call(method, body))
        return reply.id

    def grant_signed(self, grant_bytes: bytes, signature: bytes) -> str:
        """Sends a Grant serialized and signed elsewhere, as its exact bytes."""
        return self._change(GRANT, consent_pb2.SignedGrant(grant=grant_bytes, signature=signature).SerializeToString())

    def grant(self, grant_id: str, grantee: str, categories: Sequence[str], purposes: Sequence[str], *,
              not_after_ms: int, not_before_ms: Optional[int] = None, assets: Sequence[str] = (),
              max_uses: int = 0, obligations: Optional[record_pb2.Obligations] = None,
              hub_id: Optional[str] = None) -> str:
        """Consents, as the data owner, to grantee using the categories (of
        assets, or all of ours) for purposes. The Grant names the hub it is
        for (the connected hub unless hub_id is given), is serialized once,
        signed over exactly those bytes and sent with them."""
        g = consent_pb2.Grant(grant_id=grant_id, owner=self._me(), grantee=grantee, assets=list(assets),
                              categories=list(categories), purposes=list(purposes),
                              not_before_ms=not_before_ms if not_before_ms is not None else now_ms(),
                              not_after_ms=not_after_ms, max_uses=max_uses, hub_id=hub_id or self.hub_id)
        if obligations is not None:
            g.obligations.CopyFrom(obligations)
        data = g.SerializeToString()
        return self.grant_signed(data, sign_grant(self.identity, data))

    def revoke(self, grant_id: str) -> str:
        """Revokes one of our grants; its data key is destroyed, so what was
        delivered under it can no longer be opened."""
        return self._change(REVOKE, rpc_pb2.RevokeRequest(grant_id=grant_id).SerializeToString())

    def approve_signed(self, approval_bytes: bytes, signature: bytes) -> str:
        return self._change(APPROVE, consent_pb2.SignedApproval(approval=approval_bytes,
                                                                signature=signature).SerializeToString())

    def approve(self, approval_id: str, kind: str, exporter: str, recipient: str, *, categories: Sequence[str],
                tiers: Sequence[int], purposes: Sequence[str], from_jurisdiction: str, to_jurisdiction: str,
                valid_until_ms: int, valid_from_ms: Optional[int] = None, case_id: str = "",
                hub_id: Optional[str] = None) -> str:
        """Issues an approval as a regulator (kind "export", "core_access",
        ...; tiers are tids.v1.Tier values). Counted only while we are an
        active regulator covering the exporter's jurisdiction."""
        a = consent_pb2.Approval(approval_id=approval_id, kind=kind, regulator=self._me(), exporter=exporter,
                                 recipient=recipient, categories=list(categories), tiers=list(tiers),
                                 purposes=list(purposes), from_jurisdiction=from_jurisdiction,
                                 to_jurisdiction=to_jurisdiction,
                                 valid_from_ms=valid_from_ms if valid_from_ms is not None else now_ms(),
                                 valid_until_ms=valid_until_ms, hub_id=hub_id or self.hub_id, case_id=case_id)
        data = a.SerializeToString()
        return self.approve_signed(data, sign_approval(self.identity, data))

    def revoke_approval(self, approval_id: str) -> str:
        return self._change(REVOKE_APPROVAL,
                            rpc_pb2.RevokeApprovalRequest(approval_id=approval_id).SerializeToString())


class Subscription:
    """The delivery stream of a Subscribe call, as an iterator of
    tids.v1.Delivery. With auto_ack, a delivery is acknowledged when the
    next one is asked for (or at close): you have finished with it then,
    and an acked delivery is never sent again, not even after a reconnect.
    Deliveries at or below the highest delivery_seq already returned (sent
    again after a reconnect) are dropped. With idle set, iteration stops
    after that many seconds without a delivery."""

    def __init__(self, client: Client, call_id: int, idle: Optional[float], auto_ack: bool):
        self.client = client
        self.call_id = call_id
        self.idle = idle
        self.auto_ack = auto_ack
        self.last_seq = 0
        self._unacked: Optional[int] = None
        self.closed = False

    def __iter__(self) -> Iterator[record_pb2.Delivery]:
        return self

    def __next__(self) -> record_pb2.Delivery:
        d = self.next(self.idle)
        if d is None:
            raise StopIteration
        return d

    def next(self, timeout: Optional[float] = None) -> Optional[record_pb2.Delivery]:
        """The next delivery, or None after timeout seconds without one."""
        if self.closed:
            raise TidsError("the subscription is closed")
        if self.auto_ack and self._unacked is not None:
            self.ack(self._unacked)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                f = self.client._wait(self.call_id, left)
            except _Timeout:
                return None
            if f.kind in (rpc_pb2.FRAME_STREAM_END, rpc_pb2.FRAME_RESPONSE):
                self.closed = True
                if f.status.code != Code.OK:
                    raise HubError(f.status.code, f.status.message, SUBSCRIBE)
                raise TidsError("the hub ended the stream: %s" % f.status.message)
            if f.kind != rpc_pb2.FRAME_STREAM_ITEM:
                raise ProtocolError("Subscribe: unexpected frame kind %d" % f.kind)
            d = record_pb2.Delivery()
            d.ParseFromString(f.body)
            if d.delivery_seq <= self.last_seq:
                continue
            self.last_seq = d.delivery_seq
            self._unacked = d.delivery_seq
            return d

    def ack(self, delivery_seq: int) -> None:
        """Acknowledges every delivery up to and including delivery_seq."""
        msg = rpc_pb2.SubscribeControl(ack=rpc_pb2.DeliveryAck(delivery_seq=delivery_seq))
        self.client._send(rpc_pb2.Frame(call_id=self.call_id, kind=rpc_pb2.FRAME_CLIENT_ITEM,
                                        body=msg.SerializeToString()))
        if self._unacked is not None and self._unacked <= delivery_seq:
            self._unacked = None

    def close(self) -> None:
        """Acks what was taken (with auto_ack), cancels the stream, and
        returns once the hub has read both (a Ping behind them came back),
        so a program may exit right after."""
        if self.closed:
            return
        if self.auto_ack and self._unacked is not None:
            self.ack(self._unacked)
        self.client._send(rpc_pb2.Frame(call_id=self.call_id, kind=rpc_pb2.FRAME_CANCEL))
        self.closed = True
        self.client.ping()
        self.client._queues.pop(self.call_id, None)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
