"""FetchRunStatus: the event/extra table and every error of spec §4.4."""

from __future__ import annotations

import pytest
from conftest_helpers import ctx_for, expect_error
from support import as_upb, change_info, create_run, set_status

from cvmigrate.migration.fetch_run_status import fetch_run_status as handler
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.status import Status


def fetch_run_status(request, ctx, deps):
    """The handler as the server calls it: the request parsed by upb (support.as_upb)."""
    return handler(as_upb(request), ctx, deps)


@pytest.mark.parametrize(
    ("mode", "status", "event", "extra"),
    [
        pytest.param("FULL_RUN", Status.SUCCEEDED, "patch_committed", "", id="full-succeeded"),
        pytest.param("DRY_RUN", Status.SUCCEEDED, "patch_ready_to_commit", "", id="dry-succeeded"),
        pytest.param(
            "QUICK_DRY_RUN", Status.SUCCEEDED, "patch_ready_to_commit", "", id="quick-succeeded"
        ),
        pytest.param("DRY_RUN", Status.FAILED, "patch_failed", "", id="failed"),
        pytest.param(
            "FULL_RUN", Status.CANCELLED, "patch_failed", "CQ bit was unchecked.", id="cancelled"
        ),
        pytest.param(
            "DRY_RUN", Status.ENDED_MASK, "patch_unexpected_cv_status", "ENDED_MASK", id="mask"
        ),
    ],
)
async def test_fetch_run_status_event_table(db, deps, mode, status, event, extra):
    run = await db.write(create_run, changes=[change_info(1)], mode=mode)
    await db.write(set_status, run.id, status)
    request = migration_pb.FetchRunStatusRequest(
        luci_project="chromium", attempt_key=run.attempt_key
    )
    response = await fetch_run_status(request, ctx_for(), deps)
    assert (response.event, response.extra) == (event, extra)


async def test_fetch_run_status_prefers_cv_id(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    await db.write(set_status, run.id, Status.FAILED)
    request = migration_pb.FetchRunStatusRequest(
        luci_project="chromium", cv_id=run.id, attempt_key="other"
    )
    assert (await fetch_run_status(request, ctx_for(), deps)).event == "patch_failed"


async def test_fetch_run_status_errors(db, deps):
    run = await db.write(create_run, changes=[change_info(1)])
    cases = [
        (
            migration_pb.FetchRunStatusRequest(luci_project="chromium", cv_id=run.id),
            Code.INVALID_ARGUMENT,
            "attempt_key is required",
        ),
        (
            migration_pb.FetchRunStatusRequest(attempt_key=run.attempt_key),
            Code.INVALID_ARGUMENT,
            "luci_project is required",
        ),
        (
            migration_pb.FetchRunStatusRequest(luci_project="chromium", attempt_key="nope"),
            Code.NOT_FOUND,
            "Run does not exist",
        ),
        (
            migration_pb.FetchRunStatusRequest(
                luci_project="chromium", attempt_key=run.attempt_key
            ),
            Code.FAILED_PRECONDITION,
            f'Run "{run.id}" is not final yet (RUNNING)',
        ),
    ]
    for request, code, message in cases:
        err = await expect_error(code, fetch_run_status(request, ctx_for(), deps))
        assert err.message == message


async def test_fetch_run_status_other_project_denied(db, deps):
    run = await db.write(create_run, project="v8", changes=[change_info(1)])
    await db.write(set_status, run.id, Status.FAILED)
    # Asking under one's own project name for another project's Run is still denied.
    request = migration_pb.FetchRunStatusRequest(
        luci_project="chromium", attempt_key=run.attempt_key
    )
    await expect_error(Code.PERMISSION_DENIED, fetch_run_status(request, ctx_for(), deps))
