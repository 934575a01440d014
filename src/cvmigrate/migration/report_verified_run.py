"""ReportVerifiedRun (spec §4.3): CQDaemon verified a Run; CV acts. First report wins."""

from __future__ import annotations

from google.protobuf import empty_pb2

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.migration.report_verified_run_save import save_verified
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.runs.event_kinds import CQD_VERIFICATION_COMPLETED
from cvmigrate.telemetry import current_trace_context

__all__ = ["CQD_VERIFICATION_COMPLETED", "report_verified_run"]


async def report_verified_run(
    request: bytes | migration_pb2.ReportVerifiedRunRequest, ctx: CallContext, deps: Deps
) -> empty_pb2.Empty:
    """A binary request arrives as its bytes (rpc/methods.py `binary_to_handler`), a JSON
    one as an official-runtime message: either way the writer process decodes it, looks
    the Run up and saves the report in one transaction
    (migration/report_verified_run_save.py), off the event loop."""
    deps.acl.check_caller(ctx)
    message = request if isinstance(request, bytes) else request.SerializeToString()
    with store_errors("saving the verified run"):
        verified = await deps.db.write(
            save_verified,
            message,
            deps.acl.project_scope(ctx),
            deps.clock(),
            current_trace_context(),
        )
    if verified.invalid:
        raise RpcError(Code.INVALID_ARGUMENT, "run.id or run.attempt.key is required")
    if verified.found is None:
        raise RpcError(Code.NOT_FOUND, f'Run "{verified.run_id}" does not exist')
    run_id, project = verified.found
    deps.acl.check_project(ctx, project)  # nothing was saved if this fails
    ctx.attributes.update({"cv.run_id": run_id, "cv.luci_project": project})
    if verified.attempt_key:
        ctx.attributes["cv.attempt_key"] = verified.attempt_key
    return empty_pb2.Empty()
