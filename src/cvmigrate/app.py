"""Wiring: builds the Starlette app, its RPC routes and the lifespan that owns resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cvmigrate.auth import DEV_IDENTITY, Acl, Authenticator
from cvmigrate.config import Settings
from cvmigrate.export.exporter import start_exporter
from cvmigrate.gauges import GaugeSampler
from cvmigrate.gerrit.client import EnvCredentials, GerritClient, NetrcLookup
from cvmigrate.gerrit.errors import GerritCredentialsError
from cvmigrate.gerrit.host_checks import host_problems
from cvmigrate.loop_lag import LoopLagProbe
from cvmigrate.migration import build_service, migration_handlers
from cvmigrate.migration.deps import Deps
from cvmigrate.migration.fetch_active_runs import ActiveRunsCache
from cvmigrate.poller.tasks import start_pollers
from cvmigrate.rpc.server import RpcServer
from cvmigrate.runs.handler_context import HandlerContext
from cvmigrate.runs.manager import ManagerSettings, RunManager
from cvmigrate.runs.submit_queue import DEFAULT_SUBMIT_OPTIONS, SubmitOptions
from cvmigrate.runs.tree import HttpTreeStatus
from cvmigrate.secretbox import SECRET_KEY_ENV, SecretBox, SecretKeyError
from cvmigrate.store import credentials
from cvmigrate.store.db import Database, StoreError

__all__ = ["UnsafeConfiguration", "create_app", "preflight"]

log = logging.getLogger("cvmigrate")


class UnsafeConfiguration(Exception):
    """The configuration would expose the service; the message says how to fix it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _has_stored_tokens(db: Database) -> bool:
    return await db.read(credentials.has_api_tokens)


