"""The exporter's decisions with a fake sink: batching, dead rows, stopped rows, backoff,
splitting refused requests, a crash between insert and mark, and the background loop.
(test_export_emulator.py proves the same against the local BigQuery emulator.)"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions
from harness import TelemetryCapture, async_wait_for
from support import Clock

from cvmigrate.config import BigQuerySettings
from cvmigrate.export.exporter import (
    backoff_delay,
    run_exporter,
    run_once,
    split_requests,
    start_exporter,
)
from cvmigrate.store import outbox
from cvmigrate.store.db import Database
from cvmigrate.store.outbox import OutboxRow

SETTINGS = BigQuerySettings(
    project="p", batch_rows=3, backoff_initial_s=10, backoff_max_s=80, poll_interval_s=0.01
)


class FakeSink:
    """BigQuery's insertAll semantics in memory: a row whose `key` starts with "bad" is
    invalid, and then the request writes nothing and the other rows come back `stopped`;
    insertIds are de-duplicated. `fail` makes the next calls raise instead."""

    def __init__(self) -> None:
        self.table: dict[str, Mapping[str, Any]] = {}
        self.calls: list[list[str]] = []
        self.fail: list[BaseException] = []
        self.after_insert: Callable[[], None] | None = None
        self.closed = False

    def insert_rows(
        self, rows: Sequence[Mapping[str, Any]], row_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        self.calls.append(list(row_ids))
        if self.fail:
            raise self.fail.pop(0)
        invalid = [i for i, row in enumerate(rows) if str(row["key"]).startswith("bad")]
        if invalid:
            return [
                {
                    "index": i,
                    "errors": [
                        {"reason": "invalid", "location": "key", "message": "bad key"}
                        if i in invalid
                        else {"reason": "stopped", "location": "", "message": ""}
                    ],
                }
                for i in range(len(rows))
            ]
        for row, row_id in zip(rows, row_ids, strict=True):
            self.table.setdefault(row_id, row)
        if self.after_insert is not None:
            self.after_insert()
        return []

    def close(self) -> None:
        self.closed = True


class ProcessDied(BaseException):
    """Stands for the process dying right after BigQuery accepted a request."""


def _enqueue_rows(conn, keys: Sequence[str], size: int, now: datetime) -> None:
    for key in keys:
        row = {"key": key, "padding": "x" * size}
        outbox.enqueue_row(conn, f"attempt-{key}", json.dumps(row), now)


async def _enqueue(db: Database, clock: Clock, *keys: str, size: int = 10) -> None:
    await db.write(_enqueue_rows, keys, size, clock())


async def _rows(db: Database) -> dict[str, OutboxRow]:
    return {row.dedup_key: row for row in await db.read(outbox.list_rows)}


def _row(key: str, size: int) -> OutboxRow:
    return OutboxRow(
        id=0,
        dedup_key=key,
        row_json="x" * size,
        state="pending",
        attempts=0,
        last_error="",
        trace_context="",
        not_before=None,  # type: ignore[arg-type]
        create_time=None,  # type: ignore[arg-type]
        sent_time=None,
    )


def test_split_requests_caps_rows_and_bytes():
    rows = [_row(f"k{i}", 100) for i in range(7)]
    assert [len(r) for r in split_requests(rows, max_rows=3)] == [3, 3, 1]
    # ~134 bytes per row with the key and framing: two fit under 300 bytes, three do not.
    assert [len(r) for r in split_requests(rows, max_rows=10, max_bytes=300)] == [2, 2, 2, 1]
    huge = [_row("big", 1000), _row("small", 10)]
    assert [len(r) for r in split_requests(huge, max_rows=10, max_bytes=300)] == [1, 1]


def test_backoff_delay_doubles_with_jitter_up_to_the_cap():
    rng = random.Random(1)  # noqa: S311 (jitter, not secrets)
    for attempts, base in [(0, 10), (1, 20), (2, 40), (3, 80), (9, 80), (500, 80)]:
        delays = [backoff_delay(attempts, SETTINGS, rng) for _ in range(50)]
        assert all(base / 2 <= delay < base for delay in delays)
        assert len(set(delays)) > 1  # jittered


async def test_run_once_sends_every_due_row_in_batches_with_dedup_keys(db, clock):
    await _enqueue(db, clock, *[f"k{i}" for i in range(7)])
    sink = FakeSink()
    progress: list[int] = []
    result = await run_once(db, sink, SETTINGS, clock=clock, on_progress=progress.append)
    assert (result.sent, result.dead, result.error) == (7, 0, "")
    assert [len(call) for call in sink.calls] == [3, 3, 1]
    assert sink.calls[0] == ["attempt-k0", "attempt-k1", "attempt-k2"]
    assert sink.table["attempt-k4"]["key"] == "k4"
    assert sum(progress) == 7
    rows = await _rows(db)
    assert {row.state for row in rows.values()} == {"sent"}
    assert all(row.attempts == 1 and row.sent_time == clock() for row in rows.values())


async def test_invalid_row_goes_dead_with_its_reason_and_the_others_are_resent(db, clock):
    await _enqueue(db, clock, "k1", "bad2", "k3")
    sink = FakeSink()
    result = await run_once(db, sink, SETTINGS, clock=clock)
    assert (result.sent, result.dead, result.retried) == (2, 1, 0)
    assert sink.calls == [
        ["attempt-k1", "attempt-bad2", "attempt-k3"],
        ["attempt-k1", "attempt-k3"],
    ]
    rows = await _rows(db)
    assert rows["attempt-bad2"].state == "dead"
    assert rows["attempt-bad2"].last_error == "invalid at key: bad key"
    assert (rows["attempt-k1"].state, rows["attempt-k3"].state) == ("sent", "sent")
    # Dead rows are kept, and not sent again.
    await run_once(db, sink, SETTINGS, clock=clock)
    assert len(sink.calls) == 2


async def test_transient_failure_keeps_rows_pending_until_the_backoff_passes(db, clock):
    await _enqueue(db, clock, "k1", "k2", "k3", "k4")
    sink = FakeSink()
    sink.fail = [google_exceptions.ServiceUnavailable("backend down")]
    result = await run_once(db, sink, SETTINGS, clock=clock)
    assert (result.sent, result.retried) == (0, 3)
    assert result.error == "ServiceUnavailable: 503 backend down"
    assert len(sink.calls) == 1  # the pass stops at the first transient failure
    rows = await _rows(db)
    failed = rows["attempt-k1"]
    assert (failed.state, failed.attempts, failed.last_error) == ("pending", 1, result.error)
    assert clock() + timedelta(seconds=5) <= failed.not_before < clock() + timedelta(seconds=10)
    assert rows["attempt-k4"].attempts == 0  # never tried: no attempt counted

    # Not due yet: the next pass sends only the untried row.
    result = await run_once(db, sink, SETTINGS, clock=clock)
    assert (result.sent, sink.calls[-1]) == (1, ["attempt-k4"])
    clock.advance(seconds=10)
    result = await run_once(db, sink, SETTINGS, clock=clock)
    assert result.sent == 3
    assert {row.state for row in (await _rows(db)).values()} == {"sent"}


async def test_drain_sends_rows_that_wait_out_a_backoff(db, clock):
    await _enqueue(db, clock, "k1")
    sink = FakeSink()
    sink.fail = [ConnectionError("refused")]
    await run_once(db, sink, SETTINGS, clock=clock)
    result = await run_once(db, sink, SETTINGS, clock=clock, due_by=clock() + timedelta(days=365))
    assert result.sent == 1


@pytest.mark.parametrize(
    "reasons",
    [pytest.param(["backendError"], id="other-reason"), pytest.param(["stopped"], id="stopped")],
)
async def test_row_errors_that_blame_no_row_are_retried_not_dead(db, clock, reasons):
    await _enqueue(db, clock, "k1", "k2")

    class OddSink(FakeSink):
        def insert_rows(self, rows, row_ids):
            self.calls.append(list(row_ids))
            return [{"index": 0, "errors": [{"reason": reason} for reason in reasons]}]

    sink = OddSink()
    result = await run_once(db, sink, SETTINGS, clock=clock)
    rows = await _rows(db)
    assert rows["attempt-k1"].state == "pending" and rows["attempt-k1"].attempts == 1
    assert rows["attempt-k2"].state == "sent"  # not named in insertErrors: it was written
    assert (result.sent, result.retried, result.dead) == (1, 1, 0)
    assert len(sink.calls) == 1


async def test_refused_request_is_halved_until_the_bad_row_is_alone(db, clock):
    await _enqueue(db, clock, "k1", "k2", "poison", "k4", "k5", "k6")

    class PickySink(FakeSink):
        def insert_rows(self, rows, row_ids):
            if "attempt-poison" in row_ids:
                self.calls.append(list(row_ids))
                raise google_exceptions.BadRequest("request contains an unparsable row")
            return super().insert_rows(rows, row_ids)

    sink = PickySink()
    settings = SETTINGS.model_copy(update={"batch_rows": 6})
    result = await run_once(db, sink, settings, clock=clock)
    assert (result.sent, result.dead) == (5, 1)
    rows = await _rows(db)
    assert rows["attempt-poison"].state == "dead"
    assert "BadRequest: 400 request contains an unparsable row" in rows["attempt-poison"].last_error


async def test_crash_between_insert_and_mark_resends_with_the_same_insert_ids(db, clock):
    await _enqueue(db, clock, "k1", "k2", "k3")
    sink = FakeSink()

    def die() -> None:
        raise ProcessDied

    sink.after_insert = die
    with pytest.raises(ProcessDied):
        await run_once(db, sink, SETTINGS, clock=clock)
    # BigQuery has the rows, the outbox does not know: they are still pending, none lost.
    assert len(sink.table) == 3
    assert {row.state for row in (await _rows(db)).values()} == {"pending"}

    sink.after_insert = None  # "restarted"
    result = await run_once(db, sink, SETTINGS, clock=clock)
    assert result.sent == 3
    assert sink.calls[1] == sink.calls[0]  # same insertIds: BigQuery drops the copies
    assert len(sink.table) == 3


async def test_row_json_that_does_not_parse_is_dead_not_retried(db, clock):
    await db.write(outbox.enqueue_row, "attempt-x", "{not json", clock())
    await _enqueue(db, clock, "k1")
    result = await run_once(db, FakeSink(), SETTINGS, clock=clock)
    assert (result.sent, result.dead) == (1, 1)
    assert (await _rows(db))["attempt-x"].last_error.startswith("row_json is not valid JSON")


async def test_background_loop_survives_a_sink_it_cannot_make_and_stops_when_cancelled(db, clock):
    await _enqueue(db, clock, "k1", "k2")
    sink = FakeSink()
    attempts = []

    def make_sink() -> FakeSink:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("no credentials yet")
        return sink

    settings = SETTINGS.model_copy(update={"backoff_initial_s": 0.01, "backoff_max_s": 0.02})
    task = asyncio.create_task(run_exporter(db, settings, make_sink, clock=clock))

    async def all_sent() -> bool:
        return {row.state for row in (await _rows(db)).values()} == {"sent"}

    await async_wait_for(all_sent, within=10)
    await _enqueue(db, clock, "k3")  # rows written later are picked up by the loop
    await async_wait_for(lambda: _sent_count(db, 3), within=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink.closed and len(attempts) == 2


async def _sent_count(db: Database, expected: int) -> bool:
    return (await db.read(outbox.outbox_status)).sent == expected


async def test_start_exporter_is_off_by_default(db, clock):
    assert start_exporter(db, BigQuerySettings(), clock=clock) is None


async def test_each_insert_is_a_span_linked_to_the_spans_that_queued_its_rows(db, clock):
    capture = TelemetryCapture.install()
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await db.write(
        outbox.enqueue_row,
        "attempt-k1",
        json.dumps({"key": "k1"}),
        clock(),
        trace_context=traceparent,
    )
    await run_once(db, FakeSink(), SETTINGS, clock=clock)
    spans = capture.spans.get_finished_spans()  # shared by the whole session: take the last
    span = [s for s in spans if s.name == "BigQuery insertAll"][-1]
    assert span.attributes["cv.bigquery.rows"] == 1
    assert [format(link.context.trace_id, "032x") for link in span.links] == [
        "0af7651916cd43dd8448eb211c80319c"
    ]
