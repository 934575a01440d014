"""The generated betterproto2 code against the official protobuf runtime and schemas/.

1. Every message type round-trips between betterproto2 (through our codec) and the
   official runtime, both ways, in binary and JSON, with every field populated.
2. src/cvmigrate/proto is what `make proto` generates today (not stale).
3. rpc/methods.py describes the service exactly as migration.proto does.
"""

from __future__ import annotations

import filecmp
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

import cvmigrate.proto.migration  # noqa: F401  (registers every message in the pool)
from cvmigrate.proto.message_pool import default_message_pool
from cvmigrate.rpc.codec import JsonStyle, decode_binary, decode_json, encode_binary, encode_json
from cvmigrate.rpc.methods import MIGRATION_METHODS, MIGRATION_SERVICE

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("migration.", "bigquery.", "gerrit.")
_URL_PREFIX = "type.googleapis.com/"
BETTERPROTO_TYPES: dict[str, Any] = {
    url.removeprefix(_URL_PREFIX): cls
    for url, cls in default_message_pool.url_to_type.items()
    if url.removeprefix(_URL_PREFIX).startswith(OUR_PACKAGES)
}
TIMESTAMP = "google.protobuf.Timestamp"
INT32_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
}
INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
}
UINT32_TYPES = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
UINT64_TYPES = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}


def scalar(field: FieldDescriptor, i: int) -> Any:
    """A non-default value for field `field`, the `i`-th of a repeated field or map."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-{i} héllo ✓"
    if kind == FieldDescriptor.TYPE_BYTES:
        return bytes([0, 255, i])
    if kind == FieldDescriptor.TYPE_BOOL:
        return i == 0
    if kind in INT32_TYPES:
        return [-123456, 7][i]
    if kind in INT64_TYPES:
        return [2**53 + 1, -(2**40)][i]  # beyond a double's integers, and negative
    if kind in UINT32_TYPES:
        return 4_000_000_000 + i
    if kind in UINT64_TYPES:
        return 2**63 + i
    if kind == FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values
        return values[-1 - i].number or values[-1].number  # never the zero default
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return 1.5 + i
    raise AssertionError(f"no sample value for {field.full_name}")


def populate(message: Message, depth: int = 0) -> Message:
    """Set every field of `message` (recursively) to a non-default value."""
    assert depth < 10, "unexpected recursion in the schema"
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for i in range(2):
                key = scalar(key_field, i)
                if value_field.message_type is not None:
                    populate(value[key], depth + 1)
                else:
                    value[key] = scalar(value_field, i)
        elif field.is_repeated:
            for i in range(2):
                if field.message_type is not None:
                    populate(value.add(), depth + 1)
                else:
                    value.append(scalar(field, i))
        elif field.message_type is not None and field.message_type.full_name == TIMESTAMP:
            # Microseconds: betterproto2 holds timestamps as datetimes.
            value.seconds, value.nanos = 1_767_225_600 + depth, 123_456_000
        elif field.message_type is not None:
            populate(value, depth + 1)
        else:
            setattr(message, field.name, scalar(field, 0))
    return message


def official(full_name: str) -> type[Message]:
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


def all_descriptors(google_pb: SimpleNamespace) -> dict[str, Descriptor]:
    found: dict[str, Descriptor] = {}

    def walk(descriptor: Descriptor) -> None:
        if descriptor.GetOptions().map_entry:
            return
        found[descriptor.full_name] = descriptor
        for nested in descriptor.nested_types:
            walk(nested)

    for module in (google_pb.migration, google_pb.bigquery, google_pb.gerrit):
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            walk(descriptor)
    return found


def test_every_message_type_is_generated(google_pb: SimpleNamespace) -> None:
    assert set(BETTERPROTO_TYPES) == set(all_descriptors(google_pb))


NAMES = sorted(BETTERPROTO_TYPES)


@pytest.mark.parametrize("full_name", NAMES)
def test_binary_round_trip(google_pb: SimpleNamespace, full_name: str) -> None:
    original = populate(official(full_name)())
    ours = decode_binary(BETTERPROTO_TYPES[full_name], original.SerializeToString())
    back = official(full_name).FromString(encode_binary(ours))
    assert back == original


@pytest.mark.parametrize("full_name", NAMES)
def test_json_round_trip(google_pb: SimpleNamespace, full_name: str) -> None:
    original = populate(official(full_name)())
    ours = decode_json(BETTERPROTO_TYPES[full_name], json_format.MessageToJson(original).encode())
    proto3 = encode_json(ours, JsonStyle.PROTO3)
    assert json_format.Parse(proto3, official(full_name)()) == original
    # Same text, key for key: lowerCamel names, int64 as strings, enum names, RFC 3339.
    assert json.loads(proto3) == json_format.MessageToDict(original)


@pytest.mark.parametrize("full_name", NAMES)
def test_twirp_json_matches_protojson_with_proto_names_and_defaults(
    google_pb: SimpleNamespace, full_name: str
) -> None:
    original = populate(official(full_name)())
    ours = decode_binary(BETTERPROTO_TYPES[full_name], original.SerializeToString())
    twirp = encode_json(ours, JsonStyle.TWIRP)
    expected = json_format.MessageToDict(
        original, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert json.loads(twirp) == expected
    assert json_format.Parse(twirp, official(full_name)()) == original


@pytest.mark.parametrize("full_name", NAMES)
def test_empty_messages_round_trip(google_pb: SimpleNamespace, full_name: str) -> None:
    ours = decode_binary(BETTERPROTO_TYPES[full_name], b"")
    assert encode_binary(ours) == b""
    assert encode_json(ours, JsonStyle.PROTO3) == b"{}"
    assert json_format.Parse(encode_json(ours, JsonStyle.TWIRP), official(full_name)()) == (
        official(full_name)()
    )


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    # `make proto` itself, into a temporary folder (-o: the installed venv counts as current).
    out = tmp_path / "proto"
    subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "proto", f"PROTO_OUT={out}"],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    committed = ROOT / "src" / "cvmigrate" / "proto"
    assert {"migration/__init__.py", "migration/migration_pb2.py"} <= _files(out)
    assert _files(out) == _files(committed)
    _, mismatch, errors = filecmp.cmpfiles(out, committed, sorted(_files(out)), shallow=False)
    assert not mismatch and not errors, f"run `make proto`: stale files {mismatch + errors}"


def _files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_method_table_matches_the_service_descriptor(google_pb: SimpleNamespace) -> None:
    service = google_pb.migration.DESCRIPTOR.services_by_name["Migration"]
    assert service.full_name == MIGRATION_SERVICE
    assert sorted(m.name for m in service.methods) == sorted(MIGRATION_METHODS)
    type_names = {
        cls: url.removeprefix(_URL_PREFIX) for url, cls in default_message_pool.url_to_type.items()
    }
    for method in service.methods:
        info = MIGRATION_METHODS[method.name]
        assert info.service == MIGRATION_SERVICE
        assert type_names[info.request_type] == method.input_type.full_name
        assert type_names[info.response_type] == method.output_type.full_name
        no_side_effects = (
            method.GetOptions().idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
        )
        assert info.no_side_effects == no_side_effects, method.name
