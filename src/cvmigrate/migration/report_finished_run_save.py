"""ReportFinishedRun's write, run by the database writer process (a module that imports
only what storing needs; see migration/report_runs_save.py)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cvmigrate.export.rows import enqueue_finished_attempt_row
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.runs.event_kinds import CQD_FINISHED
from cvmigrate.store import events, reports
from cvmigrate.store import runs as runs_store

__all__ = ["save_finished"]


def save_finished(
    conn: sqlite3.Connection,
    attempt: bigquery_pb.Attempt,
    run_id: str,
    found_id: str | None,
    payload: bytes,
    now: datetime,
    trace_context: str,
) -> bool:
    """Save the report (last one wins) and queue what follows from it; True if it
    replaced an earlier report of the attempt."""
    again = reports.upsert_finished(conn, attempt.key, run_id, payload, now)
    if found_id is None:
        # No CV Run: CQDaemon's report is the attempt's only record (issue: one BigQuery
        # row per ended attempt, keyed attempt-<key>).
        enqueue_finished_attempt_row(conn, attempt, now, trace_context=trace_context)
        return again
    # Re-read in this transaction: the Run may have ended since the lookup.
    current = runs_store.get_run(conn, found_id)
    if current is not None and not current.is_ended:
        events.enqueue_event(conn, current.id, CQD_FINISHED, now, trace_context=trace_context)
    return again
