"""The per-project submit queue (spec §5.2 step 2), derived from Runs and their events.

Who holds a project's submit slot and who waits in which order is not stored separately:
the holder is the project's SUBMITTING Run, and the waitlist is its WAITING_FOR_SUBMISSION
Runs in the order their `submit` events were queued (FIFO). Only the history of finished
submissions, which the rate limit needs, has its own table.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime

from cvmigrate.runs.status import Status
from cvmigrate.store.timeutil import from_us, to_us

__all__ = [
    "QueueEntry",
    "recent_submissions",
    "record_submission",
    "submit_queue",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    """A Run in a project's submit queue."""

    run_id: str
    status: Status
    """SUBMITTING (holds the slot) or WAITING_FOR_SUBMISSION."""


def submit_queue(conn: sqlite3.Connection, project: str, event_kind: str) -> list[QueueEntry]:
    """The project's submit queue: SUBMITTING Runs first, then WAITING_FOR_SUBMISSION Runs
    by their oldest pending `event_kind` event (FIFO); waiting Runs without one are last."""
    rows = conn.execute(
        "SELECT r.id, r.status,"
        " (SELECT MIN(e.id) FROM run_events e WHERE e.run_id = r.id AND e.kind = ?"
        "  AND e.done_time IS NULL) AS position"
        " FROM runs r WHERE r.project = ? AND r.status IN (?, ?)"
        " ORDER BY r.status DESC, position IS NULL, position, r.id",
        (event_kind, project, int(Status.SUBMITTING), int(Status.WAITING_FOR_SUBMISSION)),
    ).fetchall()
    return [QueueEntry(run_id=row[0], status=Status(row[1])) for row in rows]


def recent_submissions(conn: sqlite3.Connection, project: str, since: datetime) -> list[datetime]:
    """When the project's Runs finished submitting, at or after `since`, oldest first."""
    rows = conn.execute(
        "SELECT submit_time FROM submit_history WHERE project = ? AND submit_time >= ?"
        " ORDER BY submit_time",
        (project, to_us(since)),
    ).fetchall()
    return [from_us(row[0]) for row in rows]  # type: ignore[misc]


def record_submission(
    conn: sqlite3.Connection, project: str, run_id: str, when: datetime, *, keep_since: datetime
) -> None:
    """Record a finished submission and forget the project's ones before `keep_since`."""
    conn.execute(
        "INSERT OR IGNORE INTO submit_history (project, submit_time, run_id) VALUES (?, ?, ?)",
        (project, to_us(when), run_id),
    )
    conn.execute(
        "DELETE FROM submit_history WHERE project = ? AND submit_time < ?",
        (project, to_us(keep_since)),
    )
