"""Building records: named, typed fields (tids.v1.Field/Value) from Python
values."""
import os
import time
from typing import Any, Mapping, Optional, Union

from .v1 import record_pb2

TIERS = {"general": record_pb2.TIER_GENERAL, "important": record_pb2.TIER_IMPORTANT,
         "core": record_pb2.TIER_CORE}


class Uint(int):
    """An int to send as a tids.v1.Value uint (counters), not int."""


def value(x: Any) -> record_pb2.Value:
    """bool -> flag, Uint -> uint, int -> int, float -> real, str -> text,
    bytes -> blob; a Value passes as it is."""
    if isinstance(x, record_pb2.Value):
        return x
    if isinstance(x, bool):
        return record_pb2.Value(flag=x)
    if isinstance(x, Uint):
        return record_pb2.Value(uint=int(x))
    if isinstance(x, int):
        return record_pb2.Value(int=x)
    if isinstance(x, float):
        return record_pb2.Value(real=x)
    if isinstance(x, str):
        return record_pb2.Value(text=x)
    if isinstance(x, (bytes, bytearray)):
        return record_pb2.Value(blob=bytes(x))
    raise TypeError("no tids value for %r" % type(x).__name__)


def record(owner: str, category: str, tier: Union[str, int], origin: str, fields: Mapping[str, Any], *,
           asset_id: str = "", schema: str = "", produced_at_ms: Optional[int] = None,
           record_id: Optional[bytes] = None, personal: bool = False, individuals: int = 0,
           sensitive_personal: bool = False) -> record_pb2.Record:
    """A tids.v1.Record with a fresh 16-byte record_id (unless given)."""
    rec = record_pb2.Record(record_id=record_id or os.urandom(16), owner=owner, asset_id=asset_id,
                            category=category, tier=TIERS[tier] if isinstance(tier, str) else tier,
                            origin=origin,
                            produced_at_ms=produced_at_ms if produced_at_ms is not None else int(time.time() * 1000),
                            personal=personal, individuals=individuals, sensitive_personal=sensitive_personal,
                            schema=schema)
    for name, v in fields.items():
        rec.fields.add(name=name, value=value(v))
    return rec
