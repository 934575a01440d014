"""Run-manager events: durable rows written in the transaction that causes them."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime
from typing import Any

from cvmigrate.store.timeutil import from_us, to_us

__all__ = ["RunEvent", "enqueue_event", "list_events"]


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
    rows = conn.execute(
        "SELECT id, run_id, kind, payload, trace_context, attempts, not_before, last_error,"
        f" done_time FROM run_events {where} ORDER BY id",
        params,
    ).fetchall()
    return [
        RunEvent(
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
        for row in rows
    ]
