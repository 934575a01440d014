"""Run statuses keep CV's numbers, and "ended" is the 64 bit (spec §3.1)."""

from __future__ import annotations

import pytest

from cvmigrate.runs.status import (
    ENDED_STATUSES,
    EXCLUDED_CL_STATUSES,
    FETCH_ACTIVE_RUNS_STATUS,
    Status,
    is_ended,
)


@pytest.mark.parametrize(
    ("status", "number"),
    [
        (Status.STATUS_UNSPECIFIED, 0),
        (Status.PENDING, 1),
        (Status.RUNNING, 2),
        (Status.WAITING_FOR_SUBMISSION, 4),
        (Status.SUBMITTING, 5),
        (Status.ENDED_MASK, 64),
        (Status.SUCCEEDED, 65),
        (Status.FAILED, 66),
        (Status.CANCELLED, 67),
    ],
    ids=lambda v: v.name if isinstance(v, Status) else str(v),
)
def test_status_numbers_match_cv(status: Status, number: int) -> None:
    assert status == number
    assert Status(number) is status


def test_status_has_no_member_for_unused_number_3() -> None:
    with pytest.raises(ValueError, match="3"):
        Status(3)


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
def test_is_ended_true_for_ended_statuses(status: Status) -> None:
    assert is_ended(status)


@pytest.mark.parametrize(
    "status",
    [
        Status.STATUS_UNSPECIFIED,
        Status.PENDING,
        Status.RUNNING,
        Status.WAITING_FOR_SUBMISSION,
        Status.SUBMITTING,
    ],
)
def test_is_ended_false_for_incomplete_statuses(status: Status) -> None:
    assert not is_ended(status)


def test_is_ended_is_a_bit_test_on_plain_ints() -> None:
    assert is_ended(64 | 7)
    assert is_ended(Status.ENDED_MASK)
    assert not is_ended(63)
    assert not is_ended(128)


def test_ended_statuses_are_the_three_final_ones() -> None:
    assert ENDED_STATUSES == (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


def test_fetch_active_runs_looks_only_at_running() -> None:
    assert FETCH_ACTIVE_RUNS_STATUS is Status.RUNNING


def test_excluded_cl_statuses_are_running_to_submitting_without_pending() -> None:
    assert EXCLUDED_CL_STATUSES == (
        Status.RUNNING,
        Status.WAITING_FOR_SUBMISSION,
        Status.SUBMITTING,
    )
    assert set(EXCLUDED_CL_STATUSES) == {s for s in Status if 2 <= s < 64}
    assert Status.PENDING not in EXCLUDED_CL_STATUSES
