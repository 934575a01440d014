"""ReportFinishedRun: validation, Run lookup, last write wins, finalization event."""

from __future__ import annotations

import json

from conftest_helpers import ctx_for, expect_error
from support import HOST, change_info, create_run, execute_sql, set_status

from cvmigrate.migration.report_finished_run import report_finished_run
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.status import Status
from cvmigrate.store import events, outbox, reports


def _request(
    key: str, run_id: str = "", *, changes: int = 1, status=bigquery_pb.AttemptStatus.SUCCESS
):
    return migration_pb.ReportFinishedRunRequest(
        run=migration_pb.ReportedRun(
            id=run_id,
            attempt=bigquery_pb.Attempt(
                key=key,
                luci_project="chromium",
                status=status,
                gerrit_changes=[
                    bigquery_pb.GerritChange(host=HOST, change=n + 1) for n in range(changes)
                ],
            ),
        )
    )


async def test_report_finished_run_binds_run_found_by_attempt_key_and_queues_event(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await report_finished_run(_request(run.attempt_key), ctx_for(), deps)

    run_id, payload = await db.read(lambda c: reports.get_finished(c, run.attempt_key))
    assert run_id == run.id
    assert migration_pb.ReportedRun.parse(payload).id == run.id  # back-filled
    assert [e.kind for e in await db.read(lambda c: events.list_events(c, run_id=run.id))] == [
        "cqd_finished"
    ]


async def test_report_finished_run_without_run_is_saved_unclaimed(db, deps):
    await report_finished_run(_request("00000000000000aa"), ctx_for(), deps)
    run_id, _ = await db.read(lambda c: reports.get_finished(c, "00000000000000aa"))
    assert run_id is None
    assert await db.read(lambda c: events.list_events(c)) == []
    # CQDaemon's report is the attempt's only record: its BigQuery row is queued.
    (row,) = await db.read(lambda c: outbox.list_rows(c))
    assert row.dedup_key == "attempt-00000000000000aa"
    data = json.loads(row.row_json)
    assert (data["key"], data["luci_project"], data["status"]) == (
        "00000000000000aa",
        "chromium",
        "SUCCESS",
    )


async def test_report_finished_run_repeat_without_run_updates_the_pending_row(db, deps):
    await report_finished_run(_request("00000000000000aa", changes=1), ctx_for(), deps)
    await report_finished_run(_request("00000000000000aa", changes=2), ctx_for(), deps)
    (row,) = await db.read(lambda c: outbox.list_rows(c))
    assert len(json.loads(row.row_json)["gerrit_changes"]) == 2


async def test_report_finished_run_last_write_wins(db, deps):
    await report_finished_run(
        _request("00000000000000aa", status=bigquery_pb.AttemptStatus.FAILURE), ctx_for(), deps
    )
    await report_finished_run(_request("00000000000000aa", changes=2), ctx_for(), deps)
    _, payload = await db.read(lambda c: reports.get_finished(c, "00000000000000aa"))
    stored = migration_pb.ReportedRun.parse(payload)
    assert stored.attempt.status is bigquery_pb.AttemptStatus.SUCCESS
    assert len(stored.attempt.gerrit_changes) == 2


async def test_report_finished_run_ended_run_gets_no_event(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await db.write(set_status, run.id, Status.CANCELLED)
    await report_finished_run(_request(run.attempt_key), ctx_for(), deps)
    assert await db.read(lambda c: events.list_events(c)) == []


async def test_report_finished_run_validation_order(db, deps):
    empty = migration_pb.ReportFinishedRunRequest()
    err = await expect_error(Code.INVALID_ARGUMENT, report_finished_run(empty, ctx_for(), deps))
    assert err.message == "attempt key is required"
    err = await expect_error(
        Code.INVALID_ARGUMENT, report_finished_run(_request("k", changes=0), ctx_for(), deps)
    )
    assert err.message == "at least 1 gerrit change is required"


async def test_report_finished_run_unknown_run_id_is_not_found_and_saves_nothing(db, deps):
    err = await expect_error(
        Code.NOT_FOUND, report_finished_run(_request("k", run_id="chromium/1-1-k"), ctx_for(), deps)
    )
    assert err.message == 'Run "chromium/1-1-k" does not exist'
    assert await db.read(lambda c: reports.get_finished(c, "k")) is None


async def test_report_finished_run_other_project_is_denied(db, deps):
    await expect_error(
        Code.PERMISSION_DENIED, report_finished_run(_request("k"), ctx_for("project:v8"), deps)
    )
    assert await db.read(lambda c: reports.get_finished(c, "k")) is None


async def test_report_finished_run_storage_failure_is_unavailable_not_ok(db, deps):
    # Make every write fail: the caller must see a retryable error, never a silent OK.
    await db.write(
        execute_sql,
        "CREATE TRIGGER fail_finished BEFORE INSERT ON finished_runs"
        " BEGIN SELECT RAISE(ABORT, 'disk'); END",
    )
    await expect_error(Code.UNAVAILABLE, report_finished_run(_request("k"), ctx_for(), deps))
