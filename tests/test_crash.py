"""Durability: every ReportVerifiedRun answered OK survives kill -9 of the server."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import httpx
from harness import wait_for
from support import T0, call, change_info, create_run

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.store.db import Database

RUNS = 400


def _create_runs_return_keys(conn: sqlite3.Connection) -> list[str]:
    runs = [create_run(conn, changes=[change_info(1000 + n)], created_at=T0) for n in range(RUNS)]
    return [run.attempt_key for run in runs]


def _seed(path: Path) -> list[str]:
    async def go():
        db = await Database.open(path)
        try:
            return await db.write(_create_runs_return_keys)
        finally:
            await db.close()

    return asyncio.run(go())


def test_kill_9_during_concurrent_report_verified_run_loses_no_acknowledged_write(
    server_factory, tmp_path
):
    workdir = tmp_path / "crash"
    workdir.mkdir()
    keys = _seed(workdir / "cvmigrate.db")
    server = server_factory(workdir=workdir)
    acknowledged: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(RUNS))

    def worker() -> None:
        for index in next_index:  # shared iterator: each key sent once
            request = migration_pb.ReportVerifiedRunRequest(
                run=migration_pb.ReportedRun(attempt=bigquery_pb.Attempt(key=keys[index])),
                action=migration_pb.ReportVerifiedRunRequestAction.DRY_RUN_OK,
            )
            try:
                reply = call(server.base_url, "ReportVerifiedRun", request, timeout=10)
            except httpx.TransportError:
                return  # the server is gone
            if reply.code is Code.OK:
                with lock:
                    acknowledged.append(keys[index])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 30, timeout=60)
    server.kill()
    for thread in threads:
        thread.join(timeout=30)
    with lock:
        acked = set(acknowledged)
    assert 30 <= len(acked) < RUNS, "the kill should land while calls are in flight"

    server.start()  # same directory, same database: recovers from the WAL
    conn = sqlite3.connect(workdir / "cvmigrate.db")
    stored = {
        row[0]
        for row in conn.execute(
            "SELECT r.attempt_key FROM verified_runs v JOIN runs r ON r.id = v.run_id"
        )
    }
    queued = {
        row[0]
        for row in conn.execute(
            "SELECT r.attempt_key FROM run_events e JOIN runs r ON r.id = e.run_id"
            " WHERE e.kind = 'cqd_verification_completed'"
        )
    }
    conn.close()
    assert acked <= stored, f"lost acknowledged writes: {sorted(acked - stored)}"
    assert stored == queued, "every stored report has its run-manager event"
    # The restarted server still answers and remembers: a verified Run is not active.
    reply = call(
        server.base_url,
        "FetchActiveRuns",
        migration_pb.FetchActiveRunsRequest(luci_project="chromium"),
    )
    active = {run.id.rsplit("-", 1)[1] for run in reply.message.active_runs}
    assert not (active & stored)
    assert len(active) == RUNS - len(stored)
