"""A method is data: its name, message types, idempotency, and the handler that serves it."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb

if TYPE_CHECKING:
    import betterproto2

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
    response_type: type[betterproto2.Message]
    no_side_effects: bool = False
    """True for `idempotency_level = NO_SIDE_EFFECTS` (Connect GET allowed)."""

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
    name: str, request: type[Any], response: type[Any], *, no_side_effects: bool = False
) -> MethodInfo:
    return MethodInfo(
        name=name,
        service=MIGRATION_SERVICE,
        request_type=request,
        response_type=response,
        no_side_effects=no_side_effects,
    )


# Mirrors schemas/migration/migration.proto; tests check the two agree.
MIGRATION_METHODS: Mapping[str, MethodInfo] = {
    m.name: m
    for m in (
        _method("ReportRuns", migration_pb.ReportRunsRequest, protobuf_pb.Empty),
        _method("ReportFinishedRun", migration_pb.ReportFinishedRunRequest, protobuf_pb.Empty),
        _method("ReportVerifiedRun", migration_pb.ReportVerifiedRunRequest, protobuf_pb.Empty),
        _method(
            "FetchRunStatus",
            migration_pb.FetchRunStatusRequest,
            migration_pb.FetchRunStatusResponse,
            no_side_effects=True,
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
