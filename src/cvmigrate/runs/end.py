"""Ending a Run: the new state and its BigQuery row, in the caller's transaction (spec §5.5)."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime

from cvmigrate.export.rows import enqueue_run_row
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.status import Status, is_ended
from cvmigrate.store import runs as runs_store

__all__ = ["RunAlreadyEnded", "end_run"]


class RunAlreadyEnded(Exception):
    """The Run ended before this transaction; nothing was changed."""


def end_run(
    conn: sqlite3.Connection,
    run: Run,
    status: Status,
    now: datetime,
    *,
    end_time: datetime | None = None,
    submission: Submission | None = None,
    finalized_by_cqd: bool = False,
    end_message: str = "",
    trace_context: str = "",
) -> Run:
    """End `run` with `status` and queue its outbox row, atomically with the caller's other
    writes. `end_time` overrides `now` (CQDaemon's reported end, spec §4.2). Raises
    RunAlreadyEnded if the stored Run is already ended (so a row is never written twice)."""
    if not is_ended(status):
        raise ValueError(f"{status.name} is not an ended status")
    current = runs_store.get_run(conn, run.id)
    if current is None:
        raise LookupError(f"Run {run.id} does not exist")
    if current.is_ended:
        raise RunAlreadyEnded(run.id)
    ended = dataclasses.replace(
        current,
        status=status,
        end_time=end_time or now,
        submission=submission if submission is not None else current.submission,
        finalized_by_cqd=finalized_by_cqd or current.finalized_by_cqd,
        delay_cancel_until=None,
        end_message=end_message,
    )
    if not runs_store.update_run(conn, ended, now, expected_status=current.status):
        raise RunAlreadyEnded(run.id)
    enqueue_run_row(conn, run.id, now, trace_context=trace_context)
    return ended
