"""FetchExcludedCLs (spec §4.8): CLs of verified Runs CV has not finished yet."""

from __future__ import annotations

import sqlite3

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store import cls as cls_store
from cvmigrate.store import reports

__all__ = ["fetch_excluded_cls"]


async def fetch_excluded_cls(
    request: migration_pb.FetchExcludedCLsRequest, ctx: CallContext, deps: Deps
) -> migration_pb.FetchExcludedCLsResponse:
    deps.acl.check_caller(ctx)
    if not request.luci_project:
        raise RpcError(Code.INVALID_ARGUMENT, "luci_project is required")
    deps.acl.check_project(ctx, request.luci_project)
    ctx.attributes["cv.luci_project"] = request.luci_project

    def load(conn: sqlite3.Connection) -> list[cls_store.CLRecord]:
        ids = reports.excluded_cl_ids(conn, request.luci_project)
        records = cls_store.load_cl_records(conn, ids)
        return [records[cl_id] for cl_id in ids if cl_id in records]

    with store_errors("loading excluded CLs"):
        records = await deps.db.read(load)
    return migration_pb.FetchExcludedCLsResponse(
        cls=[bigquery_pb.GerritChange(host=cl.host, change=cl.change) for cl in records]
    )
