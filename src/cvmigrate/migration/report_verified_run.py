"""ReportVerifiedRun (spec §4.3): CQDaemon verified a Run; CV acts. First report wins."""

from __future__ import annotations

from google.protobuf import empty_pb2

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.runs.event_kinds import CQD_VERIFICATION_COMPLETED
from cvmigrate.store import reports
from cvmigrate.telemetry import current_trace_context

__all__ = ["CQD_VERIFICATION_COMPLETED", "report_verified_run"]


async def report_verified_run(
    request: migration_pb2.ReportVerifiedRunRequest, ctx: CallContext, deps: Deps
) -> empty_pb2.Empty:
    """The request is an official-runtime message (rpc/methods.py `request_upb`)."""
    deps.acl.check_caller(ctx)
    run = request.run
    attempt_key = run.attempt.key  # "" when unset (upb reads defaults through)
    # Spec §10.1: the original required run.id, then the attempt key, then run.id again.
    # We accept either and require at least one.
    if not (run.id or attempt_key):
        raise RpcError(Code.INVALID_ARGUMENT, "run.id or run.attempt.key is required")
    run_id = run.id
    # Stored without run.id: the Run ID is the key (as CV's VerifiedCQDRun).
    run.id = ""
    payload = request.SerializeToString()
    now = deps.clock()
    trace_context = current_trace_context()

    with store_errors("saving the verified run"):
        # The Run is looked up in the write's transaction: the event loop does not do the
        # lookup as well (bench/, issue 8).
        found = await deps.db.write(
            reports.save_verified_run,
            run_id,
            attempt_key,
            deps.acl.project_scope(ctx),
            payload,
            now,
            CQD_VERIFICATION_COMPLETED,
            {"action": int(request.action)},
            trace_context,
        )
    if found is None:
        raise RpcError(Code.NOT_FOUND, f'Run "{run_id}" does not exist')
    deps.acl.check_project(ctx, found.project)  # nothing was saved if this fails
    ctx.attributes.update({"cv.run_id": found.id, "cv.luci_project": found.project})
    if attempt_key:
        ctx.attributes["cv.attempt_key"] = attempt_key
    return empty_pb2.Empty()
