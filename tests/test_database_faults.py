"""Database faults under `cvmigrate serve`: locked by another process, and full.

Write RPCs answer UNAVAILABLE (retryable) with the reason, reads keep working, nothing is
half-written, and writes succeed again once the lock is released or space is freed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import T0, Reply, call, change_info, create_run, finished_request

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.model import Run
from cvmigrate.store.db import Database

BUSY_TIMEOUT_MS = 200


def _create_runs(conn: sqlite3.Connection, count: int) -> list[Run]:
    return [create_run(conn, changes=[change_info(100 + n)], created_at=T0) for n in range(count)]


def seed_runs(path: Path, count: int) -> list[Run]:
    async def go() -> list[Run]:
        db = await Database.open(path)
        try:
            return await db.write(_create_runs, count)
        finally:
            await db.close()

    return asyncio.run(go())


def report_runs(runs: int) -> migration_pb.ReportRunsRequest:
    """A ReportRuns whose stored payload needs new database pages (~60 bytes per run)."""
    return migration_pb.ReportRunsRequest(
        runs=[
            migration_pb.ReportedRun(
                attempt=bigquery_pb.Attempt(key=f"{n:016x}", luci_project="chromium")
            )
            for n in range(runs)
        ]
    )


def verified(run: Run) -> migration_pb.ReportVerifiedRunRequest:
    return migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(id=run.id),
        action=migration_pb.ReportVerifiedRunRequestAction.FAIL,
        final_message="failed",
    )


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def assert_reads_work(url: str, run: Run) -> None:
    active = call(
        url, "FetchActiveRuns", migration_pb.FetchActiveRunsRequest(luci_project="chromium")
    )
    assert active.code is Code.OK, active
    status = call(
        url,
        "FetchRunStatus",
        migration_pb.FetchRunStatusRequest(
            luci_project="chromium", cv_id=run.id, attempt_key=run.attempt_key
        ),
    )
    assert status.code in (Code.OK, Code.FAILED_PRECONDITION), status


def assert_unavailable(reply: Reply, reason: str, protocol: str = "twirp") -> None:
    assert reply.code is Code.UNAVAILABLE, reply
    if protocol != "prpc":  # pRPC answers UNAVAILABLE with a generic text (luci-go)
        assert reason in reply.error and "retry later" in reply.error, reply.error


@pytest.fixture
def locker() -> Iterator[list[sqlite3.Connection]]:
    """Connections the test opens as "another process"; closed at teardown."""
    opened: list[sqlite3.Connection] = []
    yield opened
    for conn in opened:
        conn.close()


def test_locked_database_makes_writes_unavailable_until_the_lock_clears(
    server_factory, tmp_path, locker
):
    workdir = tmp_path / "locked"
    workdir.mkdir()
    db_path = workdir / "cvmigrate.db"
    runs = seed_runs(db_path, 3)
    server = server_factory(
        {"database": {"path": str(db_path), "busy_timeout_ms": BUSY_TIMEOUT_MS}}, workdir=workdir
    )
    other = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    locker.append(other)
    other.execute("BEGIN EXCLUSIVE")  # e.g. a sqlite3 shell or a backup tool

    for protocol in ("twirp", "connect", "prpc"):
        started = time.monotonic()
        reply = call(server.base_url, "ReportRuns", report_runs(5), protocol=protocol)
        # Not the 10 s default: the configured busy timeout, then a clear, retryable error.
        assert time.monotonic() - started < 8
        assert_unavailable(reply, "the database is locked by another connection", protocol)
    for method, request in (("ReportFinishedRun", finished_request(runs[0])),
                            ("ReportVerifiedRun", verified(runs[1]))):  # fmt: skip
        assert_unavailable(call(server.base_url, method, request, protocol="connect"), "locked")
    assert_reads_work(server.base_url, runs[0])

    other.execute("ROLLBACK")
    assert call(server.base_url, "ReportRuns", report_runs(5)).code is Code.OK
    assert call(server.base_url, "ReportFinishedRun", finished_request(runs[0])).code is Code.OK
    assert call(server.base_url, "ReportVerifiedRun", verified(runs[1])).code is Code.OK
    server.stop()
    assert integrity(db_path) == "ok"
    assert count(db_path, "SELECT count(*) FROM finished_runs") == 1
    assert count(db_path, "SELECT count(*) FROM verified_runs") == 1
    assert "Traceback" not in server.log()


def test_full_database_makes_writes_unavailable_reads_work_and_recovers(
    server_factory, tmp_path, locker
):
    workdir = tmp_path / "full"
    workdir.mkdir()
    db_path = workdir / "cvmigrate.db"
    runs = seed_runs(db_path, 3)
    page_size = count(db_path, "PRAGMA page_size")
    max_pages = count(db_path, "PRAGMA page_count") + 64
    server = server_factory(
        {"database": {"path": str(db_path), "max_size_bytes": max_pages * page_size}},
        workdir=workdir,
    )
    # Another writer fills the file up to the same size: the disk is now "full".
    filler = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    locker.append(filler)
    filler.execute(f"PRAGMA max_page_count = {max_pages}")
    filler.execute("CREATE TABLE filler (data BLOB)")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for _ in range(10 * max_pages):
            filler.execute("INSERT INTO filler VALUES (zeroblob(1000))")
    before = count(db_path, "SELECT count(*) FROM reported_runs")

    for protocol in ("twirp", "connect", "prpc"):
        reply = call(server.base_url, "ReportRuns", report_runs(500), protocol=protocol)
        assert_unavailable(reply, "the database or disk is full", protocol)
    assert_reads_work(server.base_url, runs[0])
    assert count(db_path, "SELECT count(*) FROM reported_runs") == before

    filler.execute("DROP TABLE filler")  # space is freed (pages go back to the free list)
    assert call(server.base_url, "ReportRuns", report_runs(500)).code is Code.OK
    assert call(server.base_url, "ReportFinishedRun", finished_request(runs[2])).code is Code.OK
    assert_reads_work(server.base_url, runs[0])
    server.stop()
    assert integrity(db_path) == "ok"
    assert count(db_path, "SELECT count(*) FROM reported_runs") == before + 1
    assert "Traceback" not in server.log()
