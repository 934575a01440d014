"""FetchRunStatus (spec §4.4): the CQ status-app event for an ended Run."""

from __future__ import annotations

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.runs.status import Status
from cvmigrate.store import runs as runs_store

__all__ = ["fetch_run_status", "status_event"]


def status_event(run: runs_store.RunRef) -> tuple[str, str]:
    """(event, extra) for an ended Run, exactly as CV's table (spec §4.4)."""
    if run.status is Status.SUCCEEDED:
        if run.mode == "FULL_RUN":
            return "patch_committed", ""
        return "patch_ready_to_commit", ""
    if run.status is Status.FAILED:
        return "patch_failed", ""  # CV never filled in the reason
    if run.status is Status.CANCELLED:
        return "patch_failed", "CQ bit was unchecked."
    return "patch_unexpected_cv_status", run.status.name


async def fetch_run_status(
    request: migration_pb2.FetchRunStatusRequest, ctx: CallContext, deps: Deps
) -> migration_pb2.FetchRunStatusResponse:
    """The request is an official-runtime message (rpc/methods.py `request_upb`)."""
    deps.acl.check_caller(ctx)
    if not request.attempt_key:
        raise RpcError(Code.INVALID_ARGUMENT, "attempt_key is required")
    if not request.luci_project:
        raise RpcError(Code.INVALID_ARGUMENT, "luci_project is required")
    deps.acl.check_project(ctx, request.luci_project)
    ctx.attributes.update(
        {"cv.luci_project": request.luci_project, "cv.attempt_key": request.attempt_key}
    )
    with store_errors("looking up the Run"):
        run = await deps.db.read_point(
            lambda c: runs_store.locate_run_ref(c, request.cv_id, request.attempt_key)
        )
    if run is None:
        raise RpcError(Code.NOT_FOUND, "Run does not exist")
    deps.acl.check_project(ctx, run.project)
    ctx.attributes["cv.run_id"] = run.id
    if not run.is_ended:
        raise RpcError(
            Code.FAILED_PRECONDITION, f'Run "{run.id}" is not final yet ({run.status.name})'
        )
    event, extra = status_event(run)
    return migration_pb2.FetchRunStatusResponse(event=event, extra=extra)
