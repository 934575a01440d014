"""Strict decoding and per-protocol JSON encoding (rpc/codec.py, wire_check.py, json_check.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import betterproto2
import pytest

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import gerrit as gerrit_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.rpc.codec import (
    DecodeError,
    JsonStyle,
    PreEncoded,
    decode_binary,
    decode_json,
    encode_binary,
    encode_json,
)

VERIFIED = migration_pb.ReportVerifiedRunRequest
STATUS = migration_pb.FetchRunStatusRequest


def test_lenient_parse_is_what_we_guard_against() -> None:
    # betterproto2 alone accepts a length that runs past the end of the buffer.
    VERIFIED.parse(b"\n\x05ab")
    with pytest.raises(DecodeError, match="exceeds"):
        decode_binary(VERIFIED, b"\n\x05ab")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"\n\x05ab", "exceeds", id="length-beyond-buffer"),
        pytest.param(b"\n", "truncated varint", id="missing-length"),
        pytest.param(b"\x80", "truncated varint", id="truncated-tag"),
        pytest.param(b"X\x80", "truncated varint", id="truncated-varint-value"),
        pytest.param(b"X" + b"\xff" * 10 + b"\x01", "overflows", id="varint-longer-than-10-bytes"),
        pytest.param(b"X" + b"\xff" * 9 + b"\x02", "overflows", id="varint-over-64-bits"),
        pytest.param(b"\x0b", "wire type 3", id="start-group"),
        pytest.param(b"\x0c", "wire type 4", id="end-group"),
        pytest.param(b"\x0e", "wire type 6", id="wire-type-6"),
        pytest.param(b"\x0f", "wire type 7", id="wire-type-7"),
        pytest.param(b"\x00\x00", "field number 0", id="field-zero"),
        pytest.param(b"\x08\x01", "wrong wire type", id="varint-for-message"),
        pytest.param(b"Z\x01\x02", "wrong wire type", id="packed-for-singular-enum"),
        pytest.param(b"b\x02\xc3\x28", "invalid UTF-8", id="bad-utf8-string"),
        pytest.param(b"b\x03\xed\xa0\x80", "invalid UTF-8", id="surrogate-in-string"),
        pytest.param(b"\n\x02\x08\x01", "wrong wire type", id="nested-wrong-wire-type"),
        pytest.param(b"\n\x04\x0a\x02\x12\x05", "exceeds", id="nested-truncated"),
        pytest.param(b"\xa1\x1f\x01\x02", "truncated fixed64", id="unknown-fixed64-truncated"),
        pytest.param(b"\xa5\x1f\x01", "truncated fixed32", id="unknown-fixed32-truncated"),
        pytest.param(b"\xa2\x1f\x09ab", "exceeds", id="unknown-length-truncated"),
    ],
)
def test_decode_binary_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_binary(VERIFIED, data)


def test_decode_binary_skips_unknown_fields() -> None:
    known = bytes(STATUS(luci_project="chromium"))
    unknown = b"\xa0\x1f\x96\x01" + b"\xa5\x1f\x00\x00\x00\x00" + b"\xa2\x1f\x03abc"
    assert decode_binary(STATUS, unknown + known) == STATUS(luci_project="chromium")


def test_decode_binary_accepts_packed_and_unpacked_repeated_scalars() -> None:
    # gerrit.ListChangesRequest.options is `repeated QueryOption` (field 2).
    packed = b"\x12\x02\x01\x04"
    unpacked = b"\x10\x01\x10\x04"
    for data in (packed, unpacked):
        message = decode_binary(gerrit_pb.ListChangesRequest, data)
        assert message.options == [
            gerrit_pb.QueryOption.LABELS,
            gerrit_pb.QueryOption.CURRENT_REVISION,
        ]
    with pytest.raises(DecodeError, match="truncated varint"):
        decode_binary(gerrit_pb.ListChangesRequest, b"\x12\x02\x01\x84")


def test_decode_binary_checks_map_entries() -> None:
    labels = gerrit_pb.LabelInfo(values={1: "ok", -1: "no"})
    assert decode_binary(gerrit_pb.LabelInfo, bytes(labels)) == labels
    # values is map<int32, string> (field 10): an entry whose value is not UTF-8.
    bad_entry = b"\x08\x01\x12\x01\xff"
    with pytest.raises(DecodeError, match="invalid UTF-8"):
        decode_binary(gerrit_pb.LabelInfo, b"R" + bytes([len(bad_entry)]) + bad_entry)


def test_decode_binary_checks_wrapped_timestamps() -> None:
    trigger = migration_pb.RunClTrigger(time=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
    assert decode_binary(migration_pb.RunClTrigger, bytes(trigger)) == trigger
    with pytest.raises(DecodeError, match="wrong wire type"):
        decode_binary(migration_pb.RunClTrigger, b"\n\x05\x15\x00\x00\x00\x00")  # nanos: fixed32


def test_decode_binary_turns_parse_failures_into_decode_errors() -> None:
    # A Timestamp beyond datetime's range passes the wire check but not betterproto2.
    far_future = bytes(protobuf_pb.Timestamp(seconds=10**13))
    with pytest.raises(DecodeError):
        decode_binary(migration_pb.RunClTrigger, b"\n" + bytes([len(far_future)]) + far_future)


def test_decode_binary_accepts_the_empty_message_and_memoryviews() -> None:
    assert decode_binary(protobuf_pb.Empty, b"") == protobuf_pb.Empty()
    data = memoryview(bytes(STATUS(cv_id="x")))
    assert decode_binary(STATUS, data) == STATUS(cv_id="x")  # type: ignore[arg-type]


def test_decode_json_accepts_both_key_styles_and_ignores_unknown_keys() -> None:
    camel = decode_json(STATUS, b'{"luciProject":"a","cvId":"b","what":1}')
    snake = decode_json(STATUS, b'{"luci_project":"a","cv_id":"b","what":{"x":[1]}}')
    assert camel == snake == STATUS(luci_project="a", cv_id="b")


def test_decode_json_reads_int64_enums_timestamps_and_maps() -> None:
    message = decode_json(
        migration_pb.RunCl,
        json.dumps(
            {
                "id": "9007199254740993",
                "gc": {"change": 12, "mode": "FULL_RUN"},
                "trigger": {"time": "2026-01-02T03:04:05.5Z", "accountId": "-3"},
                "info": {"labels": {"Commit-Queue": {"values": {"-1": "no", "2": "yes"}}}},
                "deps": [{"id": 1, "hard": True}],
            }
        ).encode(),
    )
    assert message.id == 9007199254740993
    assert message.gc is not None and message.gc.mode is bigquery_pb.Mode.FULL_RUN
    assert message.trigger is not None
    assert message.trigger.time == datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert message.trigger.account_id == -3
    assert message.info is not None
    assert message.info.labels["Commit-Queue"].values == {-1: "no", 2: "yes"}
    assert message.deps == [migration_pb.RunClDep(id=1, hard=True)]


@pytest.mark.parametrize(
    ("cls", "body"),
    [
        pytest.param(STATUS, b"", id="empty-body"),
        pytest.param(STATUS, b"[]", id="array"),
        pytest.param(STATUS, b'"x"', id="string"),
        pytest.param(STATUS, b"{", id="invalid-json"),
        pytest.param(STATUS, b'{"luciProject":1}', id="number-for-string"),
        pytest.param(STATUS, b'{"luciProject":["a"]}', id="list-for-string"),
        pytest.param(STATUS, b'{"a":NaN}', id="nan-literal"),
        pytest.param(STATUS, b"\xff", id="not-utf8"),
        pytest.param(VERIFIED, b'{"action":"ACTION_NOPE"}', id="unknown-enum-name"),
        pytest.param(VERIFIED, b'{"action":true}', id="bool-for-enum"),
        pytest.param(VERIFIED, b'{"run":"x"}', id="string-for-message"),
        pytest.param(VERIFIED, b'{"run":{"attempt":{"startTime":"2026-01-02"}}}', id="date-only"),
        pytest.param(VERIFIED, b'{"run":{"attempt":{"startTime":123}}}', id="number-timestamp"),
        pytest.param(VERIFIED, b'{"run":{"attempt":{"builds":{"id":1}}}}', id="object-for-list"),
        pytest.param(VERIFIED, b'{"run":{"attempt":{"builds":[null]}}}', id="null-in-list"),
        pytest.param(VERIFIED, b'{"run":{"attempt":{"hasCustomRequirement":1}}}', id="int-bool"),
        pytest.param(migration_pb.RunCl, b'{"id":"12x"}', id="bad-int-string"),
        pytest.param(migration_pb.RunCl, b'{"id":1.5}', id="fractional-int"),
        pytest.param(migration_pb.RunCl, b'{"id":"9223372036854775808"}', id="int64-overflow"),
        pytest.param(migration_pb.RunCl, b'{"id":true}', id="bool-for-int"),
        pytest.param(gerrit_pb.LabelInfo, b'{"value":2147483648}', id="int32-overflow"),
        pytest.param(gerrit_pb.LabelInfo, b'{"values":{"x":"a"}}', id="bad-int-map-key"),
        pytest.param(gerrit_pb.LabelInfo, b'{"values":[]}', id="list-for-map"),
        pytest.param(gerrit_pb.LabelInfo, b'{"values":{"1":null}}', id="null-map-value"),
    ],
)
def test_decode_json_rejects(cls: type[betterproto2.Message], body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_json(cls, body)


def test_decode_json_treats_null_as_unset() -> None:
    assert decode_json(VERIFIED, b'{"run":null,"finalMessage":null}') == VERIFIED()


SAMPLE = migration_pb.FetchRunStatusResponse(event="done")


def test_encode_json_proto3_style_is_lower_camel_without_defaults() -> None:
    message = migration_pb.FetchActiveRunsResponse(
        active_runs=[migration_pb.ActiveRun(id="r", fyi_deps=[migration_pb.RunCl(id=5)])]
    )
    assert encode_json(message, JsonStyle.PROTO3) == (
        b'{"activeRuns":[{"id":"r","fyiDeps":[{"id":"5"}]}]}'
    )


def test_encode_json_twirp_style_is_snake_case_with_defaults() -> None:
    assert encode_json(SAMPLE, JsonStyle.TWIRP) == b'{"event":"done","extra":""}'
    assert encode_json(migration_pb.RunClDep(id=3), JsonStyle.TWIRP) == (b'{"id":"3","hard":false}')


def test_encode_json_writes_utf8_not_escapes() -> None:
    message = migration_pb.FetchRunStatusResponse(event="héllo ✓")
    assert encode_json(message, JsonStyle.PROTO3) == '{"event":"héllo ✓"}'.encode()


class Stored:
    """A PreEncoded response: bytes produced elsewhere, returned as they are."""

    def to_binary(self) -> bytes:
        return b"stored-binary"

    def to_json(self, style: JsonStyle) -> bytes:
        return f'{{"style":"{style.value}"}}'.encode()


def test_encoders_honour_pre_encoded_responses() -> None:
    stored: PreEncoded = Stored()
    assert encode_binary(stored) == b"stored-binary"
    assert encode_json(stored, JsonStyle.PROTO3) == b'{"style":"proto3"}'
    assert encode_json(stored, JsonStyle.TWIRP) == b'{"style":"twirp"}'


def test_binary_round_trip() -> None:
    request = VERIFIED(
        run=migration_pb.ReportedRun(
            id="chromium/1-a",
            attempt=bigquery_pb.Attempt(
                key="k",
                start_time=datetime(2026, 1, 1, tzinfo=UTC),
                builds=[bigquery_pb.Build(id=1)],
            ),
        ),
        action=migration_pb.ReportVerifiedRunRequestAction.FAIL,
        final_message="no",
    )
    assert decode_binary(VERIFIED, encode_binary(request)) == request
    assert decode_json(VERIFIED, encode_json(request, JsonStyle.PROTO3)) == request
    assert decode_json(VERIFIED, encode_json(request, JsonStyle.TWIRP)) == request
