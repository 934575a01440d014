"""ReportRuns: stored per project; a run without attempt is named in the error."""

from __future__ import annotations

import pytest
from conftest_helpers import ctx_for, expect_error
from support import as_upb, change_info, create_run

from cvmigrate.migration.report_runs import report_runs as handler
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import DecodeError
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.divergence import divergence
from cvmigrate.runs.status import Status
from cvmigrate.store import reports
from cvmigrate.store import runs as runs_store


def report_runs(request, ctx, deps):
    """The handler as the server calls it: the request parsed by upb (support.as_upb)."""
    return handler(as_upb(request), ctx, deps)


def _run(key: str, project: str = "chromium", run_id: str = "") -> migration_pb.ReportedRun:
    return migration_pb.ReportedRun(
        id=run_id, attempt=bigquery_pb.Attempt(key=key, luci_project=project)
    )


async def test_report_runs_stores_latest_report_and_divergence(db, deps):
    cv_only = await db.write(create_run, changes=[change_info(1)])
    both = await db.write(create_run, changes=[change_info(2)])
    request = migration_pb.ReportRunsRequest(
        runs=[_run(both.attempt_key), _run("cqd0000000000001")]
    )
    await report_runs(request, ctx_for(), deps)

    keys, _ = await db.read(lambda c: reports.get_reported_attempt_keys(c, "chromium"))
    assert keys == sorted([both.attempt_key, "cqd0000000000001"])
    running = await db.read(
        lambda c: runs_store.list_runs(c, project="chromium", statuses=[Status.RUNNING])
    )
    result = divergence(keys, running)
    assert result.only_cqdaemon == ("cqd0000000000001",)
    assert result.only_cv == (cv_only.id,)


async def test_report_runs_replaces_previous_report_even_with_nothing(db, deps):
    await report_runs(migration_pb.ReportRunsRequest(runs=[_run("k1")]), ctx_for(), deps)
    await report_runs(migration_pb.ReportRunsRequest(), ctx_for(), deps)
    keys, _ = await db.read(lambda c: reports.get_reported_attempt_keys(c, "chromium"))
    assert keys == []


async def test_report_runs_rejects_run_without_attempt_naming_it_and_saves_nothing(db, deps):
    request = migration_pb.ReportRunsRequest(runs=[_run("k1"), migration_pb.ReportedRun(id="x")])
    err = await expect_error(Code.INVALID_ARGUMENT, report_runs(request, ctx_for(), deps))
    assert err.message == "runs[1]: attempt is required"
    assert await db.read(lambda c: reports.get_reported_attempt_keys(c, "chromium")) is None


async def test_report_runs_for_another_project_is_denied(db, deps):
    request = migration_pb.ReportRunsRequest(runs=[_run("k1", project="v8")])
    await expect_error(Code.PERMISSION_DENIED, report_runs(request, ctx_for(), deps))
    assert await db.read(lambda c: reports.get_reported_attempt_keys(c, "v8")) is None


async def test_report_runs_cross_project_setting_allows_it(db, make_deps):
    request = migration_pb.ReportRunsRequest(runs=[_run("k1", project="v8")])
    await report_runs(request, ctx_for(), make_deps(cross_project=True))
    assert (await db.read(lambda c: reports.get_reported_attempt_keys(c, "v8")))[0] == ["k1"]


def _stored_payload(conn, project: str) -> bytes:
    row = conn.execute("SELECT payload_pb FROM reported_runs WHERE project = ?", (project,))
    return bytes(row.fetchone()[0])


async def test_report_runs_keeps_a_binary_request_as_it_came(db, deps):
    request = migration_pb.ReportRunsRequest(runs=[_run("k1"), _run("k2")])
    # As received (a binary request reaches the handler as bytes): the same runs plus a
    # field this version does not know (number 99).
    as_received = bytes(request) + b"\x98\x06\x01"
    await report_runs(as_received, ctx_for(), deps)
    assert await db.read(lambda c: _stored_payload(c, "chromium")) == as_received
    keys, _ = await db.read(lambda c: reports.get_reported_attempt_keys(c, "chromium"))
    assert keys == ["k1", "k2"]


async def test_report_runs_of_binary_garbage_is_a_decode_error_and_saves_nothing(db, deps):
    with pytest.raises(DecodeError, match="truncated varint"):
        await report_runs(b"\x0a\xff", ctx_for(), deps)
    assert await db.read(reports.reported_projects) == []


async def test_report_runs_of_several_projects_stores_each_projects_runs(db, make_deps):
    deps = make_deps(cross_project=True)
    request = migration_pb.ReportRunsRequest(runs=[_run("k1"), _run("k2", project="v8")])
    await report_runs(bytes(request), ctx_for(), deps)
    for project, key in (("chromium", "k1"), ("v8", "k2")):
        payload = await db.read(lambda c, project=project: _stored_payload(c, project))
        stored = migration_pb.ReportRunsRequest.parse(payload)
        assert [run.attempt.key for run in stored.runs] == [key]


async def test_report_runs_does_not_wait_for_fsync(db, deps, monkeypatch):
    # The report is replaced on every CQDaemon loop (and CV stored nothing): its write is
    # committed without fsync unless it shares a batch with a durable one (store/db.py).
    calls = []
    real = type(db).write

    async def spy(self, fn, /, *args, durable=True, **kwargs):
        calls.append({"durable": durable})
        return await real(self, fn, *args, durable=durable, **kwargs)

    monkeypatch.setattr(type(db), "write", spy)
    await report_runs(migration_pb.ReportRunsRequest(runs=[_run("k1")]), ctx_for(), deps)
    assert calls == [{"durable": False}]
    keys, _ = await db.read(lambda c: reports.get_reported_attempt_keys(c, "chromium"))
    assert keys == ["k1"]


async def test_report_runs_without_luci_project_takes_the_run_ids_then_the_callers(db, make_deps):
    # An attempt without luci_project: the project is the Run ID's, else the caller's.
    request = migration_pb.ReportRunsRequest(
        runs=[_run("k1", project="", run_id="v8/9042331396854-1-0a6686c7f19a33a3"), _run("k2", "")]
    )
    await report_runs(request, ctx_for(), make_deps(cross_project=True))
    for project, key in (("v8", "k1"), ("chromium", "k2")):
        keys, _ = await db.read(lambda c, p=project: reports.get_reported_attempt_keys(c, p))
        assert keys == [key]


async def test_report_runs_without_any_project_is_invalid_and_saves_nothing(db, make_deps):
    # A caller that is no project's (a member of the allow group) must name one.
    deps = make_deps(allow_group=("user:ops@example.com",))
    request = migration_pb.ReportRunsRequest(runs=[_run("k1", project="")])
    ctx = ctx_for(identity="user:ops@example.com")
    err = await expect_error(Code.INVALID_ARGUMENT, report_runs(request, ctx, deps))
    assert err.message == "runs[0]: attempt.luci_project is required"
    assert await db.read(reports.reported_projects) == []
