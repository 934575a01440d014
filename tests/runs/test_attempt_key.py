"""Attempt keys hash the sorted triggered CLs exactly as CV and CQDaemon did (spec §3.4)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cvmigrate.runs.attempt_key import ATTEMPT_KEY_LENGTH, TriggeredCL, compute_attempt_key

SPEC_CL = TriggeredCL(
    host="g-review",
    change=33,
    current_revision="rev-000033-001",
    trigger_time=datetime(2020, 2, 2, 10, 30, tzinfo=UTC),
    mode="DRY_RUN",
    gerrit_account_id=2,
)

# CV's runcreator test, mirroring CQDaemon's test_attempt_key_hash.
CV_EPOCH = datetime(2020, 12, 31, tzinfo=UTC)
CV_CL_X = TriggeredCL(
    host="x-review.example.com",
    change=1234567,
    current_revision="rev2",
    trigger_time=CV_EPOCH + timedelta(microseconds=49999),
    mode="FULL_RUN",
    gerrit_account_id=6,
)
CV_CL_Y = TriggeredCL(
    host="y-review.example.com",
    change=7654321,
    current_revision="rev3",
    trigger_time=CV_EPOCH + timedelta(microseconds=777777),
    mode="FULL_RUN",
    gerrit_account_id=7,
)


def spec_layout(*cls: tuple[str, ...]) -> str:
    """The spec's byte layout: fields NUL-joined, CLs NUL-joined, first 8 bytes of SHA-256."""
    data = b"\x00".join(b"\x00".join(f.encode() for f in fields) for fields in cls)
    return hashlib.sha256(data).hexdigest()[:16]


def test_single_cl_matches_spec_vector() -> None:
    assert compute_attempt_key([SPEC_CL]) == "0a6686c7f19a33a3"


def test_single_cl_hashes_the_documented_bytes() -> None:
    expected = hashlib.sha256(
        b"g-review\x0033\x00rev-000033-001\x001580639400000000\x00DRY_RUN\x002"
    ).hexdigest()[:16]
    assert compute_attempt_key([SPEC_CL]) == expected


def test_two_cls_match_cv_runcreator_vector_in_any_order() -> None:
    assert compute_attempt_key([CV_CL_X, CV_CL_Y]) == "bc86ed248de55fb0"
    assert compute_attempt_key([CV_CL_Y, CV_CL_X]) == "bc86ed248de55fb0"


def test_multi_cl_sorted_by_host_then_change_with_one_nul_between_cls() -> None:
    at = datetime(2021, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    a10 = TriggeredCL(
        host="a-review",
        change=10,
        current_revision="r10",
        trigger_time=at,
        mode="FULL_RUN",
        gerrit_account_id=1,
    )
    a9 = dataclasses.replace(a10, change=9, current_revision="r9")
    b1 = dataclasses.replace(a10, host="b-review", change=1, current_revision="r1")
    us = "1614834367890123"
    expected = spec_layout(
        ("a-review", "9", "r9", us, "FULL_RUN", "1"),
        ("a-review", "10", "r10", us, "FULL_RUN", "1"),
        ("b-review", "1", "r1", us, "FULL_RUN", "1"),
    )
    assert compute_attempt_key([b1, a10, a9]) == expected
    # Numeric, not string, order within a host: "10" < "9" as text would differ.
    wrong_order = spec_layout(
        ("a-review", "10", "r10", us, "FULL_RUN", "1"),
        ("a-review", "9", "r9", us, "FULL_RUN", "1"),
        ("b-review", "1", "r1", us, "FULL_RUN", "1"),
    )
    assert expected != wrong_order


def test_no_separator_before_first_or_after_last_cl() -> None:
    fields = ("g-review", "33", "rev-000033-001", "1580639400000000", "DRY_RUN", "2")
    joined = b"\x00".join(f.encode() for f in fields)
    for padded in (b"\x00" + joined, joined + b"\x00"):
        assert compute_attempt_key([SPEC_CL]) != hashlib.sha256(padded).hexdigest()[:16]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host", "h-review"),
        ("change", 34),
        ("current_revision", "rev-000033-002"),
        ("trigger_time", datetime(2020, 2, 2, 10, 30, 0, 1, tzinfo=UTC)),
        ("mode", "FULL_RUN"),
        ("gerrit_account_id", 3),
    ],
)
def test_every_field_changes_the_key(field: str, value: object) -> None:
    changed = dataclasses.replace(SPEC_CL, **{field: value})
    assert compute_attempt_key([changed]) != compute_attempt_key([SPEC_CL])


def test_trigger_time_is_microseconds_since_epoch_in_any_timezone() -> None:
    minus_five = timezone(timedelta(hours=-5))
    same_instant = dataclasses.replace(
        SPEC_CL, trigger_time=datetime(2020, 2, 2, 5, 30, tzinfo=minus_five)
    )
    assert compute_attempt_key([same_instant]) == "0a6686c7f19a33a3"


def test_trigger_time_microseconds_are_exact_for_large_values() -> None:
    # A float would lose the last digit here; integer arithmetic must not.
    at = datetime(2286, 11, 20, 17, 46, 39, 999999, tzinfo=UTC)
    cl = dataclasses.replace(SPEC_CL, trigger_time=at)
    expected = spec_layout(("g-review", "33", "rev-000033-001", "9999999999999999", "DRY_RUN", "2"))
    assert compute_attempt_key([cl]) == expected


def test_trigger_time_before_epoch_floors_like_a_timestamp() -> None:
    at = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    cl = dataclasses.replace(SPEC_CL, trigger_time=at)
    expected = spec_layout(("g-review", "33", "rev-000033-001", "-500000", "DRY_RUN", "2"))
    assert compute_attempt_key([cl]) == expected


def test_additional_mode_name_is_hashed_as_given() -> None:
    cl = dataclasses.replace(SPEC_CL, mode="QUICK_DRY_RUN")
    expected = spec_layout(
        ("g-review", "33", "rev-000033-001", "1580639400000000", "QUICK_DRY_RUN", "2")
    )
    assert compute_attempt_key([cl]) == expected


def test_key_is_16_lower_case_hex_chars() -> None:
    key = compute_attempt_key([CV_CL_X])
    assert ATTEMPT_KEY_LENGTH == 16
    assert len(key) == 16
    assert key == key.lower()
    int(key, 16)


def test_empty_cl_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one CL"):
        compute_attempt_key([])


def test_naive_trigger_time_is_rejected() -> None:
    naive = dataclasses.replace(SPEC_CL, trigger_time=datetime(2020, 2, 2, 10, 30))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        compute_attempt_key([naive])


def test_triggered_cl_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPEC_CL.change = 1  # type: ignore[misc]
