"""Helpers for the run-manager tests (fixtures are in conftest.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from fakes.gerrit import LabelType

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs import event_kinds
from cvmigrate.runs.model import Run
from cvmigrate.store import events, reports
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import Database

CV, OWNER, VOTER, OTHER = 1000, 1001, 1002, 1003
TOKEN = "cv-s3cret-token"
QUICK_RUN = LabelType("Quick-Run", {0: "No", 1: "Quick"})


class Clock:
    """The manager's clock; starts at the real time (the fake Gerrit dates things with it)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


def report_verified(
    conn: sqlite3.Connection,
    run: Run,
    action: migration_pb.ReportVerifiedRunRequestAction | int,
    now: datetime,
    final_message: str = "",
) -> None:
    """What ReportVerifiedRun stores (spec §4.3): the report and the event, together."""
    request = migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(attempt=bigquery_pb.Attempt(key=run.attempt_key)),
        action=action,
        final_message=final_message,
    )
    assert reports.insert_verified_if_absent(conn, run.id, bytes(request), now)
    events.enqueue_event(
        conn, run.id, event_kinds.CQD_VERIFICATION_COMPLETED, now, payload={"action": int(action)}
    )


async def load_run(db: Database, run_id: str) -> Run:
    run = await db.read(lambda conn: runs_store.get_run(conn, run_id))
    assert run is not None
    return run
