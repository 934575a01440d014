"""Wiring: builds the Starlette app, its RPC routes and the lifespan that owns resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from cvmigrate.auth import DEV_IDENTITY, Acl, Authenticator
from cvmigrate.config import Settings
from cvmigrate.gauges import GaugeSampler
from cvmigrate.migration import build_service, migration_handlers
from cvmigrate.migration.deps import Deps
from cvmigrate.rpc.server import RpcServer
from cvmigrate.secretbox import SECRET_KEY_ENV, SecretBox
from cvmigrate.store import credentials
from cvmigrate.store.db import Database

__all__ = ["UnsafeConfiguration", "create_app", "preflight"]

log = logging.getLogger("cvmigrate")


class UnsafeConfiguration(Exception):
    """The configuration would expose the service; the message says how to fix it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _has_stored_tokens(db: Database) -> bool:
    return await db.read(credentials.has_api_tokens)


async def preflight(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Refuse unsafe set-ups before listening: a non-loopback bind needs tokens, and a set
    $CVMIGRATE_SECRET_KEY must be valid. Also applies database migrations."""
    SecretBox.from_env(environ)  # raises SecretKeyError with a clear message
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
) -> Starlette:
    """The whole service as an ASGI app; resources open and close with its lifespan."""
    environ = os.environ if environ is None else environ
    runtime = _Runtime()
    dev_allowed = settings.is_loopback_bind
    secret_box = SecretBox.from_env(environ)
    acl = Acl(settings.auth, dev_identity_allowed=dev_allowed)

    async def stored_token_identity(digest: str) -> str | None:
        return await runtime.require_db().read(
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
        authenticate=authenticator,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await Database.open(settings.database.path)
        runtime.db = db
        runtime.deps = Deps(db=db, acl=acl, clock=clock, secret_box=secret_box)
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
        log.info("cvmigrate started (database %s)", settings.database.path)
        try:
            yield
        finally:
            gauge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauge_task
            runtime.deps = None
            runtime.db = None
            await db.close()
            log.info("cvmigrate stopped")

    return Starlette(
        routes=[Route("/healthz", _healthz, methods=["GET"]), Mount("/", app=rpc)],
        lifespan=lifespan,
    )
