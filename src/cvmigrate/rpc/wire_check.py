"""Strict validation of protobuf binary wire format against a betterproto2 message class.

betterproto2's `Message.parse` is lenient: it accepts truncated length-delimited fields,
stores a varint in a string field, and fails with UnicodeDecodeError or EOFError on other
inputs. `check_wire` walks the bytes once, before `parse`, and rejects everything the Go
runtime (`proto.Unmarshal`) rejects: truncated or overlong varints, lengths beyond the
buffer, wire types 3/4 (groups) and 6/7, field number 0 or above 2^29-1, invalid UTF-8 in
string fields, and a wire type that does not match a known field. Packed encoding is legal
for repeated scalar fields. Unknown fields are skipped after their structure is checked.

It also counts fields (every tag at any depth, each element of a packed field too) against
an optional limit, because `parse` costs several microseconds per field: a body of a few
megabytes of tiny repeated elements would otherwise hold the CPU for seconds.
"""

from __future__ import annotations

import threading
from typing import Any, Final

import betterproto2

__all__ = ["DecodeError", "TooManyFields", "check_wire"]


class DecodeError(ValueError):
    """The request body is not a valid encoding of the expected message."""


class TooManyFields(DecodeError):
    """The request message holds more fields than the server decodes for one call."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the message has more than {limit} fields, the server's limit")
        self.limit = limit


class _OverBudget(Exception):
    """Raised deep inside the walk; check_wire turns it into TooManyFields."""


_VARINT: Final = 0
_I64: Final = 1
_LEN: Final = 2
_I32: Final = 5

# What to check in a field's payload once its wire type is known to be right.
_SCALAR: Final = 0  # singular number: wire type must match exactly
_PACKABLE: Final = 1  # repeated number: its own wire type, or packed (length-delimited)
_STRING: Final = 2  # length-delimited, valid UTF-8
_BYTES: Final = 3  # length-delimited, anything
_MESSAGE: Final = 4  # length-delimited, a nested message (map entries included)

_MAX_FIELD_NUMBER: Final = (1 << 29) - 1
# Python recursion, not the data, is the limit here; the Go runtime allows 10000 but our
# deepest message nests about 6 levels, so 100 is generous and keeps the stack small.
_MAX_DEPTH: Final = 100

_WIRE_BY_TYPE: Final[dict[str, int]] = {
    **dict.fromkeys(betterproto2.WIRE_VARINT_TYPES, _VARINT),
    **dict.fromkeys(betterproto2.WIRE_FIXED_32_TYPES, _I32),
    **dict.fromkeys(betterproto2.WIRE_FIXED_64_TYPES, _I64),
}

Schema = dict[int, tuple[int, int, Any]]
"""field number → (expected wire type, kind, sub-schema for messages)."""

_SCHEMAS: dict[type, Schema] = {}
_BUILD_LOCK = threading.Lock()


def check_wire(
    cls: type[betterproto2.Message], data: bytes, *, max_fields: int | None = None
) -> None:
    """Validate `data` as a binary `cls`; raises DecodeError with a short reason, and
    TooManyFields when it holds more than `max_fields` fields (None: no limit)."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = _schema_for(cls)
    # A walk never sees more fields than bytes, so len(data) stands for "no limit".
    budget = len(data) if max_fields is None else max_fields
    try:
        _walk(data, 0, len(data), schema, 0, budget)
    except _OverBudget:
        assert max_fields is not None
        raise TooManyFields(max_fields) from None


def _schema_for(cls: type[betterproto2.Message]) -> Schema:
    with _BUILD_LOCK:
        pending: dict[type, Schema] = {}
        schema = _build(cls, pending)
        # Published only when complete, so other threads never see a half-built schema.
        _SCHEMAS.update(pending)
    return schema


