"""`server.max_concurrent_requests` in the real service: RPCs held in flight (their writes
wait on a database another process has locked) fill the cap; further RPCs are answered
RESOURCE_EXHAUSTED at once, /healthz is not an RPC and keeps answering."""

from __future__ import annotations

import concurrent.futures
import sqlite3

import httpx
from harness import wait_for
from support import Reply, call
from test_database_faults import report_runs, seed_runs

from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code


def report_until_admitted(url: str, runs: int) -> Reply:
    """ReportRuns, sent again while refused: the test's polling reads take slots too."""
    while True:
        reply = call(url, "ReportRuns", report_runs(runs), timeout=60)
        if reply.code is not Code.RESOURCE_EXHAUSTED:
            return reply


def test_rpcs_beyond_the_cap_are_refused_and_healthz_is_not_counted(server_factory, tmp_path):
    workdir = tmp_path / "cap"
    workdir.mkdir()
    db_path = workdir / "cvmigrate.db"
    seed_runs(db_path, 1)
    server = server_factory(
        {
            "server": {"bind": "127.0.0.1:0", "max_concurrent_requests": 2},
            "database": {"path": str(db_path), "busy_timeout_ms": 60_000},
        },
        workdir=workdir,
    )
    fetch = migration_pb.FetchActiveRunsRequest(luci_project="chromium")
    other = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            held = [pool.submit(report_until_admitted, server.base_url, n) for n in (1, 2)]
            # Reads pass until both writes are waiting on the lock; then the cap is reached.
            wait_for(
                lambda: (
                    call(server.base_url, "FetchActiveRuns", fetch).code is Code.RESOURCE_EXHAUSTED
                )
            )
            for protocol in ("prpc", "twirp", "connect"):
                reply = call(server.base_url, "FetchActiveRuns", fetch, protocol=protocol)
                assert reply.code is Code.RESOURCE_EXHAUSTED, (protocol, reply)
            assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
            assert not any(future.done() for future in held)
            other.execute("ROLLBACK")
            assert [future.result(timeout=60).code for future in held] == [Code.OK, Code.OK]
    finally:
        other.close()
    assert call(server.base_url, "FetchActiveRuns", fetch).code is Code.OK
