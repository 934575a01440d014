"""Runs as the rest of the service sees them: frozen values, no storage or wire details."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from cvmigrate.runs.status import Status, is_ended

__all__ = ["Run", "Submission"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """Where a full run's submission stands (CV's `Run.Submission`)."""

    cls: tuple[int, ...] = ()
    """CLIDs in submission order."""
    submitted_cls: tuple[int, ...] = ()
    failed_cls: tuple[int, ...] = ()
    deadline: datetime | None = None
    attempted_cls: tuple[int, ...] = ()
    """CLIDs a submit request was (about to be) sent for. One of these that is not in
    `submitted_cls` may have merged without CV hearing the answer (a crash), so it is
    re-read from Gerrit before it is submitted again (runs/submit.py)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One CV Run (spec §3.5)."""

    id: str
    project: str
    attempt_key: str
    mode: str
    """DRY_RUN, FULL_RUN or QUICK_DRY_RUN."""
    status: Status
    config_group: str
    create_time: datetime
    """Latest trigger time among the Run's CLs (not the wall-clock creation instant)."""
    cl_ids: tuple[int, ...]
    start_time: datetime | None = None
    end_time: datetime | None = None
    submission: Submission | None = None
    finalized_by_cqd: bool = False
    delay_cancel_until: datetime | None = None
    end_message: str = ""

    @property
    def is_ended(self) -> bool:
        return is_ended(self.status)
