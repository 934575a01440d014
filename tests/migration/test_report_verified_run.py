"""ReportVerifiedRun: lookup by ID or attempt key, first write wins, event in one transaction."""

from __future__ import annotations

import pytest
from conftest_helpers import ctx_for, expect_error
from support import as_upb, change_info, create_run

from cvmigrate.migration.report_verified_run import report_verified_run as handler
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import DecodeError
from cvmigrate.rpc.codes import Code
from cvmigrate.store import events, reports

Action = migration_pb.ReportVerifiedRunRequestAction


def report_verified_run(request, ctx, deps):
    """The handler as the server calls it: the request parsed by upb (support.as_upb)."""
    return handler(as_upb(request), ctx, deps)


def _request(run_id: str = "", key: str = "", action: Action = Action.DRY_RUN_OK, msg: str = ""):
    attempt = (
        bigquery_pb.Attempt(key=key, status=bigquery_pb.AttemptStatus.SUCCESS) if key else None
    )
    return migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(id=run_id, attempt=attempt), action=action, final_message=msg
    )


async def test_report_verified_run_by_attempt_key_stores_report_and_event(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await report_verified_run(_request(key=run.attempt_key), ctx_for(), deps)

    stored = await db.read(lambda c: reports.get_verified(c, run.id))
    payload = migration_pb.ReportVerifiedRunRequest.parse(stored)
    assert payload.run.id == ""  # the Run ID is the key
    assert payload.run.attempt.key == run.attempt_key
    assert payload.action is Action.DRY_RUN_OK
    queued = await db.read(lambda c: events.list_events(c, run_id=run.id))
    assert [(e.kind, e.payload) for e in queued] == [
        ("cqd_verification_completed", {"action": int(Action.DRY_RUN_OK)})
    ]


async def test_report_verified_run_by_run_id_without_attempt(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await report_verified_run(_request(run_id=run.id, action=Action.FAIL), ctx_for(), deps)
    assert await db.read(lambda c: reports.get_verified(c, run.id)) is not None


async def test_report_verified_run_repeat_keeps_first_report(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await report_verified_run(
        _request(run_id=run.id, action=Action.FAIL, msg="first"), ctx_for(), deps
    )
    await report_verified_run(
        _request(run_id=run.id, action=Action.SUBMIT, msg="2nd"), ctx_for(), deps
    )

    payload = migration_pb.ReportVerifiedRunRequest.parse(
        await db.read(lambda c: reports.get_verified(c, run.id))
    )
    assert (payload.action, payload.final_message) == (Action.FAIL, "first")
    assert len(await db.read(lambda c: events.list_events(c, run_id=run.id))) == 1


async def test_report_verified_run_needs_id_or_attempt_key(db, deps):
    err = await expect_error(
        Code.INVALID_ARGUMENT, report_verified_run(_request(), ctx_for(), deps)
    )
    assert "run.id or run.attempt.key" in err.message
    await expect_error(
        Code.INVALID_ARGUMENT,
        report_verified_run(migration_pb.ReportVerifiedRunRequest(), ctx_for(), deps),
    )


async def test_report_verified_run_unknown_run_is_not_found_and_saves_nothing(db, deps):
    err = await expect_error(
        Code.NOT_FOUND, report_verified_run(_request(run_id="chromium/1-1-ab"), ctx_for(), deps)
    )
    assert err.message == 'Run "chromium/1-1-ab" does not exist'
    await expect_error(
        Code.NOT_FOUND, report_verified_run(_request(key="0123456789abcdef"), ctx_for(), deps)
    )
    assert (
        await db.read(lambda c: c.execute("SELECT COUNT(*) FROM verified_runs").fetchone()[0]) == 0
    )
    assert await db.read(lambda c: events.list_events(c)) == []


async def test_report_verified_run_other_projects_run_is_denied(db, deps):
    run = await db.write(create_run, project="v8", changes=[change_info(1)])
    await expect_error(
        Code.PERMISSION_DENIED,
        report_verified_run(_request(run_id=run.id), ctx_for("project:chromium"), deps),
    )
    assert await db.read(lambda c: reports.get_verified(c, run.id)) is None


async def test_report_verified_run_denies_outsiders_before_validation(db, deps):
    await expect_error(
        Code.PERMISSION_DENIED, report_verified_run(_request(), ctx_for("user:x@y.z"), deps)
    )


async def test_binary_reports_are_decoded_by_the_writer_and_garbage_saves_nothing(db, deps):
    # A binary request reaches the handler as bytes (MethodInfo.binary_to_handler).
    run = await db.write(create_run, changes=[change_info(1)])
    with pytest.raises(DecodeError):
        await handler(b"\x0a\xff", ctx_for(), deps)
    assert await db.read(lambda c: reports.get_verified(c, run.id)) is None
    await handler(bytes(_request(run_id=run.id)), ctx_for(), deps)
    assert await db.read(lambda c: reports.get_verified(c, run.id)) is not None
