"""Message encoding and decoding shared by the three wire protocols.

Decoding is strict (wire_check.py, json_check.py) because betterproto2 on its own accepts
truncated and mistyped input. Encoding honours `PreEncoded` responses, whose bytes were
produced once and stored (FetchActiveRuns splices stored RunCL snapshots that way).
"""

from __future__ import annotations

import enum
import json
from typing import Any, Final, Protocol, TypeVar

import betterproto2
from google.protobuf.message import Message as UpbMessage

from cvmigrate.rpc.json_check import check_json, check_json_size
from cvmigrate.rpc.wire_check import DecodeError, TooManyFields, check_wire

__all__ = [
    "DecodeError",
    "JsonStyle",
    "PreEncoded",
    "TooManyFields",
    "decode_binary",
    "decode_json",
    "encode_binary",
    "encode_json",
    "encode_length_delimited",
    "encode_varint",
]

M = TypeVar("M", bound=betterproto2.Message)


class JsonStyle(enum.Enum):
    """How a protocol writes JSON responses (spec/protocols.md §1, §2, §3)."""

    PROTO3 = "proto3"
    """protojson defaults: lowerCamel keys, default values omitted (Connect, pRPC)."""
    TWIRP = "twirp"
    """Twirp Go server defaults: proto (snake_case) keys, default values emitted."""


class PreEncoded(Protocol):
    """A response whose encodings already exist; a handler may return one instead of a message."""

    def to_binary(self) -> bytes:
        """The binary protobuf encoding."""
        ...

    def to_json(self, style: JsonStyle) -> bytes:
        """The JSON encoding in `style`, as compact UTF-8."""
        ...


def decode_binary(cls: type[M], data: bytes, *, max_fields: int | None = None) -> M:
    """Parse binary protobuf `data` as `cls`; raises DecodeError if it is not valid and
    TooManyFields if it holds more than `max_fields` fields (None: no limit)."""
    if type(data) is not bytes:
        data = bytes(data)
    check_wire(cls, data, max_fields=max_fields)
    try:
        return cls.parse(data)
    except Exception as exc:  # e.g. a Timestamp beyond datetime's range
        raise DecodeError(f"invalid {cls.__name__}: {exc}") from exc


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity literals; JSON (and protojson) does not.
    raise DecodeError(f"invalid JSON literal {name}")


def decode_json(cls: type[M], data: bytes, *, max_fields: int | None = None) -> M:
    """Parse a proto3 JSON object as `cls` (both key styles; unknown keys ignored).

    Raises DecodeError for invalid JSON, a non-object body, or a value of the wrong shape,
    and TooManyFields for more than `max_fields` values (None: no limit), counted before
    the JSON is parsed.
    """
    if max_fields is not None:
        check_json_size(data, max_fields)
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except DecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DecodeError("JSON body must be an object")
    check_json(cls, value)
    try:
        return cls.from_dict(value, ignore_unknown_fields=True)
    except Exception as exc:  # bad enum names, int strings, timestamps
        raise DecodeError(f"invalid {cls.__name__}: {exc}") from exc


def encode_varint(value: int) -> bytes:
    """A non-negative integer as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_length_delimited(field_number: int, payload: bytes) -> bytes:
    """One length-delimited field (a string, bytes or an encoded message): for splicing
    stored encodings into a response without decoding them."""
    return encode_varint(field_number << 3 | 2) + encode_varint(len(payload)) + payload


def encode_binary(msg: betterproto2.Message | UpbMessage | PreEncoded) -> bytes:
    """The binary protobuf encoding of a message (betterproto2 or official runtime) or a
    PreEncoded response."""
    if isinstance(msg, betterproto2.Message):
        return bytes(msg)
    if isinstance(msg, UpbMessage):
        return msg.SerializeToString()
    return msg.to_binary()


_SEPARATORS: Final = (",", ":")


def encode_json(msg: betterproto2.Message | PreEncoded, style: JsonStyle) -> bytes:
    """The compact UTF-8 JSON encoding of a message or PreEncoded response in `style`."""
    if not isinstance(msg, betterproto2.Message):
        return msg.to_json(style)
    if style is JsonStyle.PROTO3:
        value = msg.to_dict()
    else:
        value = msg.to_dict(casing=betterproto2.Casing.SNAKE, include_default_values=True)
    return json.dumps(value, separators=_SEPARATORS, ensure_ascii=False).encode()
