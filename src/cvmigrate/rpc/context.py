"""One context per call, whatever the wire protocol."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["Authenticator", "CallContext"]

Authenticator = Callable[[Mapping[str, str], "str | None"], Awaitable[tuple[str, str]]]
"""`await authenticate(headers, peer_host)` → (identity, peer_identity); raises RpcError
(UNAUTHENTICATED) for a missing or bad credential. Headers have lower-case names."""


@dataclasses.dataclass(slots=True, kw_only=True)
class CallContext:
    """What a handler may know about the call besides its request message.

    `deadline` is an absolute `time.monotonic()` value (None: no deadline).
    `identity` is filled in by authentication before the handler runs
    (e.g. `project:chromium`, `user:dev@localhost`); `peer_identity` is who
    presented the credential (differs when a trusted service acts as a project).
    `attributes` collects telemetry facts a handler learns (run ID, project).
    """

    service: str
    method: str
    protocol: str
    headers: Mapping[str, str]
    peer: str | None = None
    deadline: float | None = None
    identity: str = "anonymous:anonymous"
    peer_identity: str = "anonymous:anonymous"
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    response_encoding: str | None = None
    """How the answer will be encoded, known before the handler runs: `pb` (binary),
    `json` (proto3 JSON) or `twirp_json`; None when unknown. A handler answering from
    stored encodings (FetchActiveRuns) reads only this one from the store."""

    @property
    def timeout_remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), or None without one."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()
