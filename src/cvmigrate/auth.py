"""Who is calling (bearer tokens, trusted services acting for a project) and what they may do.

Identities: `project:<p>`, `user:<email>`, `service:<name>`, `anonymous:anonymous`.
- A bearer token is looked up by its SHA-256 digest: `[[auth.tokens]]` in the config, then
  tokens made with `cvmigrate token create` (stored as digests only).
- `X-Luci-Project: <p>` makes a caller `project:<p>` only if its own identity is listed in
  `auth.trusted_services` (how CQDaemon called CV); from anyone else it is refused.
- Development default: with no token configured or stored, a caller on a loopback address
  without credentials is `user:dev@localhost`, which is allowed everything.

Authorisation (spec §2, stricter by default): `project:` identities may call, but only for
their own project unless `auth.cross_project`; other identities must be in `auth.allow_group`.
ReportUsedNetrc sets a credential shared by every project on a host, so it is reserved for
trusted services and the allow group.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from cvmigrate.config import AuthSettings
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError

__all__ = [
    "ANONYMOUS",
    "DEV_IDENTITY",
    "Acl",
    "Authenticator",
    "new_token",
    "project_of",
    "token_digest",
]

log = logging.getLogger(__name__)

ANONYMOUS: Final = "anonymous:anonymous"
DEV_IDENTITY: Final = "user:dev@localhost"
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")

StoredTokenLookup = Callable[[str], Awaitable[str | None]]
"""`await lookup(sha256_hex)` → identity of a stored API token, or None."""
HasStoredTokens = Callable[[], Awaitable[bool]]


def token_digest(token: str) -> str:
    """Hex SHA-256 of a bearer token: what the config and the database keep."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (256 bits, URL-safe)."""
    return "cvm_" + secrets.token_urlsafe(32)


def project_of(identity: str) -> str | None:
    """`chromium` for `project:chromium`, else None."""
    kind, _, name = identity.partition(":")
    return name if kind == "project" else None


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    """Turns request headers into (identity, peer identity); see the module docstring."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        stored_token_identity: StoredTokenLookup,
        has_stored_tokens: HasStoredTokens,
        allow_dev_identity: bool,
    ):
        self._configured = {entry.sha256: entry.identity for entry in settings.tokens}
        self._trusted = frozenset(settings.trusted_services)
        self._stored_token_identity = stored_token_identity
        self._has_stored_tokens = has_stored_tokens
        self._allow_dev_identity = allow_dev_identity

    async def __call__(self, headers: Mapping[str, str], peer_host: str | None) -> tuple[str, str]:
        authorization = headers.get("authorization")
        if authorization is None:
            identity = await self._unauthenticated(peer_host)
        else:
            identity = await self._bearer(authorization)
        peer_identity = identity
        luci_project = headers.get("x-luci-project")
        if luci_project is not None:
            if identity not in self._trusted:
                raise RpcError(
                    Code.PERMISSION_DENIED,
                    "X-Luci-Project is honoured only from trusted services",
                )
            if not _PROJECT_NAME.match(luci_project):
                raise RpcError(Code.INVALID_ARGUMENT, "X-Luci-Project is not a LUCI project name")
            identity = f"project:{luci_project}"
        return identity, peer_identity

    async def _bearer(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise RpcError(Code.UNAUTHENTICATED, "expected Authorization: Bearer <token>")
        digest = token_digest(token)
        identity = self._configured.get(digest) or await self._stored_token_identity(digest)
        if identity is None:
            raise RpcError(Code.UNAUTHENTICATED, "invalid token")
        return identity

    async def _unauthenticated(self, peer_host: str | None) -> str:
        if (
            self._allow_dev_identity
            and not self._configured
            and _is_loopback(peer_host)
            and not await self._has_stored_tokens()
        ):
            return DEV_IDENTITY
        raise RpcError(Code.UNAUTHENTICATED, "missing credentials (Authorization: Bearer <token>)")


class Acl:
    """What an authenticated identity may do (spec §2, with the stricter project rule)."""

    def __init__(self, settings: AuthSettings, *, dev_identity_allowed: bool):
        self._allow = frozenset(settings.allow_group) | (
            {DEV_IDENTITY} if dev_identity_allowed else frozenset()
        )
        self._trusted = frozenset(settings.trusted_services)
        self._cross_project = settings.cross_project

    def check_caller(self, ctx: CallContext) -> None:
        """Every RPC, before validation: a project identity, or a member of the allow group."""
        if project_of(ctx.identity) is not None:
            return
        if ctx.identity in self._allow:
            return
        log.warning("unusual caller %s denied", ctx.identity)
        raise RpcError(Code.PERMISSION_DENIED, f"{ctx.identity} is not a member of the allow group")

    def check_project(self, ctx: CallContext, project: str) -> None:
        """A project identity may act only on its own project (unless cross_project)."""
        caller_project = project_of(ctx.identity)
        if caller_project is None or self._cross_project or caller_project == project:
            return
        raise RpcError(Code.PERMISSION_DENIED, f"{ctx.identity} may not act on project {project!r}")

    def project_scope(self, ctx: CallContext) -> str | None:
        """The one project `check_project` lets the caller act on, or None for any."""
        caller_project = project_of(ctx.identity)
        return None if self._cross_project else caller_project

    def check_netrc(self, ctx: CallContext) -> None:
        """ReportUsedNetrc: only trusted services (acting for a project or not) or the group."""
        if ctx.peer_identity in self._trusted or ctx.identity in self._allow:
            return
        raise RpcError(
            Code.PERMISSION_DENIED,
            "ReportUsedNetrc sets a credential shared by all projects on the host; "
            "only trusted services and the allow group may call it",
        )
