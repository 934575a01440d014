"""ReportUsedNetrc (spec §4.6): the legacy .netrc credential CQDaemon used for a host."""

from __future__ import annotations

from cvmigrate.migration._common import store_errors
from cvmigrate.migration.deps import Deps
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.secretbox import SECRET_KEY_ENV
from cvmigrate.store import credentials

__all__ = ["report_used_netrc"]


async def report_used_netrc(
    request: migration_pb.ReportUsedNetrcRequest, ctx: CallContext, deps: Deps
) -> protobuf_pb.Empty:
    deps.acl.check_caller(ctx)
    deps.acl.check_netrc(ctx)
    if not request.access_token or not request.gerrit_host:
        raise RpcError(Code.INVALID_ARGUMENT, "access_token and gerrit_host required")
    if deps.secret_box is None:
        raise RpcError(
            Code.FAILED_PRECONDITION,
            f"cannot store the token: {SECRET_KEY_ENV} is not set on the server",
        )
    ciphertext = deps.secret_box.encrypt(request.access_token)
    now = deps.clock()
    with store_errors("saving the netrc token"):
        await deps.db.write(credentials.put_netrc_ciphertext, request.gerrit_host, ciphertext, now)
    return protobuf_pb.Empty()
