"""What a run-manager event handler gets, and what it tells the manager back.

A handler returns one outcome: `Done` (the manager consumes the event), `Committed` (the
handler already consumed it in the transaction that wrote its decision) or `Later` (keep
it, unconsumed and without counting a failure, until a time). Raising anything, typically
`RetryLater` or a transient Gerrit error, makes the manager retry the event with backoff.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from cvmigrate.runs.gerrit_api import GerritApi
from cvmigrate.runs.submit_queue import SubmitOptions
from cvmigrate.runs.tree import TreeStatus
from cvmigrate.store.db import Database

__all__ = ["Committed", "Done", "HandlerContext", "Later", "Outcome", "RetryLater"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HandlerContext:
    """The dependencies of event handlers."""

    db: Database
    gerrit: GerritApi
    clock: Callable[[], datetime]
    """The current UTC time (tests pass their own)."""
    tree: TreeStatus
    submit_options: Callable[[str, str], SubmitOptions]
    """(LUCI project, config group name) → that group's submit options."""


@dataclasses.dataclass(frozen=True, slots=True)
class Done:
    """Consume the event; `note` says why when nothing was done."""

    note: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Committed:
    """The handler consumed the event itself, together with the state it wrote."""


@dataclasses.dataclass(frozen=True, slots=True)
class Later:
    """Keep the event until `at` (waiting, not failing)."""

    at: datetime
    reason: str = ""


Outcome = Done | Committed | Later


class RetryLater(Exception):
    """The handler could not finish now; the event is retried with backoff."""
