"""rpc/upb_codec.py gives the verdicts of the betterproto2 path (codec.py) for every method
whose handler takes an official-runtime request: the same inputs accepted with the same
content, the same inputs refused, the field limit at the same count."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import mutate

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc import upb_codec
from cvmigrate.rpc.codec import JsonStyle, decode_binary, decode_json, encode_json
from cvmigrate.rpc.methods import MIGRATION_METHODS
from cvmigrate.rpc.upb_codec import decode_binary_upb, decode_json_upb
from cvmigrate.rpc.wire_check import DecodeError, TooManyFields

UPB_METHODS = {name: m for name, m in MIGRATION_METHODS.items() if m.request_upb is not None}


def _attempt(key: str = "0123456789abcdef", **kw) -> bigquery_pb.Attempt:
    return bigquery_pb.Attempt(
        key=key,
        luci_project="chromium",
        status=bigquery_pb.AttemptStatus.SUCCESS,
        start_time=datetime(2026, 11, 28, 6, 0, 1, 123456, tzinfo=UTC),
        gerrit_changes=[
            bigquery_pb.GerritChange(
                host="chromium-review.googlesource.com",
                project="chromium/src",
                change=123,
                patchset=4,
                earliest_equivalent_patchset=3,
                trigger_time=datetime(2026, 11, 28, 5, 59, tzinfo=UTC),
                mode=bigquery_pb.Mode.FULL_RUN,
            )
        ],
        **kw,
    )


VALID = {
    "ReportRuns": migration_pb.ReportRunsRequest(
        runs=[
            migration_pb.ReportedRun(id="chromium/1-1-aa", attempt=_attempt()),
            migration_pb.ReportedRun(attempt=_attempt("fedcba9876543210")),
        ]
    ),
    "ReportVerifiedRun": migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(id="chromium/1-1-aa", attempt=_attempt()),
        action=migration_pb.ReportVerifiedRunRequestAction.SUBMIT,
        final_message="passed ✓",
    ),
    "FetchRunStatus": migration_pb.FetchRunStatusRequest(
        luci_project="chromium", cv_id="chromium/1-1-aa", attempt_key="0123456789abcdef"
    ),
    "FetchActiveRuns": migration_pb.FetchActiveRunsRequest(luci_project="chromium"),
}


def test_the_loop_methods_take_upb_requests() -> None:
    # CQDaemon's loop (spec §8); the rare methods keep betterproto2 requests.
    assert set(UPB_METHODS) == set(VALID)
    for method in UPB_METHODS.values():
        assert (
            method.request_upb.DESCRIPTOR.full_name == f"migration.{method.request_type.__name__}"
        )


def _verdict_binary(name: str, data: bytes, max_fields: int | None = None):
    """(outcome of the betterproto2 path, outcome of the upb path), comparable."""
    method = UPB_METHODS[name]
    outcomes = []
    for decode in (
        lambda: decode_binary(method.request_type, data, max_fields=max_fields),
        lambda: decode_binary_upb(
            method.request_type, method.request_upb, data, max_fields=max_fields
        ),
    ):
        try:
            message = decode()
        except TooManyFields:
            outcomes.append("too many fields")
        except DecodeError:
            outcomes.append("invalid")
        else:
            outcomes.append(_canonical(method, message))
    return tuple(outcomes)


def _canonical(method, message) -> bytes:
    """The message's known fields, encoded by upb (unknown fields compared separately),
    with Timestamps at the microsecond precision of betterproto2's datetimes."""
    if not isinstance(message, method.request_upb):
        message = method.request_upb.FromString(bytes(message))
    else:
        message = method.request_upb.FromString(message.SerializeToString())
    message.DiscardUnknownFields()
    _to_microseconds(message)
    return message.SerializeToString(deterministic=True)


def _to_microseconds(message) -> None:
    if message.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        micros = message.seconds * 1_000_000 + message.nanos // 1000
        message.seconds, message.nanos = micros // 1_000_000, micros % 1_000_000 * 1000
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = (
                value.values() if field.message_type.fields_by_name["value"].message_type else []
            )
        else:
            values = value if field.is_repeated else [value]
        for item in values:
            _to_microseconds(item)


@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_binary_verdicts_match_betterproto2(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(VALID)))
    body = mutate(bytes(VALID[name]), data)
    ours, upb = _verdict_binary(name, body)
    assert ours == upb, (name, body)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_requests_decode_to_the_same_content(name: str) -> None:
    ours, upb = _verdict_binary(name, bytes(VALID[name]))
    assert ours == upb == bytes(_canonical(UPB_METHODS[name], VALID[name]))


