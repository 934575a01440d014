"""What the handlers need from the rest of the service, passed in by app.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from cvmigrate.auth import Acl
from cvmigrate.runs.gerrit_api import GerritMessages
from cvmigrate.secretbox import SecretBox
from cvmigrate.store.db import Database

if TYPE_CHECKING:
    from cvmigrate.migration.fetch_active_runs import ActiveRunsCache

__all__ = ["Deps"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    """Dependencies of the RPC handlers."""

    db: Database
    acl: Acl
    clock: Callable[[], datetime]
    """Returns the current UTC time (tests pass their own)."""
    secret_box: SecretBox | None
    """Encrypts netrc tokens; None when $CVMIGRATE_SECRET_KEY is not set."""
    gerrit: GerritMessages | None = None
    """The Gerrit client; None when the service was built without one."""
    active_runs_cache: ActiveRunsCache | None = None
    """FetchActiveRuns answers kept until the store changes them; None: build every call."""
