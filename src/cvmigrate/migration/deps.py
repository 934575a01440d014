"""What the handlers need from the rest of the service, passed in by app.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from cvmigrate.auth import Acl
from cvmigrate.proto import gerrit
from cvmigrate.secretbox import SecretBox
from cvmigrate.store.db import Database

if TYPE_CHECKING:
    from cvmigrate.migration.fetch_active_runs import ActiveRunsCache

__all__ = ["Deps", "GerritCalls"]


class GerritCalls(Protocol):
    """The Gerrit calls PostGerritMessage makes; gerrit.client.GerritClient satisfies it."""

    async def get_change(
        self,
        host: str,
        number: int,
        *,
        project: str | None = None,
        options: Sequence[str | gerrit.QueryOption] = (),
    ) -> gerrit.ChangeInfo: ...

    async def set_review(
        self, host: str, request: gerrit.SetReviewRequest
    ) -> gerrit.ReviewResult: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    """Dependencies of the RPC handlers."""

    db: Database
    acl: Acl
    clock: Callable[[], datetime]
    """Returns the current UTC time (tests pass their own)."""
    secret_box: SecretBox | None
    """Encrypts netrc tokens; None when $CVMIGRATE_SECRET_KEY is not set."""
    gerrit: GerritCalls | None = None
    """The Gerrit client; None when the service was built without one."""
    active_runs_cache: ActiveRunsCache | None = None
    """FetchActiveRuns answers kept until the store changes them; None: build every call."""
