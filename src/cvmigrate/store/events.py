"""Run-manager events: durable rows written in the transaction that causes them."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime
from typing import Any

from cvmigrate.store.timeutil import from_us, to_us

__all__ = [
    "RunEvent",
    "defer_event",
    "due_events_for_run",
    "due_run_ids",
    "enqueue_event",
    "list_events",
    "mark_event_done",
    "next_due_time",
    "pending_event_count",
    "retry_event",
    "wake_events",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent:
    id: int
    run_id: str
    kind: str
    payload: dict[str, Any]
    trace_context: str
    attempts: int
    not_before: datetime
    last_error: str
    done_time: datetime | None


def enqueue_event(
    conn: sqlite3.Connection,
    run_id: str,
    kind: str,
    now: datetime,
    *,
    payload: dict[str, Any] | None = None,
    trace_context: str = "",
) -> int:
    """Queue an event for the Run's manager; returns its ID."""
    cursor = conn.execute(
        "INSERT INTO run_events (run_id, kind, payload, trace_context, not_before, create_time)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (run_id, kind, json.dumps(payload or {}), trace_context, to_us(now), to_us(now)),
    )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def list_events(
    conn: sqlite3.Connection, *, run_id: str | None = None, pending_only: bool = False
) -> list[RunEvent]:
    """Events, oldest first, optionally of one Run and/or only those not done."""
    clauses, params = [], []
    if run_id is not None:
        clauses.append("run_id = ?")
        params.append(run_id)
    if pending_only:
        clauses.append("done_time IS NULL")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM run_events {where} ORDER BY id", params).fetchall()
    return [_event_from_row(row) for row in rows]


def pending_event_count(conn: sqlite3.Connection) -> int:
    """Events not processed yet (the run manager's queue depth)."""
    return int(
        conn.execute("SELECT COUNT(*) FROM run_events WHERE done_time IS NULL").fetchone()[0]
    )


_COLUMNS = "id, run_id, kind, payload, trace_context, attempts, not_before, last_error, done_time"


def _event_from_row(row: tuple[Any, ...]) -> RunEvent:
    return RunEvent(
        id=row[0],
        run_id=row[1],
        kind=row[2],
        payload=json.loads(row[3]),
        trace_context=row[4],
        attempts=row[5],
        not_before=from_us(row[6]),  # type: ignore[arg-type]
        last_error=row[7],
        done_time=from_us(row[8]),
    )


def due_run_ids(conn: sqlite3.Connection, now: datetime, *, limit: int = 100) -> list[str]:
    """Runs with at least one pending event due at `now`, the longest-waiting first."""
    rows = conn.execute(
        "SELECT run_id, MIN(not_before) AS due FROM run_events"
        " WHERE done_time IS NULL AND not_before <= ? GROUP BY run_id ORDER BY due, run_id"
        " LIMIT ?",
        (to_us(now), limit),
    ).fetchall()
    return [row[0] for row in rows]


def due_events_for_run(conn: sqlite3.Connection, run_id: str, now: datetime) -> list[RunEvent]:
    """The Run's pending events due at `now`, in the order they were queued."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM run_events"
        " WHERE run_id = ? AND done_time IS NULL AND not_before <= ? ORDER BY id",
        (run_id, to_us(now)),
    ).fetchall()
    return [_event_from_row(row) for row in rows]


def next_due_time(conn: sqlite3.Connection) -> datetime | None:
    """When the earliest pending event becomes due (None: nothing pending)."""
    row = conn.execute("SELECT MIN(not_before) FROM run_events WHERE done_time IS NULL").fetchone()
    return from_us(row[0])


def mark_event_done(conn: sqlite3.Connection, event_id: int, now: datetime, note: str = "") -> None:
    """Consume the event; `note` (e.g. why it was ignored) is kept in last_error."""
    conn.execute(
        "UPDATE run_events SET done_time = ?, last_error = CASE WHEN ? = '' THEN last_error"
        " ELSE ? END WHERE id = ?",
        (to_us(now), note, note, event_id),
    )


def retry_event(conn: sqlite3.Connection, event_id: int, not_before: datetime, error: str) -> None:
    """Count a failed attempt and make the event due again at `not_before`."""
    conn.execute(
        "UPDATE run_events SET attempts = attempts + 1, not_before = ?, last_error = ?"
        " WHERE id = ? AND done_time IS NULL",
        (to_us(not_before), error, event_id),
    )


def defer_event(conn: sqlite3.Connection, event_id: int, not_before: datetime) -> None:
    """Keep the event for later (waiting, not failing): no attempt is counted."""
    conn.execute(
        "UPDATE run_events SET not_before = ? WHERE id = ? AND done_time IS NULL",
        (to_us(not_before), event_id),
    )


def wake_events(conn: sqlite3.Connection, run_id: str, kind: str, now: datetime) -> int:
    """Make the Run's pending events of `kind` due now; returns how many were woken."""
    return conn.execute(
        "UPDATE run_events SET not_before = ?"
        " WHERE run_id = ? AND kind = ? AND done_time IS NULL AND not_before > ?",
        (to_us(now), run_id, kind, to_us(now)),
    ).rowcount
