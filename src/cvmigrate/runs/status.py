"""Run statuses: the `cv.run.Status` enum and the status sets the RPCs query (spec §3.1).

The numbers are CV's own (`cv/internal/run/storage.proto`) and are stored as they are, so
they must never change. Every ended status has the `ENDED_MASK` bit (64) set, which is why
"is this Run ended?" is a bit test rather than a list.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "ENDED_STATUSES",
    "EXCLUDED_CL_STATUSES",
    "FETCH_ACTIVE_RUNS_STATUS",
    "Status",
    "is_ended",
]


class Status(IntEnum):
    """Status of a Run; ended statuses are exactly those with the `ENDED_MASK` bit set."""

    STATUS_UNSPECIFIED = 0
    """Never valid for a stored Run."""

    PENDING = 1
    """Created; the run manager has not started it yet."""

    RUNNING = 2
    """Started and being verified; the only status FetchActiveRuns returns."""

    # 3 is unused in CV's enum; keep the gap.

    WAITING_FOR_SUBMISSION = 4
    """Verified full run waiting for the submit queue or an open tree."""

    SUBMITTING = 5
    """Submission in progress; a Run in this status is never cancelled."""

    ENDED_MASK = 64
    """Bit mask shared by every ended status; never a real status of a Run."""

    SUCCEEDED = 65
    """Ended: the dry run passed or every CL of the full run was submitted."""

    FAILED = 66
    """Ended: verification or submission failed."""

    CANCELLED = 67
    """Ended: the trigger was removed or changed, or the CL changed under the Run."""


def is_ended(status: int) -> bool:
    """Return True if `status` is an ended status (`status & 64 == 64`, spec §3.1).

    `Status.ENDED_MASK` itself passes the test; it is never stored as a Run's status.
    """
    return status & Status.ENDED_MASK == Status.ENDED_MASK


ENDED_STATUSES: Final[tuple[Status, ...]] = tuple(
    s for s in Status if is_ended(s) and s is not Status.ENDED_MASK
)
"""SUCCEEDED, FAILED, CANCELLED: the statuses a Run can end in."""

FETCH_ACTIVE_RUNS_STATUS: Final[Status] = Status.RUNNING
"""FetchActiveRuns looks only at RUNNING Runs (spec §3.1, §4.7)."""

EXCLUDED_CL_STATUSES: Final[tuple[Status, ...]] = (
    Status.RUNNING,
    Status.WAITING_FOR_SUBMISSION,
    Status.SUBMITTING,
)
"""Statuses FetchExcludedCLs queries, one query each (spec §3.1, §4.8).

Every status s with `2 <= s < 64`; PENDING is deliberately not included.
"""
