"""cqd_finished: a Run finalized from CQDaemon's report, with no Gerrit calls (spec §4.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from runs_helpers import OWNER, VOTER, load_run

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs import event_kinds
from cvmigrate.runs.finalize_cqd import FinalizeError, decide_cqd_finished
from cvmigrate.runs.model import Submission
from cvmigrate.runs.status import Status
from cvmigrate.store import events, reports

AttemptStatus = bigquery_pb.AttemptStatus
SubmitStatus = bigquery_pb.GerritChangeSubmitStatus
END = datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
RUN_CLS = [(7, "g-review", 70), (8, "g-review", 80)]


def attempt(status, *changes, end_time=END) -> bigquery_pb.Attempt:
    return bigquery_pb.Attempt(
        key="0123456789abcdef", status=status, end_time=end_time, gerrit_changes=list(changes)
    )


def change(number, *, mode=bigquery_pb.Mode.FULL_RUN, submitted=True):
    return bigquery_pb.GerritChange(
        host="g-review",
        change=number,
        mode=mode,
        submit_status=SubmitStatus.SUCCESS if submitted else SubmitStatus.FAILURE,
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (AttemptStatus.ABORTED, Status.CANCELLED),
        (AttemptStatus.FAILURE, Status.FAILED),
        (AttemptStatus.INFRA_FAILURE, Status.FAILED),
    ],
)
def test_status_mapping(status, expected):
    assert decide_cqd_finished(RUN_CLS, attempt(status, change(70))) == (expected, None)


def test_dry_run_success_has_no_submission():
    result = decide_cqd_finished(
        RUN_CLS, attempt(AttemptStatus.SUCCESS, change(70, mode=bigquery_pb.Mode.DRY_RUN))
    )
    assert result == (Status.SUCCEEDED, None)


def test_full_run_success_rebuilds_the_submission_in_report_order():
    status, submission = decide_cqd_finished(
        RUN_CLS, attempt(AttemptStatus.SUCCESS, change(80), change(70))
    )
    assert status is Status.SUCCEEDED
    assert submission == Submission(cls=(8, 7), submitted_cls=(8, 7))


def test_full_run_success_with_an_unsubmitted_cl_is_failed():
    status, submission = decide_cqd_finished(
        RUN_CLS, attempt(AttemptStatus.SUCCESS, change(70), change(80, submitted=False))
    )
    assert status is Status.FAILED
    assert submission == Submission(cls=(7, 8), submitted_cls=(7,))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(attempt(AttemptStatus.STARTED, change(70)), id="started"),
        pytest.param(attempt(AttemptStatus.ATTEMPT_STATUS_UNSPECIFIED, change(70)), id="none"),
        pytest.param(attempt(AttemptStatus.SUCCESS, change(99)), id="foreign-cl"),
    ],
)
def test_unusable_reports_are_errors(bad):
    with pytest.raises(FinalizeError):
        decide_cqd_finished(RUN_CLS, bad)


def _save_finished_report(conn, run, reported: bigquery_pb.Attempt, now: datetime) -> None:
    reported.key = run.attempt_key
    payload = bytes(migration_pb.ReportedRun(id=run.id, attempt=reported))
    reports.upsert_finished(conn, run.attempt_key, run.id, payload, now)
    events.enqueue_event(conn, run.id, event_kinds.CQD_FINISHED, now)


async def _finish(db, clock, run, reported: bigquery_pb.Attempt) -> None:
    await db.write(_save_finished_report, run, reported, clock())


def _full_run_change(fake):
    number = fake.add_change(owner=OWNER).number
    fake.vote(number, "Commit-Queue", VOTER, 2)
    return number


async def test_handler_ends_the_run_finalized_by_cqd_without_gerrit(
    db, clock, fake, make_run, manager
):
    number = _full_run_change(fake)
    run = await make_run([number])
    gc = bigquery_pb.GerritChange(
        host=fake.host, change=number, mode=bigquery_pb.Mode.FULL_RUN,
        submit_status=SubmitStatus.SUCCESS,
    )  # fmt: skip
    await _finish(db, clock, run, attempt(AttemptStatus.SUCCESS, gc))
    await manager.run_once()

    assert fake.requests == []
    ended = await load_run(db, run.id)
    assert ended.status is Status.SUCCEEDED and ended.finalized_by_cqd
    assert ended.end_time == END
    assert ended.submission == Submission(cls=run.cl_ids, submitted_cls=run.cl_ids)


async def test_handler_without_end_time_uses_now(db, clock, fake, make_run, manager):
    run = await make_run([_full_run_change(fake)])
    gc = bigquery_pb.GerritChange(host=fake.host, change=1)
    await _finish(db, clock, run, attempt(AttemptStatus.ABORTED, gc, end_time=None))
    before = clock()
    await manager.run_once()
    ended = await load_run(db, run.id)
    assert ended.status is Status.CANCELLED
    assert ended.end_time is not None and ended.end_time >= before


async def test_handler_retries_a_started_report_and_ignores_ended_runs(
    db, clock, fake, make_run, manager
):
    started = await make_run([_full_run_change(fake)])
    gc = bigquery_pb.GerritChange(host=fake.host, change=1)
    await _finish(db, clock, started, attempt(AttemptStatus.STARTED, gc))
    ended = await make_run([_full_run_change(fake)], status=Status.SUCCEEDED)
    await db.write(events.enqueue_event, ended.id, event_kinds.CQD_FINISHED, clock())
    await manager.run_once()

    by_run = {e.run_id: e for e in await db.read(events.list_events)}
    assert by_run[started.id].attempts == 1
    assert "unexpected status" in by_run[started.id].last_error
    assert (await load_run(db, started.id)).status is Status.RUNNING
    assert by_run[ended.id].done_time is not None
