"""The eight migration.Migration RPC handlers: validate, orchestrate, build the response."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.rpc.methods import MIGRATION_METHODS, MIGRATION_SERVICE, Handler, Service

if TYPE_CHECKING:
    from cvmigrate.migration.deps import Deps

__all__ = ["build_service", "migration_handlers", "unimplemented"]


def unimplemented(method: str) -> Handler:
    """A handler for a method not built yet: answers UNIMPLEMENTED."""

    async def handler(request: Any, ctx: CallContext) -> Any:
        raise RpcError(Code.UNIMPLEMENTED, f"method {method} not implemented")

    return handler


def migration_handlers(deps: Callable[[], Deps]) -> dict[str, Handler]:
    """Every built handler, bound to `deps()` (called per request: set up by the lifespan)."""
    from cvmigrate.migration.fetch_active_runs import fetch_active_runs
    from cvmigrate.migration.fetch_excluded_cls import fetch_excluded_cls
    from cvmigrate.migration.fetch_run_status import fetch_run_status
    from cvmigrate.migration.post_gerrit_message import post_gerrit_message
    from cvmigrate.migration.report_finished_run import report_finished_run
    from cvmigrate.migration.report_runs import report_runs
    from cvmigrate.migration.report_used_netrc import report_used_netrc
    from cvmigrate.migration.report_verified_run import report_verified_run

    def bind(handler: Callable[[Any, CallContext, Deps], Any]) -> Handler:
        async def bound(request: Any, ctx: CallContext) -> Any:
            return await handler(request, ctx, deps())

        return bound

    return {
        "ReportRuns": bind(report_runs),
        "ReportFinishedRun": bind(report_finished_run),
        "ReportVerifiedRun": bind(report_verified_run),
        "FetchRunStatus": bind(fetch_run_status),
        "PostGerritMessage": bind(post_gerrit_message),
        "FetchActiveRuns": bind(fetch_active_runs),
        "FetchExcludedCLs": bind(fetch_excluded_cls),
        "ReportUsedNetrc": bind(report_used_netrc),
    }


def build_service(handlers: dict[str, Handler] | None = None) -> Service:
    """The Migration service; methods without a handler answer UNIMPLEMENTED."""
    handlers = dict(handlers or {})
    unknown = set(handlers) - set(MIGRATION_METHODS)
    if unknown:
        raise ValueError(f"handlers for unknown methods: {sorted(unknown)}")
    for name in MIGRATION_METHODS:
        handlers.setdefault(name, unimplemented(name))
    return Service(name=MIGRATION_SERVICE, methods=MIGRATION_METHODS, handlers=handlers)
