"""Start-up checks of `[[gerrit.hosts]]`: credentials that cannot work or would leak.

`serve` refuses to start on any of these rather than fail later, on the first Run CV acts
on. Every configured host is checked: PostGerritMessage may name any of them, so none is
"unused" (remove an entry CV should not call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from cvmigrate.config import GerritHost, is_loopback_host
from cvmigrate.secretbox import SECRET_KEY_ENV

__all__ = ["host_problems"]


def host_problems(
    hosts: Sequence[GerritHost], environ: Mapping[str, str], *, secret_key_set: bool
) -> list[str]:
    """One sentence per unsafe or unusable host entry, each saying how to fix it."""
    problems = []
    for index, host in enumerate(hosts):
        where = f"gerrit.hosts[{index}] ({host.host})"
        if host.auth in ("bearer", "basic"):
            what = "the token" if host.auth == "bearer" else "user:password"
            if not host.token_env:
                problems.append(
                    f'{where}: auth = "{host.auth}" needs token_env, the environment variable'
                    f' holding {what}; set token_env, or use auth = "netrc" or "none"'
                )
            elif not environ.get(host.token_env):
                problems.append(
                    f"{where}: the environment variable {host.token_env} (token_env) is not"
                    f" set or empty; export it with {what}, or remove the host"
                )
        if host.auth == "netrc" and not secret_key_set:
            problems.append(
                f'{where}: auth = "netrc" needs {SECRET_KEY_ENV} to store the token CQDaemon'
                " reports; set it (`cvmigrate secret-key` prints one)"
            )
        url = urlsplit(host.base_url or f"https://{host.host}")
        if (
            host.auth != "none"
            and url.scheme == "http"
            and not is_loopback_host((url.hostname or "").strip("[]"))
        ):
            problems.append(
                f"{where}: base_url {host.base_url} would send credentials in cleartext;"
                ' use https://, or auth = "none"'
            )
    return problems
