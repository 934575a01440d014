"""PostGerritMessage (spec §4.5): validation and preconditions; posting needs the Gerrit client."""

from __future__ import annotations

import asyncio

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store import cls as cls_store
from cvmigrate.store import runs as runs_store

__all__ = ["post_gerrit_message", "validate_post_gerrit_message"]


def validate_post_gerrit_message(request: migration_pb.PostGerritMessageRequest) -> None:
    """Spec §4.5 steps 2–6, in that order; raises INVALID_ARGUMENT."""
    if not request.host or request.change <= 0 or not request.revision:
        raise RpcError(Code.INVALID_ARGUMENT, "host, change and revision are required")
    if "/" in request.host:
        raise RpcError(
            Code.INVALID_ARGUMENT,
            f"host/change are invalid: host {request.host!r} must not contain '/'",
        )
    if not request.project:
        raise RpcError(Code.INVALID_ARGUMENT, "project is required")
    # Spec §10.2: CV required attempt_key even with run_id; we accept either one.
    if not request.run_id and not request.attempt_key:
        raise RpcError(Code.INVALID_ARGUMENT, "run_id or attempt_key is required")
    if not request.comment:
        raise RpcError(Code.INVALID_ARGUMENT, "comment is required")
    # CV posted an empty message for a whitespace-only comment (spec §4.5 edge cases).
    if not request.comment.strip():
        raise RpcError(Code.INVALID_ARGUMENT, "comment is blank")


async def post_gerrit_message(
    request: migration_pb.PostGerritMessageRequest, ctx: CallContext, deps: Deps
) -> migration_pb.PostGerritMessageResponse:
    deps.acl.check_caller(ctx)
    validate_post_gerrit_message(request)
    deps.acl.check_project(ctx, request.project)
    ctx.attributes["cv.luci_project"] = request.project
    if request.attempt_key:
        ctx.attributes["cv.attempt_key"] = request.attempt_key

    with store_errors("looking up the Run and CL"):
        run, cl = await asyncio.gather(
            deps.db.read(lambda c: runs_store.locate_run(c, request.run_id, request.attempt_key)),
            deps.db.read(lambda c: cls_store.get_cl(c, request.host, request.change)),
        )
    if run is None:
        raise RpcError(
            Code.UNAVAILABLE,
            f'Run "{request.run_id}" | Attempt "{request.attempt_key}" doesn\'t exist',
        )
    ctx.attributes["cv.run_id"] = run.id
    if cl is None or cl.snapshot is None:
        raise RpcError(
            Code.UNAVAILABLE, f"https://{request.host}/{request.change} is not yet known to CV"
        )
    if run.project != request.project:
        raise RpcError(
            Code.FAILED_PRECONDITION,
            f'Run "{run.id}" belongs to project {run.project!r}, not {request.project!r}',
        )
    if run.is_ended:
        raise RpcError(
            Code.FAILED_PRECONDITION, f'Run "{run.id}" is already finished ({run.status.name})'
        )
    raise RpcError(Code.UNIMPLEMENTED, "posting to Gerrit is not implemented yet")
