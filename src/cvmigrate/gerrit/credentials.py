"""Where the Gerrit client gets its Authorization header, with secrets masked until sent.

`CredentialSource` is the seam: the app may implement it however it likes (project-scoped
tokens, an encrypted netrc store). `EnvCredentials` is the default for the four
`GerritHost.auth` kinds in config.py.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from cvmigrate.config import GerritHost

from .errors import GerritCredentialsError

__all__ = ["CredentialSource", "EnvCredentials", "NetrcLookup", "Secret"]

NetrcLookup = Callable[[str], Awaitable[str | None]]
"""`async (host_name) -> token | None`: the legacy netrc token CQDaemon reported for a host."""


class Secret:
    """A credential whose repr and str are masked; `reveal()` only where the header is built."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself. Call it on the line that sends it, nowhere else."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class CredentialSource(Protocol):
    """Gives the full `Authorization` header value for a host, or None for anonymous access.

    Called before every attempt, so a rotated token is picked up on the next retry.
    Raises GerritCredentialsError when the host should be authenticated but cannot be.
    """

    async def authorization(self, host: GerritHost) -> str | None: ...


def _basic(value: Secret) -> str:
    return "Basic " + base64.b64encode(value.reveal().encode("utf-8")).decode("ascii")


class EnvCredentials:
    """Credentials from the environment (bearer, basic) or a netrc token store (netrc).

    * `bearer`: `Bearer <os.environ[token_env]>`.
    * `basic`: `os.environ[token_env]` holds `user:password` → `Basic base64(user:password)`.
    * `netrc`: `await netrc_lookup(host.host)` returns the stored token, used verbatim as the
      Basic credential → `Basic base64(token)`.
    * `none`: no header (and the client drops the `/a/` prefix).
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        netrc_lookup: NetrcLookup | None = None,
    ) -> None:
        # Read at call time, not here, so a rotated variable is picked up without a restart.
        self._environ = os.environ if environ is None else environ
        self._netrc_lookup = netrc_lookup

    def __repr__(self) -> str:
        return f"EnvCredentials(netrc_lookup={'set' if self._netrc_lookup else 'unset'})"

    def _from_env(self, host: GerritHost) -> Secret:
        if not host.token_env:
            raise GerritCredentialsError(
                f"Gerrit host {host.host} uses auth={host.auth} but has no token_env configured"
            )
        value = Secret(self._environ.get(host.token_env, ""))
        if not value:
            raise GerritCredentialsError(
                f"no credential for Gerrit host {host.host}: "
                f"environment variable {host.token_env} is unset or empty"
            )
        return value

    async def authorization(self, host: GerritHost) -> str | None:
        """The header value for `host` per its `auth` kind (see the class docstring)."""
        if host.auth == "none":
            return None
        if host.auth == "bearer":
            return "Bearer " + self._from_env(host).reveal()
        if host.auth == "basic":
            value = self._from_env(host)
            if ":" not in value.reveal():
                raise GerritCredentialsError(
                    f"environment variable {host.token_env} for Gerrit host {host.host} "
                    "must hold user:password"
                )
            return _basic(value)
        if host.auth == "netrc":
            if self._netrc_lookup is None:
                raise GerritCredentialsError(
                    f"Gerrit host {host.host} uses netrc auth but no netrc token store is set up"
                )
            token = await self._netrc_lookup(host.host)
            if not token:
                raise GerritCredentialsError(
                    f"no netrc token has been reported for Gerrit host {host.host}"
                )
            return _basic(Secret(token))
        raise GerritCredentialsError(f"Gerrit host {host.host}: unknown auth kind {host.auth!r}")
