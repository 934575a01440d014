"""A method is data: its name, message types, idempotency, and the handler that serves it."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.proto.migration import migration_pb2

if TYPE_CHECKING:
    import betterproto2
    from google.protobuf.message import Message as UpbMessage

    from cvmigrate.rpc.context import CallContext

__all__ = [
    "MIGRATION_METHODS",
    "MIGRATION_SERVICE",
    "Handler",
    "MethodInfo",
    "Service",
]

Handler = Callable[[Any, "CallContext"], Awaitable[Any]]
"""`async def handler(request, ctx) -> response`; raises `RpcError` for failures."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MethodInfo:
    """One unary RPC of a service."""

    name: str
    service: str
    request_type: type[betterproto2.Message]
    """The request's schema: what is decoded and checked (rpc/codec.py)."""
    response_type: type[betterproto2.Message]
    request_upb: type[UpbMessage] | None = None
    """When set, the handler receives the request as this official-runtime (upb) message,
    parsed in C with the same verdicts as `request_type` (rpc/upb_codec.py): for the calls
    CQDaemon makes on every loop, whose betterproto2 parsing dominated the CPU (issue 8)."""
    no_side_effects: bool = False
    """True for `idempotency_level = NO_SIDE_EFFECTS` (Connect GET allowed)."""
    binary_to_handler: bool = False
    """When set, a binary request reaches the handler as its bytes, checked only against
    the field limit: the handler has it decoded elsewhere (ReportRuns, ReportVerifiedRun:
    in the database writer process, off the event loop) and raises DecodeError if it is
    invalid, answered as if the server had found it. JSON requests are decoded as for any
    method."""

    @property
    def path(self) -> str:
        """`/migration.Migration/<Method>` (the Connect path; the others add a prefix)."""
        return f"/{self.service}/{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Service:
    """A service's methods with the handler bound to each."""

    name: str
    methods: Mapping[str, MethodInfo]
    handlers: Mapping[str, Handler]


MIGRATION_SERVICE = "migration.Migration"


def _method(
    name: str,
    request: type[Any],
    response: type[Any],
    *,
    no_side_effects: bool = False,
    upb: type[Any] | None = None,
    binary_to_handler: bool = False,
) -> MethodInfo:
    return MethodInfo(
        name=name,
        service=MIGRATION_SERVICE,
        request_type=request,
        response_type=response,
        no_side_effects=no_side_effects,
        request_upb=upb,
        binary_to_handler=binary_to_handler,
    )


# Mirrors schemas/migration/migration.proto; tests check the two agree.
MIGRATION_METHODS: Mapping[str, MethodInfo] = {
    m.name: m
    for m in (
        _method(
            "ReportRuns",
            migration_pb.ReportRunsRequest,
            protobuf_pb.Empty,
            upb=migration_pb2.ReportRunsRequest,
            binary_to_handler=True,
        ),
        _method("ReportFinishedRun", migration_pb.ReportFinishedRunRequest, protobuf_pb.Empty),
        _method(
            "ReportVerifiedRun",
            migration_pb.ReportVerifiedRunRequest,
            protobuf_pb.Empty,
            upb=migration_pb2.ReportVerifiedRunRequest,
            binary_to_handler=True,
        ),
        _method(
            "FetchRunStatus",
            migration_pb.FetchRunStatusRequest,
            migration_pb.FetchRunStatusResponse,
            no_side_effects=True,
            upb=migration_pb2.FetchRunStatusRequest,
        ),
        _method(
            "PostGerritMessage",
            migration_pb.PostGerritMessageRequest,
            migration_pb.PostGerritMessageResponse,
        ),
        _method(
            "FetchActiveRuns",
            migration_pb.FetchActiveRunsRequest,
            migration_pb.FetchActiveRunsResponse,
            no_side_effects=True,
            upb=migration_pb2.FetchActiveRunsRequest,
        ),
        _method(
            "FetchExcludedCLs",
            migration_pb.FetchExcludedCLsRequest,
            migration_pb.FetchExcludedCLsResponse,
            no_side_effects=True,
        ),
        _method("ReportUsedNetrc", migration_pb.ReportUsedNetrcRequest, protobuf_pb.Empty),
    )
}
