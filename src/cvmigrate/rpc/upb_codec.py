"""Request decoding with the official protobuf runtime (upb, the C implementation).

betterproto2 parses in Python at several microseconds per field: a ReportRuns listing 50
attempts took ~4 ms to parse and ~0.4 ms to check (wire_check.py), against ~15 µs for upb
(bench/, issue 8). The methods CQDaemon calls on every loop therefore hand their handler
the request as an official-runtime message (`MethodInfo.request_upb`).

The verdicts stay exactly those of `codec.decode_binary` / `codec.decode_json` on the
betterproto2 `schema` of the same message (tests/rpc/test_upb_codec.py compares them):

- upb rejects what the Go runtime rejects (truncation, bad varints, lengths, wire types 6/7,
  field number 0, invalid UTF-8 in proto3 strings) on its own. It keeps a known field number
  that came with the wrong wire type as an unknown field instead of failing, so a message
  that had unknown fields is checked again by `check_wire`, which tells the two apart (and
  gives the precise reason when upb fails).
- A body longer than `max_fields` bytes may hold more fields than that (a field takes at
  least one byte): `check_wire` counts them first, as it does for betterproto2.
- betterproto2 holds a Timestamp as a `datetime`, so it refuses one outside years
  1–9999; upb would take it and the service could not read it back later (a stored
  ReportVerifiedRun is decoded again by the run manager). The same rule is applied here,
  on the messages' Timestamps, unless the body proves none can be out of range: that takes
  |seconds| ≥ 2^35 (nanos move the instant by ~2 s at most), a varint of 6 bytes or more,
  so 5 bytes in a row with the high bit set. Without such a run (the common case: dates
  of this century take 5-byte varints) the walk over the message is skipped.
- JSON bodies are rare (CQDaemon speaks binary pRPC): they are decoded as `schema` with every
  check of `codec.decode_json`, then read into the official message from the binary form.
"""

from __future__ import annotations

import datetime
from typing import Final, TypeVar

import betterproto2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError as UpbDecodeError
from google.protobuf.message import Message

from cvmigrate.rpc.codec import decode_json
from cvmigrate.rpc.wire_check import DecodeError, check_wire

__all__ = ["check_field_limit", "decode_binary_upb", "decode_json_upb"]

U = TypeVar("U", bound=Message)

_TIMESTAMP = "google.protobuf.Timestamp"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

_REPEATED, _MAP, _SINGLE = 0, 1, 2
_TimestampPlan = tuple[tuple[str, int, bool], ...]
"""Per message type: (field name, shape, is the value a Timestamp itself?) for every field
that is, or holds somewhere below, a Timestamp (shape: repeated, map, or singular)."""

_PLANS: dict[str, _TimestampPlan] = {}

_HIGH_BIT: Final = bytes(0x31 if byte & 0x80 else 0x30 for byte in range(256))
"""Maps each byte to b"1" if its high bit is set, else b"0" (C-speed, unlike a regex)."""


def _may_hold_long_varint(data: bytes) -> bool:
    """True if `data` has 5 bytes in a row with the high bit set (see the module docstring)."""
    return b"11111" in data.translate(_HIGH_BIT)


def decode_binary_upb(
    schema: type[betterproto2.Message], cls: type[U], data: bytes, *, max_fields: int | None = None
) -> U:
    """Parse binary `data` as the official `cls` with the verdicts of
    `decode_binary(schema, ...)`: DecodeError if invalid, TooManyFields past `max_fields`."""
    if type(data) is not bytes:
        data = bytes(data)
    check_field_limit(schema, data, max_fields)
    try:
        message = cls.FromString(data)
    except UpbDecodeError as exc:
        check_wire(schema, data)  # raises with the precise reason
        raise DecodeError(f"invalid {schema.__name__}: {exc}") from None
    size = message.ByteSize()
    message.DiscardUnknownFields()
    if message.ByteSize() != size:
        # It had unknown fields: legal for new field numbers, not for a known number with
        # the wrong wire type. Parse again to keep them (re-encoding must not lose them).
        check_wire(schema, data)
        message = cls.FromString(data)
    if _may_hold_long_varint(data):
        _check_timestamps(message, schema.__name__)
    return message


def check_field_limit(
    schema: type[betterproto2.Message], data: bytes, max_fields: int | None
) -> None:
    """TooManyFields if binary `data` holds more than `max_fields` fields (counted only
    when it is longer than that: a field takes at least a byte); other faults are left
    to the decoding."""
    if max_fields is not None and len(data) > max_fields:
        check_wire(schema, data, max_fields=max_fields)


def decode_json_upb(
    schema: type[betterproto2.Message], cls: type[U], data: bytes, *, max_fields: int | None = None
) -> U:
    """A JSON body as the official `cls`, with every check of `decode_json(schema, ...)`."""
    return cls.FromString(bytes(decode_json(schema, data, max_fields=max_fields)))


def _check_timestamps(message: Message, name: str) -> None:
    plan = _PLANS.get(message.DESCRIPTOR.full_name)
    if plan is None:
        plan = _plan(message.DESCRIPTOR)
    for field, shape, is_timestamp in plan:
        if shape == _REPEATED:
            values = getattr(message, field)
        elif shape == _MAP:
            values = getattr(message, field).values()
        elif message.HasField(field):
            values = (getattr(message, field),)
        else:
            continue
        for value in values:
            if is_timestamp:
                _check_timestamp(value, name)
            else:
                _check_timestamps(value, name)


def _check_timestamp(value: Message, name: str) -> None:
    seconds: int = value.seconds  # type: ignore[attr-defined]
    nanos: int = value.nanos  # type: ignore[attr-defined]
    try:  # exactly betterproto2's Timestamp.to_datetime
        _EPOCH + datetime.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except (OverflowError, ValueError) as exc:
        raise DecodeError(f"invalid {name}: {exc}") from None


def _plan(descriptor: Descriptor) -> _TimestampPlan:
    plan = []
    for field in descriptor.fields:
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        value_type, shape = field.message_type, _REPEATED if field.is_repeated else _SINGLE
        if value_type.GetOptions().map_entry:
            value_type, shape = value_type.fields_by_name["value"].message_type, _MAP
        if value_type is not None and _holds_timestamp(value_type, set()):
            plan.append((field.name, shape, value_type.full_name == _TIMESTAMP))
    _PLANS[descriptor.full_name] = result = tuple(plan)
    return result


def _holds_timestamp(descriptor: Descriptor, seen: set[str]) -> bool:
    if descriptor.full_name == _TIMESTAMP:
        return True
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    return any(
        field.message_type is not None and _holds_timestamp(field.message_type, seen)
        for field in descriptor.fields
    )
