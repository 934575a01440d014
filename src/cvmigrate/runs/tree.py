"""The tree status check before submitting (spec §5.2 step 3).

A config group may name a tree status URL. The answer is JSON with `general_state`;
`open` and `throttled` count as open, anything else (`closed`, `close`, `maintenance`, …)
as closed. CV fetched `<url>/current?format=json` from the Chromium status app; here the
configured URL is fetched as it is, so any endpoint with that answer works.
"""

from __future__ import annotations

import json
from typing import Final, Protocol

import aiohttp

__all__ = ["OPEN_STATES", "HttpTreeStatus", "TreeStatus", "TreeStatusError"]

OPEN_STATES: Final = frozenset({"open", "throttled"})


class TreeStatusError(Exception):
    """The tree status could not be read; try again later."""


class TreeStatus(Protocol):
    """Tells whether a tree is open."""

    async def is_open(self, url: str) -> bool:
        """True if the tree at `url` is open or throttled; raises TreeStatusError."""
        ...


class HttpTreeStatus:
    """TreeStatus over the process-wide aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout_s: float = 30.0) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def is_open(self, url: str) -> bool:
        """True if the tree at `url` is open or throttled; raises TreeStatusError."""
        try:
            async with self._session.get(
                url, timeout=self._timeout, headers={"Accept": "application/json"}
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TreeStatusError(f"cannot reach the tree status at {url}: {exc!r}") from exc
        if status >= 400:
            raise TreeStatusError(f"tree status at {url} answered HTTP {status}")
        try:
            state = json.loads(body)["general_state"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TreeStatusError(f"tree status at {url} has no general_state") from exc
        return str(state) in OPEN_STATES
