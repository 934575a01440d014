"""The test service for tests/rpc, and Hypercorn serving an app on a real loopback socket.

The test service (see `build_test_service`) answers FetchRunStatus according to the
request's `attempt_key`, so one method covers success, every error code, a crash, a
hang (for deadlines) and a None result; `event` echoes `luci_project` and `extra` reports
what the handler saw (`<protocol> <identity> <deadline ms or none>`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from cvmigrate.migration import build_service
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.rpc.codec import JsonStyle, encode_json
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.rpc.methods import Service

TEST_MAX_BODY_BYTES = 64 * 1024
TEST_MAX_TIMEOUT_S = 30.0
SECRET_DETAIL = "the secret detail of a crash"


class StoredResponse:
    """A PreEncoded FetchActiveRuns answer, as the real handler splices stored bytes."""

    def __init__(self, message: migration_pb.FetchActiveRunsResponse):
        self._binary = bytes(message)
        self._json = {style: encode_json(message, style) for style in JsonStyle}

    def to_binary(self) -> bytes:
        return self._binary

    def to_json(self, style: JsonStyle) -> bytes:
        return self._json[style]


STORED_ACTIVE_RUNS = migration_pb.FetchActiveRunsResponse(
    active_runs=[migration_pb.ActiveRun(id="chromium/8999-1-beef", cls=[migration_pb.RunCl(id=7)])]
)


async def fetch_run_status(
    request: migration_pb.FetchRunStatusRequest, ctx: CallContext
) -> migration_pb.FetchRunStatusResponse | None:
    """Behaves as `attempt_key` says: `code:<n>`, `crash`, `hang`, `none`, else echo."""
    key = request.attempt_key
    if key.startswith("code:"):
        code = Code(int(key.removeprefix("code:")))
        raise RpcError(code, f"failed with {code.name}", meta={"attempt": key})
    if key == "crash":
        raise RuntimeError(SECRET_DETAIL)
    if key == "hang":
        await asyncio.Event().wait()  # never set: only the deadline ends this call
    if key == "none":
        return None
    remaining = ctx.timeout_remaining
    deadline = "none" if remaining is None else str(round(remaining * 1000))
    return migration_pb.FetchRunStatusResponse(
        event=request.luci_project, extra=f"{ctx.protocol} {ctx.identity} {deadline}"
    )


async def fetch_active_runs(
    request: migration_pb.FetchActiveRunsRequest, ctx: CallContext
) -> StoredResponse:
    return StoredResponse(STORED_ACTIVE_RUNS)


async def report_verified_run(
    request: migration_pb.ReportVerifiedRunRequest, ctx: CallContext
) -> protobuf_pb.Empty:
    if request.final_message:
        raise RpcError(Code.INVALID_ARGUMENT, f"echo: {request.final_message}")
    return protobuf_pb.Empty()


def build_test_service() -> Service:
    """The Migration service with the test handlers above; the rest UNIMPLEMENTED."""
    return build_service(
        {
            "FetchRunStatus": fetch_run_status,
            "FetchActiveRuns": fetch_active_runs,
            "ReportVerifiedRun": report_verified_run,
        }
    )


async def authenticate(headers: Mapping[str, str], peer_host: str | None) -> tuple[str, str]:
    """`Authorization: Bearer <name>` is `user:<name>`; `Bearer bad` is rejected."""
    value = headers.get("authorization")
    if value is None:
        return "anonymous:anonymous", "anonymous:anonymous"
    if value == "Bearer bad":
        raise RpcError(Code.UNAUTHENTICATED, "bad token")
    identity = f"user:{value.removeprefix('Bearer ')}"
    return identity, identity
