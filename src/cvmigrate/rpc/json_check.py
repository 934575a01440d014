"""Strict shape checks for proto3 JSON input against a betterproto2 message class.

betterproto2's `from_dict` trusts the shapes it is given: a number in a string field or a
string in a repeated field is stored as is and fails much later (or never). `check_json`
walks the parsed JSON once, before `from_dict`, and rejects the shapes protojson rejects:
a non-object message, a non-string string, a non-bool bool, a non-integral or out-of-range
integer, a non-list repeated field, a null inside a list, a non-object map, a malformed map
key, and a Timestamp that is not an RFC 3339 string. Unknown keys are ignored (protojson's
`DiscardUnknown`); `null` means "unset". Enum names and base64 are left to `from_dict`.

`check_json_size` bounds the number of values before `json.loads` runs: 32 MiB of `{},`
parse into 11 million dicts (0.7 s and 800 MB), and `from_dict` then costs microseconds each.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Final

import betterproto2
from betterproto2.casing import safe_snake_case

from cvmigrate.rpc.wire_check import DecodeError, TooManyFields

__all__ = ["check_json", "check_json_size"]

# Value kinds; INT carries its range, MESSAGE its schema, MAP its (key, value) specs.
_STRING: Final = "string"
_BYTES: Final = "bytes"
_BOOL: Final = "bool"
_INT: Final = "int"
_FLOAT: Final = "float"
_ENUM: Final = "enum"
_MESSAGE: Final = "message"
_TIMESTAMP: Final = "timestamp"
_MAP: Final = "map"
_UNCHECKED: Final = "unchecked"  # other wrapped well-known types: from_dict decides

_INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    **dict.fromkeys(
        (betterproto2.TYPE_INT32, betterproto2.TYPE_SINT32, betterproto2.TYPE_SFIXED32),
        (-(1 << 31), (1 << 31) - 1),
    ),
    **dict.fromkeys((betterproto2.TYPE_UINT32, betterproto2.TYPE_FIXED32), (0, (1 << 32) - 1)),
    **dict.fromkeys(
        (betterproto2.TYPE_INT64, betterproto2.TYPE_SINT64, betterproto2.TYPE_SFIXED64),
        (-(1 << 63), (1 << 63) - 1),
    ),
    **dict.fromkeys((betterproto2.TYPE_UINT64, betterproto2.TYPE_FIXED64), (0, (1 << 64) - 1)),
}
_INT_STRING: Final = re.compile(r"-?\d{1,20}")
_FLOAT_WORDS: Final = frozenset({"NaN", "Infinity", "-Infinity"})
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
_MAX_DEPTH: Final = 100
# A JSON string, escapes included; removed before counting separators inside values.
_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)

Spec = tuple[str, Any]
JsonSchema = dict[str, tuple[str, bool, Spec]]
"""JSON key (proto name and lowerCamel name) → (field name, repeated, value spec)."""

_SCHEMAS: dict[type, JsonSchema] = {}
_BUILD_LOCK = threading.Lock()


def check_json_size(data: bytes, max_values: int) -> None:
    """Raise TooManyFields if the JSON text `data` may hold more than `max_values` values.

    Every value but the outermost follows `[`, `{` or `,`, so counting those bytes bounds
    the values from above in C speed; strings are stripped first only when the quick
    count is over (commas in a long comment must not count).
    """

    def bound(text: bytes) -> int:
        return text.count(b",") + text.count(b"[") + text.count(b"{")

    if bound(data) <= max_values:
        return
    if bound(_JSON_STRING.sub(b'""', data)) > max_values:
        raise TooManyFields(max_values)


def check_json(cls: type[betterproto2.Message], value: Any) -> None:
    """Check that parsed JSON `value` has the shape of a `cls`; raises DecodeError."""
    _check_message(value, _schema(cls), "", 0)


def _schema(cls: type[betterproto2.Message]) -> JsonSchema:
    schema = _SCHEMAS.get(cls)
    if schema is None:
        with _BUILD_LOCK:
            pending: dict[type, JsonSchema] = {}
            schema = _build(cls, pending)
            _SCHEMAS.update(pending)
    return schema


def _build(cls: type[betterproto2.Message], pending: dict[type, JsonSchema]) -> JsonSchema:
    schema = _SCHEMAS.get(cls) or pending.get(cls)
    if schema is not None:
        return schema
    schema = pending[cls] = {}
    proto_meta = cls._betterproto
    for name, meta in proto_meta.meta_by_field_name.items():
        if meta.proto_type == betterproto2.TYPE_MAP:
            assert meta.map_meta is not None
            key_meta, value_meta = meta.map_meta
            value_cls = proto_meta.cls_by_field[f"{name}.value"]
            spec: Spec = (
                _MAP,
                (_spec(key_meta, None, pending), _spec(value_meta, value_cls, pending)),
            )
        else:
            spec = _spec(meta, proto_meta.cls_by_field[name], pending)
        entry = (name, bool(meta.repeated), spec)
        schema[name] = entry
        schema[betterproto2.Casing.CAMEL(name).rstrip("_")] = entry
    return schema


def _spec(
    meta: betterproto2.FieldMetadata, field_cls: type | None, pending: dict[type, JsonSchema]
) -> Spec:
    proto_type = meta.proto_type
    if proto_type == betterproto2.TYPE_MESSAGE:
        if meta.unwrap is not None:
            wrapped = meta.unwrap()
            if wrapped.__name__ == "Timestamp":
                return (_TIMESTAMP, None)
            return (_UNCHECKED, None)
        assert field_cls is not None
        return (_MESSAGE, _build(field_cls, pending))
    if proto_type in _INT_RANGES:
        return (_INT, _INT_RANGES[proto_type])
    return {
        betterproto2.TYPE_STRING: (_STRING, None),
        betterproto2.TYPE_BYTES: (_BYTES, None),
        betterproto2.TYPE_BOOL: (_BOOL, None),
        betterproto2.TYPE_FLOAT: (_FLOAT, None),
        betterproto2.TYPE_DOUBLE: (_FLOAT, None),
        betterproto2.TYPE_ENUM: (_ENUM, None),
    }[proto_type]


def _check_message(value: Any, schema: JsonSchema, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise DecodeError("message nesting too deep")
    if not isinstance(value, dict):
        raise DecodeError(f"{path or 'body'}: expected a JSON object")
    for key, item in value.items():
        field = schema.get(key)
        if field is None:
            # from_dict maps any spelling through safe_snake_case; check what it will use.
            field = schema.get(safe_snake_case(key))
            if field is None:
                continue
        if item is None:
            continue
        name, repeated, spec = field
        where = f"{path}.{name}" if path else name
        if repeated:
            if not isinstance(item, list):
                raise DecodeError(f"{where}: expected a JSON array")
            for element in item:
                if element is None:
                    raise DecodeError(f"{where}: null in a repeated field")
                _check_value(element, spec, where, depth)
        else:
            _check_value(item, spec, where, depth)


def _check_value(value: Any, spec: Spec, where: str, depth: int) -> None:
    kind, arg = spec
    if kind == _STRING:
        ok = isinstance(value, str)
    elif kind == _MESSAGE:
        _check_message(value, arg, where, depth + 1)
        return
    elif kind == _INT:
        ok = _is_int(value, arg)
    elif kind == _BOOL:
        ok = isinstance(value, bool)
    elif kind == _ENUM:
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    elif kind == _TIMESTAMP:
        ok = isinstance(value, str) and _RFC3339.fullmatch(value) is not None
    elif kind == _MAP:
        _check_map(value, arg, where, depth)
        return
    elif kind == _FLOAT:
        ok = _is_float(value)
    elif kind == _BYTES:
        ok = isinstance(value, str) and len(value) % 4 != 1 and bool(_BASE64.fullmatch(value))
    else:
        ok = True
    if not ok:
        raise DecodeError(f"{where}: invalid {kind} value")


def _check_map(value: Any, specs: tuple[Spec, Spec], where: str, depth: int) -> None:
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected a JSON object")
    (key_kind, key_arg), value_spec = specs
    for key, item in value.items():
        if key_kind == _INT and not _is_int(key, key_arg):
            raise DecodeError(f"{where}: invalid map key {key!r}")
        if key_kind == _BOOL and key not in ("true", "false"):
            raise DecodeError(f"{where}: invalid map key {key!r}")
        if item is None:
            raise DecodeError(f"{where}: null map value")
        _check_value(item, value_spec, where, depth)


def _is_int(value: Any, bounds: tuple[int, int]) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not _INT_STRING.fullmatch(value):
            return False
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return False
        number = int(value)
    else:
        return False
    return bounds[0] <= number <= bounds[1]


def _is_float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        if value in _FLOAT_WORDS:
            return True
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False
