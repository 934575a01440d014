"""ReportRuns (spec §4.1): CQDaemon's current attempts, kept per project for divergence checks."""

from __future__ import annotations

from collections import defaultdict

from google.protobuf import empty_pb2

from cvmigrate.auth import project_of
from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store import reports

__all__ = ["report_runs"]


async def report_runs(
    request: migration_pb2.ReportRunsRequest, ctx: CallContext, deps: Deps
) -> empty_pb2.Empty:
    """The request is an official-runtime message (rpc/methods.py `request_upb`)."""
    deps.acl.check_caller(ctx)
    caller_project = project_of(ctx.identity)
    by_project: dict[str, list[migration_pb2.ReportedRun]] = defaultdict(list)
    keys_by_project: dict[str, list[str]] = defaultdict(list)
    if caller_project:
        by_project.setdefault(caller_project, [])  # an empty report says: nothing running
        keys_by_project.setdefault(caller_project, [])
    for index, run in enumerate(request.runs):
        attempt = run.attempt  # each access builds a wrapper: read it once
        project = attempt.luci_project
        if not project:  # (a luci_project set means the attempt is there: no HasField)
            # CV's handler crashed on a run without attempt (INTERNAL); we name the entry.
            if not run.HasField("attempt"):
                raise RpcError(Code.INVALID_ARGUMENT, f"runs[{index}]: attempt is required")
            project = run.id.partition("/")[0] or caller_project
            if not project:
                raise RpcError(
                    Code.INVALID_ARGUMENT, f"runs[{index}]: attempt.luci_project is required"
                )
        by_project[project].append(run)
        if key := attempt.key:
            keys_by_project[project].append(key)
    for project in by_project:
        deps.acl.check_project(ctx, project)
    ctx.attributes["cv.luci_project"] = ",".join(sorted(by_project))
    if not by_project:
        return empty_pb2.Empty()
    now = deps.clock()
    # A binary report of one project (CQDaemon's always is) is the request itself: kept as
    # it came, not re-encoded (bench/, issue 8).
    if len(by_project) == 1 and ctx.request_message is not None:
        (project,) = by_project
        snapshots = [(project, keys_by_project[project], ctx.request_message)]
    else:
        snapshots = [
            (
                project,
                keys_by_project[project],
                migration_pb2.ReportRunsRequest(runs=runs).SerializeToString(),
            )
            for project, runs in by_project.items()
        ]
    # A snapshot the next loop replaces (CV itself stored nothing, spec §4.1): its commit
    # need not wait for fsync (Database.write durable=False); it survives kill -9.
    with store_errors("saving the report"):
        await deps.db.write(reports.put_reported_runs_many, snapshots, now, durable=False)
    return empty_pb2.Empty()