async def preflight(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse unsafe set-ups before listening: a non-loopback bind needs tokens, a set
    $CVMIGRATE_SECRET_KEY must be valid, and every Gerrit host needs usable credentials
    that do not travel in cleartext (gerrit/host_checks.py). Also applies migrations."""
    environ = os.environ if environ is None else environ
    secret_box = SecretBox.from_env(environ)  # raises SecretKeyError with a clear message
    problems = host_problems(settings.gerrit.hosts, environ, secret_key_set=secret_box is not None)
    if problems:
        raise UnsafeConfiguration("refusing to start: " + "; ".join(problems))
    db = await Database.open(settings.database.path)
    try:
        has_tokens = bool(settings.auth.tokens) or await _has_stored_tokens(db)
    finally:
        await db.close()
    if not settings.is_loopback_bind and not has_tokens:
        raise UnsafeConfiguration(
            f"refusing to listen on {settings.server.bind} without authentication: add "
            "[[auth.tokens]] to the configuration or run `cvmigrate token create IDENTITY`, "
            "or bind to 127.0.0.1"
        )


def _netrc_lookup(db: Database, secret_box: SecretBox | None) -> NetrcLookup:
    """The netrc token CQDaemon reported for a host (ReportUsedNetrc), decrypted."""

    async def lookup(host: str) -> str | None:
        if secret_box is None:
            raise GerritCredentialsError(
                f"{SECRET_KEY_ENV} is not set: cannot decrypt the netrc token for {host}"
            )
        try:
            ciphertext = await db.read(lambda c: credentials.get_netrc_ciphertext(c, host))
            return None if ciphertext is None else secret_box.decrypt(ciphertext)
        except (StoreError, SecretKeyError) as exc:
            raise GerritCredentialsError(f"netrc token for {host}: {exc}") from None

    return lookup


def _submit_options(settings: Settings) -> Callable[[str, str], SubmitOptions]:
    """(project, config group) → its submit options; defaults for unconfigured groups."""
    groups = {
        (project.name, group.name): SubmitOptions(
            max_burst=group.submit_max_burst,
            burst_delay_s=group.submit_burst_delay_s,
            tree_status_url=group.tree_status_url,
        )
        for project in settings.projects
        for group in project.config_groups
    }
    return lambda project, group: groups.get((project, group), DEFAULT_SUBMIT_OPTIONS)


async def _healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


class _Runtime:
    """Resources that exist only between lifespan start and stop."""

    db: Database | None = None
    deps: Deps | None = None

    def require_deps(self) -> Deps:
        if self.deps is None:
            raise RuntimeError("service is not started")
        return self.deps

    def require_db(self) -> Database:
        if self.db is None:
            raise RuntimeError("service is not started")
        return self.db


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utc_now,
    environ: Mapping[str, str] | None = None,
) -> ASGIApp:
    """The whole service as an ASGI app; resources open and close with its lifespan."""
    environ = os.environ if environ is None else environ
    runtime = _Runtime()
    dev_allowed = settings.is_loopback_bind
    secret_box = SecretBox.from_env(environ)
    acl = Acl(settings.auth, dev_identity_allowed=dev_allowed)

    async def stored_token_identity(digest: str) -> str | None:
        return await runtime.require_db().read_point(
            lambda c: credentials.identity_for_token_digest(c, digest)
        )

    authenticator = Authenticator(
        settings.auth,
        stored_token_identity=stored_token_identity,
        has_stored_tokens=lambda: _has_stored_tokens(runtime.require_db()),
        allow_dev_identity=dev_allowed,
    )
    service = build_service(migration_handlers(runtime.require_deps))
    rpc = RpcServer(
        service,
        twirp_prefix=settings.server.twirp_prefix,
        max_body_bytes=settings.server.max_body_bytes,
        max_timeout_s=settings.server.max_timeout_s,
        max_concurrent_requests=settings.server.max_concurrent_requests,
        max_request_fields=settings.server.max_request_fields,
        authenticate=authenticator,
    )

    loop_lag = LoopLagProbe.from_env(environ)  # benchmarks only: CVMIGRATE_DEBUG_LOOP_LAG=1

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await Database.open(
            settings.database.path,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            max_size_bytes=settings.database.max_size_bytes,
        )
        runtime.db = db
        # One aiohttp session for the process (Gerrit, tree status), closed last.
        session = aiohttp.ClientSession()
        gerrit = GerritClient(
            session,
            settings.gerrit.hosts,
            EnvCredentials(environ=environ, netrc_lookup=_netrc_lookup(db, secret_box)),
            max_retries=settings.gerrit.max_retries,
            backoff_base=settings.gerrit.retry_base_s,
            backoff_cap=settings.gerrit.retry_cap_s,
        )
        runtime.deps = Deps(
            db=db,
            acl=acl,
            clock=clock,
            secret_box=secret_box,
            gerrit=gerrit,
            active_runs_cache=ActiveRunsCache()
            if settings.server.fetch_active_runs_cache
            else None,
        )
        manager = RunManager(
            HandlerContext(
                db=db,
                gerrit=gerrit,
                clock=clock,
                tree=HttpTreeStatus(session),
                submit_options=_submit_options(settings),
            ),
            ManagerSettings(
                poll_interval_s=settings.run_manager.poll_interval_s,
                retry_base_s=settings.run_manager.retry_base_s,
                retry_cap_s=settings.run_manager.retry_cap_s,
                concurrency=settings.run_manager.concurrency,
            ),
        )
        manager_task = asyncio.create_task(manager.run_forever(), name="cvmigrate-run-manager")
        # One Gerrit poller per [[projects]] entry: votes become Runs (none configured: none).
        pollers = start_pollers(settings.projects, db=db, gerrit_client=gerrit, clock=clock)
        if dev_allowed and not settings.auth.tokens and not await _has_stored_tokens(db):
            log.warning(
                "NO AUTHENTICATION CONFIGURED: loopback callers without a token act as %s "
                "with full access. Configure [[auth.tokens]] before exposing this service.",
                DEV_IDENTITY,
            )
        if secret_box is None:
            log.warning(
                "%s is not set: ReportUsedNetrc will answer FAILED_PRECONDITION", SECRET_KEY_ENV
            )
        gauges = GaugeSampler(db, clock)
        gauge_task = asyncio.create_task(gauges.run(), name="cvmigrate-gauges")
        exporter = start_exporter(db, settings.bigquery, clock=clock)
        log.info("cvmigrate started (database %s)", settings.database.path)
        if loop_lag is not None:
            loop_lag.start()
        try:
            yield
        finally:
            if loop_lag is not None:
                await loop_lag.stop()
            await pollers.stop()
            manager_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await manager_task
            if exporter is not None:
                await exporter.stop()
            gauge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauge_task
            runtime.deps = None
            runtime.db = None
            await session.close()
            await db.close()
            log.info("cvmigrate stopped")

    own_routes = [
        Route("/healthz", _healthz, methods=["GET"]),
        *([loop_lag.route()] if loop_lag is not None else []),
    ]
    site = Starlette(routes=own_routes, lifespan=lifespan)
    own_paths = frozenset(route.path for route in own_routes)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Everything but the lifespan and the service's own routes goes straight to the RPC
        server (which answers unknown paths itself): Starlette's middleware and router cost
        ~3% of the CPU of a call under load and add nothing to it (bench/, issue 8)."""
        if scope["type"] == "lifespan" or scope.get("path") in own_paths:
            await site(scope, receive, send)
        else:
            await rpc(scope, receive, send)

    return app
