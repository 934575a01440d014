"""The BigQuery outbox: rows written with the state change that causes them, sent later.

States: `pending` (waiting or being retried), `sent` (BigQuery accepted it), `dead`
(BigQuery rejected it; kept with the error for `cvmigrate outbox retry`). Nothing is
deleted unsent.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from cvmigrate.store.timeutil import from_us, to_us

__all__ = [
    "OutboxRow",
    "OutboxStatus",
    "enqueue_row",
    "list_rows",
    "mark_dead",
    "mark_retry",
    "mark_sent",
    "outbox_status",
    "pending_batch",
    "revive_dead",
    "settle",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    id: int
    dedup_key: str
    """`run-<RunID>` or `attempt-<attempt key>`; also the BigQuery insertId."""
    row_json: str
    state: str
    attempts: int
    last_error: str
    trace_context: str
    not_before: datetime
    create_time: datetime
    sent_time: datetime | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OutboxStatus:
    pending: int
    dead: int
    sent: int
    oldest_pending: datetime | None


_COLUMNS = (
    "id, dedup_key, row_json, state, attempts, last_error, trace_context, not_before,"
    " create_time, sent_time"
)


def _row(values: tuple) -> OutboxRow:
    return OutboxRow(
        id=values[0],
        dedup_key=values[1],
        row_json=values[2],
        state=values[3],
        attempts=values[4],
        last_error=values[5],
        trace_context=values[6],
        not_before=from_us(values[7]),  # type: ignore[arg-type]
        create_time=from_us(values[8]),  # type: ignore[arg-type]
        sent_time=from_us(values[9]),
    )


def enqueue_row(
    conn: sqlite3.Connection,
    dedup_key: str,
    row_json: str,
    now: datetime,
    *,
    trace_context: str = "",
) -> bool:
    """Add a row to send. A row with the same dedup key that is not sent yet is replaced
    (the newest data wins); one already sent is left alone. True if a row was written."""
    cursor = conn.execute(
        "INSERT INTO outbox (dedup_key, row_json, trace_context, not_before, create_time)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO UPDATE SET"
        " row_json = excluded.row_json, trace_context = excluded.trace_context,"
        " state = 'pending', last_error = '', not_before = excluded.not_before"
        " WHERE outbox.state != 'sent'",
        (dedup_key, row_json, trace_context, to_us(now), to_us(now)),
    )
    return cursor.rowcount == 1


def pending_batch(conn: sqlite3.Connection, now: datetime, limit: int) -> list[OutboxRow]:
    """Up to `limit` pending rows due by `now`, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND not_before <= ?"
        " ORDER BY id LIMIT ?",
        (to_us(now), limit),
    ).fetchall()
    return [_row(values) for values in rows]


def mark_sent(conn: sqlite3.Connection, rows: Sequence[OutboxRow], now: datetime) -> None:
    """BigQuery accepted these rows. A row whose content was replaced while its insert was
    in flight (a repeated report) stays pending, so the newer content is sent too."""
    conn.executemany(
        "UPDATE outbox SET state = 'sent', sent_time = ?, attempts = attempts + 1,"
        " last_error = '' WHERE id = ? AND state = 'pending' AND row_json = ?",
        [(to_us(now), row.id, row.row_json) for row in rows],
    )


def mark_retry(
    conn: sqlite3.Connection, ids: Sequence[int], error: str, not_before: datetime
) -> None:
    """A transient failure: count the attempt, keep the row pending until `not_before`."""
    conn.executemany(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, not_before = ?"
        " WHERE id = ? AND state = 'pending'",
        [(error, to_us(not_before), row_id) for row_id in ids],
    )


def mark_dead(conn: sqlite3.Connection, row: OutboxRow, error: str) -> None:
    """BigQuery rejected the row: keep it with the reason, stop sending it (unless its
    content was replaced meanwhile: the new content gets its own chance)."""
    conn.execute(
        "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?"
        " WHERE id = ? AND state = 'pending' AND row_json = ?",
        (error, row.id, row.row_json),
    )


def revive_dead(conn: sqlite3.Connection, now: datetime) -> int:
    """Dead rows back to pending (after the cause was fixed); returns how many."""
    return conn.execute(
        "UPDATE outbox SET state = 'pending', not_before = ? WHERE state = 'dead'",
        (to_us(now),),
    ).rowcount


def outbox_status(conn: sqlite3.Connection) -> OutboxStatus:
    counts = dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    oldest = conn.execute("SELECT MIN(create_time) FROM outbox WHERE state = 'pending'").fetchone()
    return OutboxStatus(
        pending=counts.get("pending", 0),
        dead=counts.get("dead", 0),
        sent=counts.get("sent", 0),
        oldest_pending=from_us(oldest[0]),
    )


def list_rows(
    conn: sqlite3.Connection, *, state: str | None = None, limit: int = 1000
) -> list[OutboxRow]:
    """Rows (optionally of one state), oldest first."""
    if state is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id LIMIT ?", (limit,))
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = ? ORDER BY id LIMIT ?", (state, limit)
        )
    return [_row(values) for values in rows.fetchall()]


def settle(
    conn: sqlite3.Connection,
    sent: Sequence[OutboxRow],
    dead: Sequence[tuple[OutboxRow, str]],
    retry_ids: Sequence[int],
    retry_error: str,
    now: datetime,
    not_before: datetime,
) -> None:
    """Record one insert's outcome for its rows (the exporter's write)."""
    mark_sent(conn, sent, now)
    for row, error in dead:
        mark_dead(conn, row, error)
    if retry_ids:
        mark_retry(conn, retry_ids, retry_error, not_before)
