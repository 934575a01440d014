"""FetchExcludedCLs: CLs of verified Runs that are not ended yet (spec §4.8)."""

from __future__ import annotations

from conftest_helpers import ctx_for, expect_error
from support import HOST, T0, change_info, create_run, set_status

from cvmigrate.migration.fetch_excluded_cls import fetch_excluded_cls
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.status import Status
from cvmigrate.store import reports


async def _verify(db, run_id):
    await db.write(reports.insert_verified_if_absent, run_id, b"", T0)


async def test_fetch_excluded_cls_lists_verified_unended_runs_cls(db, deps):
    verified = await db.write(create_run, changes=[change_info(3), change_info(2)])
    submitting = await db.write(create_run, changes=[change_info(7)], mode="FULL_RUN")
    ended = await db.write(create_run, changes=[change_info(8)])
    pending = await db.write(create_run, changes=[change_info(9)], status=Status.PENDING)
    await db.write(create_run, changes=[change_info(10)])  # not verified
    await db.write(create_run, project="v8", changes=[change_info(11)])
    for run in (verified, submitting, ended, pending):
        await _verify(db, run.id)
    await db.write(set_status, submitting.id, Status.SUBMITTING)
    await db.write(set_status, ended.id, Status.SUCCEEDED)

    response = await fetch_excluded_cls(
        migration_pb.FetchExcludedCLsRequest(luci_project="chromium"), ctx_for(), deps
    )
    # CLIDs were assigned in creation order: 3, 2, 7 → sorted by CLID.
    assert [(cl.host, cl.change) for cl in response.cls] == [(HOST, 3), (HOST, 2), (HOST, 7)]
    assert all(cl.patchset == 0 and cl.project == "" for cl in response.cls)


async def test_fetch_excluded_cls_empty_and_errors(db, deps):
    response = await fetch_excluded_cls(
        migration_pb.FetchExcludedCLsRequest(luci_project="chromium"), ctx_for(), deps
    )
    assert response.cls == []
    await expect_error(
        Code.INVALID_ARGUMENT,
        fetch_excluded_cls(migration_pb.FetchExcludedCLsRequest(), ctx_for(), deps),
    )
    await expect_error(
        Code.PERMISSION_DENIED,
        fetch_excluded_cls(
            migration_pb.FetchExcludedCLsRequest(luci_project="v8"), ctx_for(), deps
        ),
    )
