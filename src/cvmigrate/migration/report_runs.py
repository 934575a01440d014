"""ReportRuns (spec §4.1): CQDaemon's current attempts, kept per project for divergence checks."""

from __future__ import annotations

from google.protobuf import empty_pb2

from cvmigrate.auth import project_of
from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.migration.report_runs_save import Refused, save_report
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError

__all__ = ["report_runs"]


async def report_runs(
    request: bytes | migration_pb2.ReportRunsRequest, ctx: CallContext, deps: Deps
) -> empty_pb2.Empty:
    """A binary request arrives as its bytes (rpc/methods.py `binary_to_handler`), a JSON
    one as an official-runtime message: either way the writer process decodes, checks and
    stores it (migration/report_runs_save.py), off the event loop."""
    deps.acl.check_caller(ctx)
    message = request if isinstance(request, bytes) else request.SerializeToString()
    # A snapshot the next loop replaces (CV itself stored nothing, spec §4.1): its commit
    # need not wait for fsync (Database.write durable=False); it survives kill -9.
    with store_errors("saving the report"):
        outcome = await deps.db.write(
            save_report,
            message,
            project_of(ctx.identity),
            deps.acl.project_scope(ctx),
            deps.clock(),
            durable=False,
        )
    if isinstance(outcome, Refused):
        if outcome.project:
            deps.acl.check_project(ctx, outcome.project)  # raises PERMISSION_DENIED
        raise RpcError(outcome.code, outcome.message)
    ctx.attributes["cv.luci_project"] = ",".join(sorted(outcome))
    return empty_pb2.Empty()
