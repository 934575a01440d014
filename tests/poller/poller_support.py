"""Constants and helpers for the poller tests (fixtures are in conftest.py)."""

from __future__ import annotations

import sqlite3

from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import Database

__all__ = ["CV", "HOST", "OWNER", "VOTER", "all_runs", "run_cl"]

HOST = "chromium-review.googlesource.com"
CV, OWNER, VOTER = 1000, 1001, 1002


async def all_runs(db: Database, status: Status | None = None) -> list[Run]:
    """Every Run of project chromium, newest first (optionally of one status)."""

    def load(conn: sqlite3.Connection) -> list[Run]:
        return runs_store.list_runs(
            conn, project="chromium", statuses=[status] if status is not None else None
        )

    return await db.read(load)


async def run_cl(db: Database, run_id: str) -> migration_pb.RunCl:
    """The Run's single CL, decoded from what was frozen at creation."""
    (stored,) = await db.read(lambda conn: runs_store.load_run_cls(conn, run_id))
    return migration_pb.RunCl.parse(stored.encoded.pb)
