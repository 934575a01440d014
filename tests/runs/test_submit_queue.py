"""The submit queue's rate limit and turn-taking (spec §5.2 step 2), without storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cvmigrate.runs.status import Status
from cvmigrate.runs.submit_queue import SubmitOptions, may_acquire, next_submission_eta
from cvmigrate.store.submit_queue import QueueEntry

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_no_limit_when_max_burst_or_delay_is_zero():
    history = [ago(1)] * 10
    assert next_submission_eta(history, SubmitOptions(max_burst=0), NOW) == NOW
    assert next_submission_eta(history, SubmitOptions(burst_delay_s=0), NOW) == NOW


def test_fewer_than_max_burst_recent_submissions_may_go_now():
    options = SubmitOptions(max_burst=3, burst_delay_s=60)
    assert next_submission_eta([ago(10), ago(5)], options, NOW) == NOW


def test_a_full_burst_waits_until_its_oldest_submission_is_burst_delay_old():
    options = SubmitOptions(max_burst=2, burst_delay_s=60)
    assert next_submission_eta([ago(50), ago(10), ago(5)], options, NOW) == NOW + timedelta(
        seconds=50
    )
    assert next_submission_eta([ago(61), ago(60)], options, NOW) == NOW


def test_defaults_are_four_per_minute():
    assert SubmitOptions() == SubmitOptions(max_burst=4, burst_delay_s=60.0, tree_status_url="")


def test_only_the_head_of_the_queue_may_take_the_slot():
    waiting = Status.WAITING_FOR_SUBMISSION
    queue = [QueueEntry(run_id="a", status=waiting), QueueEntry(run_id="b", status=waiting)]
    assert may_acquire(queue, "a") and not may_acquire(queue, "b")
    held = [QueueEntry(run_id="x", status=Status.SUBMITTING), *queue]
    assert not may_acquire(held, "a")
    assert may_acquire(held, "x")  # the holder keeps it
    assert not may_acquire([], "a")
