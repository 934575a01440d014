"""The exporter against the local BigQuery emulator: rows arrive whole and once, bad rows die
with BigQuery's reason, an outage or a crash loses nothing, and the service exports by itself."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from bq_emulator import LocalBigQuery
from export_support import emulator_settings, table_rows
from harness import async_wait_for, wait_for
from support import HOST, call, change_info, create_run

from cvmigrate.export.exporter import run_exporter, run_once
from cvmigrate.export.rows import enqueue_finished_attempt_row
from cvmigrate.export.sink import BigQuerySink
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.end import end_run
from cvmigrate.runs.status import Status
from cvmigrate.store import outbox, reports


class ProcessDied(BaseException):
    """Stands for the exporter's process dying right after BigQuery accepted a request."""


def _jsonable(value: Any) -> Any:
    """A value read back from BigQuery in the form attempt_to_row wrote it."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _attempt_row(key: str, **overrides: Any) -> str:
    row = {
        "key": key,
        "luci_project": "chromium",
        "status": "SUCCESS",
        "end_time": "2026-11-01T12:30:00.000000Z",
        "gerrit_changes": [{"host": HOST, "change": 1, "mode": "DRY_RUN"}],
        "insert_id": f"attempt-{key}",
        **overrides,
    }
    return json.dumps(row)


def _enqueue_rows(
    conn: sqlite3.Connection, keys: Sequence[str], overrides: dict[str, Any], now: datetime
) -> None:
    for key in keys:
        outbox.enqueue_row(conn, f"attempt-{key}", _attempt_row(key, **overrides), now)


async def _enqueue(db, clock, keys: Sequence[str], **overrides: Any) -> None:
    await db.write(_enqueue_rows, keys, overrides, clock())


async def _states(db) -> dict[str, str]:
    return {row.dedup_key: row.state for row in await db.read(outbox.list_rows)}


def _end_failed_and_cancelled_runs(conn: sqlite3.Connection, now: datetime) -> None:
    verified = create_run(conn, changes=[change_info(1), change_info(2)], mode="FULL_RUN")
    report = migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(
            attempt=bigquery_pb.Attempt(
                status=bigquery_pb.AttemptStatus.FAILURE,
                substatus=bigquery_pb.AttemptSubstatus.FAILED_TRYJOBS,
                builds=[bigquery_pb.Build(id=42, host="bb", origin=3, critical=True)],
            )
        )
    )
    reports.insert_verified_if_absent(conn, verified.id, bytes(report), now)
    end_run(conn, verified, Status.FAILED, now)
    cancelled = create_run(conn, changes=[change_info(3)])
    end_run(conn, cancelled, Status.CANCELLED, now)


def _mark_all_rows_pending(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE outbox SET state = 'pending'")


async def test_ended_runs_and_finished_attempts_arrive_with_the_queued_contents(
    db, clock, bq_settings, bq_client
):
    await db.write(_end_failed_and_cancelled_runs, clock())
    reported = bigquery_pb.Attempt(
        key="00000000000000aa",
        luci_project="v8",
        status=bigquery_pb.AttemptStatus.SUCCESS,
        start_time=clock(),
        end_time=clock(),
        gerrit_changes=[bigquery_pb.GerritChange(host=HOST, change=9, patchset=2, mode=1)],
    )
    await db.write(enqueue_finished_attempt_row, reported, clock())
    queued = {row.dedup_key: json.loads(row.row_json) for row in await db.read(outbox.list_rows)}

    sink = BigQuerySink(bq_settings)
    try:
        result = await run_once(db, sink, bq_settings, clock=clock)
    finally:
        sink.close()

    assert (result.sent, result.dead, result.error) == (3, 0, "")
    arrived = {row["insert_id"]: _jsonable(row) for row in table_rows(bq_client, bq_settings)}
    assert arrived == queued
    failed = next(row for row in arrived.values() if row["status"] == "FAILURE")
    assert failed["builds"] == [{"id": 42, "host": "bb", "origin": "REUSED", "critical": True}]
    assert [gc["change"] for gc in failed["gerrit_changes"]] == [1, 2]


async def test_resending_a_batch_does_not_duplicate(db, clock, bq_settings, bq_client):
    await _enqueue(db, clock, [f"{n:016x}" for n in range(5)])
    sink = BigQuerySink(bq_settings)
    try:
        assert (await run_once(db, sink, bq_settings, clock=clock)).sent == 5
        # As if the acknowledgement had been lost: every row is pending again.
        await db.write(_mark_all_rows_pending)
        assert (await run_once(db, sink, bq_settings, clock=clock)).sent == 5
    finally:
        sink.close()
    assert len(table_rows(bq_client, bq_settings)) == 5


async def test_bad_row_goes_dead_with_its_reason_while_the_good_ones_land(
    db, clock, bq_settings, bq_client
):
    await _enqueue(db, clock, ["good1"])
    await _enqueue(db, clock, ["bad"], end_time="not-a-timestamp")
    await _enqueue(db, clock, ["good2"])
    sink = BigQuerySink(bq_settings)
    try:
        result = await run_once(db, sink, bq_settings, clock=clock)
    finally:
        sink.close()
    assert (result.sent, result.dead) == (2, 1)
    rows = {row.dedup_key: row for row in await db.read(outbox.list_rows)}
    assert rows["attempt-bad"].state == "dead"
    assert rows["attempt-bad"].last_error == (
        "invalid at end_time: Cannot convert value to timestamp (bad value): not-a-timestamp"
    )
    assert [row["key"] for row in table_rows(bq_client, bq_settings)] == ["good1", "good2"]


async def test_bigquery_down_for_a_while_loses_nothing(db, clock, tmp_path, bq_client):
    emulator = LocalBigQuery(tmp_path / "outage").start()
    try:
        settings = emulator_settings(emulator)
        sink = BigQuerySink(settings)
        sink.create_table()
        # A real clock: the backoff after the failed tries must pass by itself.
        task = asyncio.create_task(
            run_exporter(db, settings, lambda: sink, clock=lambda: datetime.now(UTC))
        )
        await _enqueue(db, clock, ["before"])
        await async_wait_for(lambda: _all_sent(db), within=20)

        await asyncio.to_thread(emulator.stop)
        await _enqueue(db, clock, [f"during{n}" for n in range(20)])

        async def tried_and_failed() -> bool:
            rows = await db.read(outbox.list_rows)
            return any(row.attempts >= 1 and row.state == "pending" for row in rows)

        await async_wait_for(tried_and_failed, within=20)
        waiting = [row for row in await db.read(outbox.list_rows) if row.state == "pending"]
        assert len(waiting) == 20 and "ConnectionError" in waiting[0].last_error

        await asyncio.to_thread(emulator.start)  # same ports, same data
        await async_wait_for(lambda: _all_sent(db), within=30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        keys = sorted(row["key"] for row in table_rows(sink.client, settings))
        sink.close()
        assert keys == sorted(["before", *(f"during{n}" for n in range(20))])
    finally:
        emulator.stop()


async def _all_sent(db) -> bool:
    states = await _states(db)
    return bool(states) and set(states.values()) == {"sent"}


async def test_exporter_killed_mid_batch_and_restarted_loses_and_duplicates_nothing(
    db, clock, bq_settings, bq_client
):
    settings = bq_settings.model_copy(update={"batch_rows": 10})
    await _enqueue(db, clock, [f"{n:016x}" for n in range(35)])
    sink = BigQuerySink(settings)
    inserts = 0

    def insert_then_die_on_the_second(rows, row_ids):
        nonlocal inserts
        errors = BigQuerySink.insert_rows(sink, rows, row_ids)
        inserts += 1
        if inserts == 2:
            raise ProcessDied  # after BigQuery stored the batch, before it was marked sent
        return errors

    sink.insert_rows = insert_then_die_on_the_second  # type: ignore[method-assign]
    try:
        with pytest.raises(ProcessDied):
            await run_once(db, sink, settings, clock=clock)
        states = await _states(db)
        assert list(states.values()).count("sent") == 10
        assert len(table_rows(bq_client, settings)) == 20  # the dying batch did land

        restarted = await run_once(db, BigQuerySink(settings), settings, clock=clock)
    finally:
        sink.close()
    assert restarted.sent == 25  # the unacknowledged batch again, with the same insertIds
    rows = table_rows(bq_client, settings)
    assert sorted(row["key"] for row in rows) == [f"{n:016x}" for n in range(35)]
    view = f"`{settings.project}.{settings.dataset}.{settings.table}_deduped`"
    (count,) = next(iter(bq_client.query(f"SELECT COUNT(*) FROM {view}").result()))  # noqa: S608
    assert count == 35


def test_service_exports_by_itself_and_a_kill_mid_export_loses_nothing(
    server_factory, bq_settings, bq_client, tmp_path
):
    workdir = tmp_path / "service"
    workdir.mkdir()
    config = {"bigquery": {**bq_settings.model_dump(), "batch_rows": 20}}
    server = server_factory(config, workdir=workdir)

    # An RPC ends an attempt; the running service's exporter streams its row.
    request = migration_pb.ReportFinishedRunRequest(
        run=migration_pb.ReportedRun(
            attempt=bigquery_pb.Attempt(
                key="00000000000000bb",
                luci_project="chromium",
                status=bigquery_pb.AttemptStatus.SUCCESS,
                gerrit_changes=[bigquery_pb.GerritChange(host=HOST, change=5)],
            )
        )
    )
    assert call(server.base_url, "ReportFinishedRun", request).code.name == "OK"
    wait_for(lambda: len(table_rows(bq_client, bq_settings)) == 1, timeout=20)

    # Many rows at once, and the service killed (SIGKILL) while it exports them.
    conn = sqlite3.connect(workdir / "cvmigrate.db", timeout=30)
    with conn:
        for n in range(600):
            key = f"{0x100000 + n:016x}"  # not 00000000000000bb, the RPC's attempt
            row = _attempt_row(key)
            outbox.enqueue_row(conn, f"attempt-{key}", row, datetime.now(UTC))
    wait_for(lambda: _sent(conn) > 1, timeout=20)
    server.kill()
    assert _sent(conn) < 601  # killed part-way through
    server.start()
    wait_for(lambda: _sent(conn) == 601, timeout=30)
    conn.close()
    rows = table_rows(bq_client, bq_settings)
    assert len(rows) == 601 == len({row["insert_id"] for row in rows})


def _sent(conn: sqlite3.Connection) -> int:
    return outbox.outbox_status(conn).sent
