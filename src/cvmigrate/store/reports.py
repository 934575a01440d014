"""What CQDaemon reported: verified runs, finished runs and the latest ReportRuns."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from cvmigrate.runs.status import Status
from cvmigrate.store import events
from cvmigrate.store import runs as runs_store
from cvmigrate.store.timeutil import to_us

__all__ = [
    "claim_finished",
    "excluded_cl_ids",
    "finished_payloads_for_run",
    "get_finished",
    "get_reported_attempt_keys",
    "get_verified",
    "insert_verified_if_absent",
    "put_reported_runs",
    "reported_projects",
    "save_verified_run",
    "upsert_finished",
]


def get_verified(conn: sqlite3.Connection, run_id: str) -> bytes | None:
    """The stored ReportVerifiedRunRequest (encoded) for the Run, or None."""
    row = conn.execute(
        "SELECT payload_pb FROM verified_runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    return bytes(row[0]) if row else None


def insert_verified_if_absent(
    conn: sqlite3.Connection, run_id: str, payload_pb: bytes, now: datetime
) -> bool:
    """Store the report unless one exists (first write wins); True if this one was stored."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO verified_runs (run_id, payload_pb, update_time) VALUES (?, ?, ?)",
        (run_id, payload_pb, to_us(now)),
    )
    return cursor.rowcount == 1


def save_verified_run(
    conn: sqlite3.Connection,
    run_id: str,
    attempt_key: str,
    only_project: str | None,
    payload_pb: bytes,
    now: datetime,
    event_kind: str,
    event_payload: dict[str, int],
    trace_context: str,
) -> runs_store.RunRef | None:
    """ReportVerifiedRun's write: find the Run (spec §3.6) and, unless the caller may act
    only on `only_project` (None: any) and the Run is of another, store the report with
    its `event_kind` event if none is stored (first write wins: a retry after a lost
    answer must not change what CV is already acting on, spec §4.3 history, 15a9f2a6f9).
    Returns the Run found, or None; the caller answers NOT_FOUND or PERMISSION_DENIED
    from it. The lookup is part of the transaction, so nothing changes the Run between
    the checks and the save."""
    found = runs_store.locate_run_ref(conn, run_id, attempt_key)
    if found is None or only_project not in (None, found.project):
        return found
    if insert_verified_if_absent(conn, found.id, payload_pb, now):
        events.enqueue_event(
            conn, found.id, event_kind, now, payload=event_payload, trace_context=trace_context
        )
    return found


def upsert_finished(
    conn: sqlite3.Connection, attempt_key: str, run_id: str, payload_pb: bytes, now: datetime
) -> bool:
    """Store the finished attempt (last write wins); True if it replaced an earlier report."""
    existed = (
        conn.execute("SELECT 1 FROM finished_runs WHERE attempt_key = ?", (attempt_key,)).fetchone()
        is not None
    )
    conn.execute(
        "INSERT INTO finished_runs (attempt_key, run_id, payload_pb, update_time)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (attempt_key) DO UPDATE SET"
        " run_id = excluded.run_id, payload_pb = excluded.payload_pb,"
        " update_time = excluded.update_time",
        (attempt_key, run_id or None, payload_pb, to_us(now)),
    )
    return existed


def get_finished(conn: sqlite3.Connection, attempt_key: str) -> tuple[str | None, bytes] | None:
    """(run ID or None, encoded ReportedRun) for the attempt key, or None."""
    row = conn.execute(
        "SELECT run_id, payload_pb FROM finished_runs WHERE attempt_key = ?", (attempt_key,)
    ).fetchone()
    return (row[0], bytes(row[1])) if row else None


def claim_finished(conn: sqlite3.Connection, attempt_key: str, run_id: str, now: datetime) -> bool:
    """Bind an unclaimed finished attempt (saved before its Run existed) to `run_id`;
    True if this call claimed it (spec §4.2 history, 7f9e2fc124 and 6b90caab5a)."""
    cursor = conn.execute(
        "UPDATE finished_runs SET run_id = ?, update_time = ?"
        " WHERE attempt_key = ? AND run_id IS NULL",
        (run_id, to_us(now), attempt_key),
    )
    return cursor.rowcount == 1


def finished_payloads_for_run(conn: sqlite3.Connection, run_id: str) -> list[bytes]:
    """Encoded ReportedRuns bound to this Run (normally 0 or 1)."""
    rows = conn.execute(
        "SELECT payload_pb FROM finished_runs WHERE run_id = ?", (run_id,)
    ).fetchall()
    return [bytes(row[0]) for row in rows]


def put_reported_runs(
    conn: sqlite3.Connection,
    project: str,
    attempt_keys: Sequence[str],
    payload_pb: bytes,
    now: datetime,
) -> None:
    """Replace the latest ReportRuns of `project`."""
    conn.execute(
        "INSERT INTO reported_runs (project, attempt_keys, payload_pb, update_time)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (project) DO UPDATE SET"
        " attempt_keys = excluded.attempt_keys, payload_pb = excluded.payload_pb,"
        " update_time = excluded.update_time",
        (project, json.dumps(sorted(set(attempt_keys))), payload_pb, to_us(now)),
    )


def get_reported_attempt_keys(
    conn: sqlite3.Connection, project: str
) -> tuple[list[str], int] | None:
    """(attempt keys, report time in µs) of the latest ReportRuns for `project`, or None."""
    row = conn.execute(
        "SELECT attempt_keys, update_time FROM reported_runs WHERE project = ?", (project,)
    ).fetchone()
    return (json.loads(row[0]), int(row[1])) if row else None


_EXCLUDING_STATUSES = (Status.RUNNING, Status.WAITING_FOR_SUBMISSION, Status.SUBMITTING)


def excluded_cl_ids(conn: sqlite3.Connection, project: str) -> list[int]:
    """Spec §4.8: CLIDs of `project`'s not-yet-ended verified Runs, sorted, de-duplicated."""
    rows = conn.execute(
        "SELECT DISTINCT c.cl_id FROM runs r"
        " JOIN verified_runs v ON v.run_id = r.id"
        " JOIN run_cls c ON c.run_id = r.id"
        f" WHERE r.project = ? AND r.status IN ({', '.join('?' * len(_EXCLUDING_STATUSES))})"
        " ORDER BY c.cl_id",
        (project, *(int(s) for s in _EXCLUDING_STATUSES)),
    ).fetchall()
    return [int(row[0]) for row in rows]


def reported_projects(conn: sqlite3.Connection) -> list[str]:
    """Projects CQDaemon has sent a ReportRuns for."""
    return [row[0] for row in conn.execute("SELECT project FROM reported_runs ORDER BY project")]
