"""ReportRuns (spec §4.1): CQDaemon's current attempts, kept per project for divergence checks."""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from cvmigrate.auth import project_of
from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store import reports

__all__ = ["report_runs"]


async def report_runs(
    request: migration_pb2.ReportRunsRequest, ctx: CallContext, deps: Deps
) -> protobuf_pb.Empty:
    """The request is an official-runtime message (rpc/methods.py `request_upb`)."""
    deps.acl.check_caller(ctx)
    caller_project = project_of(ctx.identity)
    by_project: dict[str, list[migration_pb2.ReportedRun]] = defaultdict(list)
    if caller_project:
        by_project.setdefault(caller_project, [])  # an empty report says: nothing running
    for index, run in enumerate(request.runs):
        # CV's handler crashed on a run without attempt (INTERNAL); we name the bad entry.
        if not run.HasField("attempt"):
            raise RpcError(Code.INVALID_ARGUMENT, f"runs[{index}]: attempt is required")
        project = run.attempt.luci_project or run.id.partition("/")[0] or caller_project
        if not project:
            raise RpcError(
                Code.INVALID_ARGUMENT, f"runs[{index}]: attempt.luci_project is required"
            )
        by_project[project].append(run)
    for project in by_project:
        deps.acl.check_project(ctx, project)
    ctx.attributes["cv.luci_project"] = ",".join(sorted(by_project))
    if not by_project:
        return protobuf_pb.Empty()
    now = deps.clock()
    # A report of one project (CQDaemon's always is) is the request itself: keep it as it
    # came (re-encoding would cost on the single writer thread, in front of every other
    # durable write; bench/, issue 8).
    as_received = ctx.request_message if len(by_project) == 1 else None

    def save(conn: sqlite3.Connection) -> None:
        for project, runs in by_project.items():
            keys = [run.attempt.key for run in runs if run.attempt.key]
            if as_received is not None:
                payload = as_received
            else:
                payload = migration_pb2.ReportRunsRequest(runs=runs).SerializeToString()
            reports.put_reported_runs(conn, project, keys, payload, now)

    # A snapshot the next loop replaces (CV itself stored nothing, spec §4.1): its commit
    # need not wait for fsync (Database.write durable=False); it survives kill -9.
    with store_errors("saving the report"):
        await deps.db.write(save, durable=False)
    return protobuf_pb.Empty()