@pytest.mark.parametrize(
    ("case", "suffix"),
    [
        ("unknown varint field 99: kept", b"\x98\x06\x01"),
        ("known field 1 (string) as a varint", b"\x08\x01"),
        ("unknown group field 99", b"\x9b\x06\x9c\x06"),
        ("wire type 7", b"\x0f"),
        ("field number 0", b"\x02\x00"),
        ("truncated length", b"\x0a\x05ab"),
        ("invalid UTF-8 in luci_project", b"\x0a\x02\xff\xfe"),
        ("overlong varint", b"\x98\x06" + b"\xff" * 10 + b"\x01"),
    ],
)
def test_edge_cases_match(case: str, suffix: bytes) -> None:
    body = bytes(VALID["FetchActiveRuns"]) + suffix
    ours, upb = _verdict_binary("FetchActiveRuns", body)
    assert ours == upb, case
    if case.endswith("kept"):
        assert isinstance(upb, bytes)
        method = UPB_METHODS["FetchActiveRuns"]
        message = decode_binary_upb(method.request_type, method.request_upb, body)
        assert message.SerializeToString().endswith(b"\x98\x06\x01")  # not lost
    else:
        assert upb == "invalid", case


@pytest.mark.parametrize(
    ("seconds", "nanos", "accepted"),
    [
        (253402300799, 999999999, True),  # 9999-12-31T23:59:59.999999
        (253402300800, 0, False),
        (-62135596800, 0, True),  # 0001-01-01
        (-62135596801, 0, False),
        (-62135596800, -1000, False),
        (0, -1, True),
        (2**62, 0, False),
    ],
)
@pytest.mark.parametrize("name", ["ReportRuns", "ReportVerifiedRun"])
def test_timestamps_betterproto2_cannot_hold_are_refused(name, seconds, nanos, accepted) -> None:
    upb_cls = UPB_METHODS[name].request_upb
    message = upb_cls.FromString(bytes(VALID[name]))
    run = message.runs[1] if name == "ReportRuns" else message.run
    run.attempt.gerrit_changes[0].trigger_time.seconds = seconds
    run.attempt.gerrit_changes[0].trigger_time.nanos = nanos
    ours, upb = _verdict_binary(name, message.SerializeToString())
    assert ours == upb
    assert (upb != "invalid") is accepted


def test_field_limit_counts_the_same() -> None:
    body = bytes(VALID["ReportRuns"]) * 40  # 80 runs, repeated field concatenated
    fields = 80 * 5  # each run holds more than 5 fields, and the body > 400 bytes
    ours, upb = _verdict_binary("ReportRuns", body, max_fields=fields)
    assert ours == upb == "too many fields"
    ours, upb = _verdict_binary("ReportRuns", body, max_fields=len(body))
    assert ours == upb != "too many fields"


@pytest.mark.parametrize("name", sorted(VALID))
@pytest.mark.parametrize("style", list(JsonStyle))
def test_json_decodes_to_the_same_content(name: str, style: JsonStyle) -> None:
    method = UPB_METHODS[name]
    body = encode_json(VALID[name], style)
    ours = decode_json(method.request_type, body)
    upb = decode_json_upb(method.request_type, method.request_upb, body)
    assert isinstance(upb, method.request_upb)
    assert _canonical(method, upb) == _canonical(method, ours)


def test_json_refusals_are_the_betterproto2_ones() -> None:
    method = UPB_METHODS["ReportRuns"]
    for body in (b"[]", b'{"runs": 5}', b'{"runs": [{"attempt": {"startTime": "year 3"}}]}'):
        with pytest.raises(DecodeError) as ours:
            decode_json(method.request_type, body)
        with pytest.raises(DecodeError) as upb:
            decode_json_upb(method.request_type, method.request_upb, body)
        assert str(upb.value) == str(ours.value)


@settings(max_examples=300, deadline=None)
@given(
    seconds=st.one_of(
        st.integers(min_value=253402300800 - 3, max_value=2**63 - 1),
        st.integers(min_value=-(2**63), max_value=-62135596800 + 3),
    ),
    nanos=st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
def test_a_timestamp_out_of_range_is_never_skipped(seconds: int, nanos: int) -> None:
    # The walk over Timestamps is skipped only for bodies without 5 high-bit bytes in a
    # row; every Timestamp betterproto2 cannot hold must produce such a run.
    method = UPB_METHODS["ReportVerifiedRun"]
    message = method.request_upb.FromString(bytes(VALID["ReportVerifiedRun"]))
    message.run.attempt.start_time.seconds = seconds
    message.run.attempt.start_time.nanos = nanos
    body = message.SerializeToString()
    assert upb_codec._may_hold_long_varint(body)
    ours, upb = _verdict_binary("ReportVerifiedRun", body)
    assert ours == upb