def _build(cls: type[betterproto2.Message], pending: dict[type, Schema]) -> Schema:
    schema = _SCHEMAS.get(cls) or pending.get(cls)
    if schema is not None:
        return schema
    schema = pending[cls] = {}  # registered first so self-referencing messages terminate
    proto_meta = cls._betterproto
    for name, meta in proto_meta.meta_by_field_name.items():
        if meta.proto_type == betterproto2.TYPE_MAP:
            assert meta.map_meta is not None
            key_meta, value_meta = meta.map_meta
            value_cls = proto_meta.cls_by_field[f"{name}.value"]
            entry: Schema = {
                1: _field_spec(key_meta, None, pending, repeated=False),
                2: _field_spec(value_meta, value_cls, pending, repeated=False),
            }
            schema[meta.number] = (_LEN, _MESSAGE, entry)
        else:
            field_cls = proto_meta.cls_by_field[name]
            schema[meta.number] = _field_spec(
                meta, field_cls, pending, repeated=bool(meta.repeated)
            )
    return schema


def _field_spec(
    meta: betterproto2.FieldMetadata,
    field_cls: type | None,
    pending: dict[type, Schema],
    *,
    repeated: bool,
) -> tuple[int, int, Any]:
    proto_type = meta.proto_type
    if proto_type == betterproto2.TYPE_MESSAGE:
        # Wrapped well-known types (Timestamp → datetime) are checked as the message.
        msg_cls = meta.unwrap() if meta.unwrap else field_cls
        assert msg_cls is not None
        return (_LEN, _MESSAGE, _build(msg_cls, pending))
    if proto_type == betterproto2.TYPE_STRING:
        return (_LEN, _STRING, None)
    if proto_type == betterproto2.TYPE_BYTES:
        return (_LEN, _BYTES, None)
    return (_WIRE_BY_TYPE[proto_type], _PACKABLE if repeated else _SCALAR, None)


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at `pos`; returns (value, position after it)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise DecodeError("varint overflows 64 bits")
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _walk(buf: bytes, pos: int, end: int, schema: Schema, depth: int, budget: int) -> int:
    """Check the fields in buf[pos:end]; returns what is left of the field budget."""
    if depth > _MAX_DEPTH:
        raise DecodeError("message nesting too deep")
    get = schema.get
    while pos < end:
        budget -= 1
        if budget < 0:
            raise _OverBudget
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(buf, pos, end)
        wire = tag & 7
        number = tag >> 3
        if number == 0 or number > _MAX_FIELD_NUMBER:
            raise DecodeError(f"invalid field number {number}")
        start = pos
        if wire == _VARINT:
            if pos < end and buf[pos] < 0x80:
                pos += 1
            else:
                _, pos = _varint(buf, pos, end)
        elif wire == _LEN:
            if pos < end and buf[pos] < 0x80:
                length = buf[pos]
                pos += 1
            else:
                length, pos = _varint(buf, pos, end)
            start = pos
            pos += length
            if pos > end:
                raise DecodeError(f"field {number}: length {length} exceeds the message")
        elif wire == _I32:
            pos += 4
            if pos > end:
                raise DecodeError(f"field {number}: truncated fixed32")
        elif wire == _I64:
            pos += 8
            if pos > end:
                raise DecodeError(f"field {number}: truncated fixed64")
        else:
            raise DecodeError(f"field {number}: invalid wire type {wire}")

        spec = get(number)
        if spec is None:
            continue  # unknown field: structurally valid, so skipped
        expected, kind, sub = spec
        if wire != expected:
            if wire == _LEN and kind == _PACKABLE:
                budget = _check_packed(buf, start, pos, expected, number, budget)
                continue
            raise DecodeError(f"field {number}: wrong wire type {wire}")
        if kind == _STRING:
            try:
                buf[start:pos].decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError(f"field {number}: invalid UTF-8") from None
        elif kind == _MESSAGE:
            budget = _walk(buf, start, pos, sub, depth + 1, budget)
    return budget


def _check_packed(buf: bytes, pos: int, end: int, wire: int, number: int, budget: int) -> int:
    """Check a packed repeated field; returns the field budget left after its elements."""
    if wire == _I32 or wire == _I64:
        size = 4 if wire == _I32 else 8
        if (end - pos) % size:
            raise DecodeError(f"field {number}: packed fixed-size values are truncated")
        budget -= (end - pos) // size
        if budget < 0:
            raise _OverBudget
        return budget
    while pos < end:
        budget -= 1
        if budget < 0:
            raise _OverBudget
        if buf[pos] < 0x80:
            pos += 1
        else:
            _, pos = _varint(buf, pos, end)
    return budget
