"""ReportFinishedRun (spec §4.2): CQDaemon finalized an attempt itself; last report wins."""

from __future__ import annotations

import logging

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.migration.report_finished_run_save import save_finished
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.runs.event_kinds import CQD_FINISHED
from cvmigrate.store import runs as runs_store
from cvmigrate.telemetry import current_trace_context

__all__ = ["CQD_FINISHED", "report_finished_run"]

log = logging.getLogger(__name__)


async def report_finished_run(
    request: migration_pb.ReportFinishedRunRequest, ctx: CallContext, deps: Deps
) -> protobuf_pb.Empty:
    deps.acl.check_caller(ctx)
    run = request.run
    attempt = run.attempt if run else None
    if run is None or attempt is None or not attempt.key:
        raise RpcError(Code.INVALID_ARGUMENT, "attempt key is required")
    if not attempt.gerrit_changes:
        raise RpcError(Code.INVALID_ARGUMENT, "at least 1 gerrit change is required")
    ctx.attributes["cv.attempt_key"] = attempt.key

    with store_errors("looking up the Run"):
        found = await deps.db.read(lambda c: runs_store.locate_run(c, run.id, attempt.key))
    if run.id and found is None:
        raise RpcError(Code.NOT_FOUND, f'Run "{run.id}" does not exist')
    project = found.project if found else (attempt.luci_project or run.id.partition("/")[0])
    if project:
        deps.acl.check_project(ctx, project)
        ctx.attributes["cv.luci_project"] = project
    if found is None:
        log.warning("ReportFinishedRun: no Run for attempt %s yet; saved unclaimed", attempt.key)
    else:
        run.id = found.id
        ctx.attributes["cv.run_id"] = found.id
    payload = bytes(run)
    now = deps.clock()
    trace_context = current_trace_context()

    # CV's handler dropped save errors and answered OK (bug, spec §4.2); we answer UNAVAILABLE.
    with store_errors("saving the finished run"):
        again = await deps.db.write(
            save_finished, attempt, run.id, found.id if found else None, payload, now, trace_context
        )
    if again:
        log.warning("ReportFinishedRun: attempt %s reported again; overwriting", attempt.key)
    return protobuf_pb.Empty()
