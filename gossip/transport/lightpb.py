"""Decode gossip.proto messages from their bytes with field tables, without the protobuf runtime.

``gossip-ctl`` makes one Status call and exits; importing protobuf's Python
runtime (its descriptor pool loads the pure-Python message machinery, text
format and well-known types whatever the backend) took about a third of its
start-up. The tables are generated from the descriptor with the other
generated code (``make proto``; ``make proto-check`` keeps them current):
``gossip/transport/_pb/gossip_schema.py``. Decoding follows protobuf's rules:
absent fields take their defaults (None for a field with presence, such as
``optional``), unknown fields are skipped, and bytes that are not a valid
encoding raise ``ValueError``. A non-repeated field sent twice keeps the last
value (protobuf would merge two messages; our encoders never send either).
Only what the Status reply needs: no packed repeated scalars, no groups.
"""

from __future__ import annotations

import struct
from typing import Any

from gossip.transport._pb.gossip_schema import MESSAGES

_DEFAULTS = {
    "double": 0.0,
    "float": 0.0,
    "int": 0,
    "uint": 0,
    "bool": False,
    "string": "",
    "bytes": b"",
}
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _skip(data: bytes, at: int, wire: int) -> int:
    if wire == _VARINT:
        return _varint(data, at)[1]
    if wire == _FIXED64:
        return at + 8
    if wire == _FIXED32:
        return at + 4
    if wire == _LENGTH:
        length, at = _varint(data, at)
        return at + length
    raise ValueError(f"wire type {wire} is not supported")


def _scalar(kind: str, wire: int, data: bytes, at: int) -> tuple[Any, int]:
    if wire in (_FIXED64, _FIXED32) and at + (8 if wire == _FIXED64 else 4) > len(data):
        raise ValueError("truncated fixed-size value")
    if kind == "double" and wire == _FIXED64:
        return struct.unpack_from("<d", data, at)[0], at + 8
    if kind == "float" and wire == _FIXED32:
        return struct.unpack_from("<f", data, at)[0], at + 4
    if kind in ("int", "uint", "bool") and wire == _VARINT:
        value, at = _varint(data, at)
        if kind == "bool":
            return value != 0, at
        if kind == "int" and value >= 1 << 63:
            value -= 1 << 64  # a negative int32/int64/enum: ten bytes of two's complement
        return value, at
    if kind in ("string", "bytes") and wire == _LENGTH:
        length, at = _varint(data, at)
        raw = data[at : at + length]
        return (raw.decode() if kind == "string" else bytes(raw)), at + length
    raise ValueError(f"a {kind} field sent as wire type {wire}")


def decode(data: bytes, message: str) -> dict[str, Any]:
    """``data`` as the message type ``message`` of gossip.proto: a dict by field name."""
    fields = MESSAGES[message]
    out: dict[str, Any] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        field = fields.get(number)
        if field is None:
            at = _skip(data, at, wire)
            continue
        name, kind, repeated, sub, _ = field
        if kind == "message":
            if wire != _LENGTH:
                raise ValueError(f"{message}.{name}: a message sent as wire type {wire}")
            length, at = _varint(data, at)
            value: Any = decode(data[at : at + length], sub)
            at += length
        else:
            value, at = _scalar(kind, wire, data, at)
        if at > len(data):
            raise ValueError(f"{message}.{name}: truncated")
        if repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return {name: _or_default(out, name, field) for name, *field in fields.values()}


def _or_default(out: dict[str, Any], name: str, field: list[Any]) -> Any:
    """The decoded value of field ``name`` if it came, else its default."""
    if name in out:
        return out[name]
    kind, repeated, sub, presence = field
    if repeated:
        return []
    if kind == "message":
        return decode(b"", sub)
    return None if presence else _DEFAULTS[kind]
