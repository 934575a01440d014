"""Ending a Run: once, with its BigQuery row queued in the same transaction (spec §5.5)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from support import T0, change_info, create_run

from cvmigrate.runs.end import RunAlreadyEnded, end_run
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.status import Status
from cvmigrate.store import outbox
from cvmigrate.store import runs as runs_store

NOW = T0 + timedelta(hours=2)


class _Abort(Exception):
    """Raised after end_run to make the write roll back."""


def _end_then_fail(conn, run: Run) -> None:
    end_run(conn, run, Status.FAILED, NOW)
    assert outbox.list_rows(conn)  # queued inside the transaction…
    raise _Abort


async def test_end_run_sets_the_end_and_queues_one_row(db):
    run = await db.write(create_run, changes=[change_info(1)])
    ended = await db.write(end_run, run, Status.SUCCEEDED, NOW)
    assert (ended.status, ended.end_time) == (Status.SUCCEEDED, NOW)
    stored = await db.read(lambda c: runs_store.get_run(c, run.id))
    assert (stored.status, stored.end_time) == (Status.SUCCEEDED, NOW)
    (row,) = await db.read(outbox.list_rows)
    assert (row.dedup_key, row.state) == (f"run-{run.id}", "pending")


async def test_end_run_uses_the_reported_end_time_and_keeps_submission(db):
    run = await db.write(create_run, changes=[change_info(1)], mode="FULL_RUN")
    reported_end = NOW - timedelta(minutes=5)
    submission = Submission(cls=run.cl_ids, submitted_cls=run.cl_ids)
    ended = await db.write(
        end_run,
        run,
        Status.SUCCEEDED,
        NOW,
        end_time=reported_end,
        submission=submission,
        finalized_by_cqd=True,
    )
    assert (ended.end_time, ended.submission, ended.finalized_by_cqd) == (
        reported_end,
        submission,
        True,
    )


async def test_end_run_row_and_state_commit_or_roll_back_together(db):
    run = await db.write(create_run, changes=[change_info(1)])

    with pytest.raises(_Abort):
        await db.write(_end_then_fail, run)
    # …and gone with it: the Run is still running and no row waits for BigQuery.
    assert (await db.read(lambda c: runs_store.get_run(c, run.id))).status is Status.RUNNING
    assert await db.read(outbox.list_rows) == []


async def test_second_end_raises_run_already_ended_and_changes_nothing(db):
    run = await db.write(create_run, changes=[change_info(1)])
    await db.write(end_run, run, Status.SUCCEEDED, NOW)
    (first_row,) = await db.read(outbox.list_rows)
    with pytest.raises(RunAlreadyEnded):
        await db.write(end_run, run, Status.CANCELLED, NOW + timedelta(hours=1))
    assert (await db.read(lambda c: runs_store.get_run(c, run.id))).status is Status.SUCCEEDED
    assert await db.read(outbox.list_rows) == [first_row]


async def test_end_run_refuses_a_status_that_is_not_ended(db):
    run = await db.write(create_run, changes=[change_info(1)])
    with pytest.raises(ValueError, match="not an ended status"):
        await db.write(end_run, run, Status.SUBMITTING, NOW)
    assert await db.read(outbox.list_rows) == []


async def test_end_run_of_an_unknown_run_raises_lookup_error(db):
    run = await db.write(create_run, changes=[change_info(1)])
    unknown = dataclasses.replace(run, id=f"{run.id}0")
    with pytest.raises(LookupError):
        await db.write(end_run, unknown, Status.FAILED, NOW)
    assert await db.read(outbox.list_rows) == []
