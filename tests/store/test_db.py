"""The database: group commit, isolation of failed writes, migrations, durability settings."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cvmigrate.store.db import Database, StoreError, StoreUnavailable
from cvmigrate.store.migrate import SchemaTooNew, apply_migrations, known_migrations

# Writes run in the writer process: module-level functions with picklable arguments.


def _insert(conn: sqlite3.Connection, token: str) -> int:
    return conn.execute(
        "INSERT INTO api_tokens (sha256, identity, create_time) VALUES (?, 'user:x', 0)",
        (token,),
    ).rowcount


def _insert_then_fail(conn: sqlite3.Connection, token: str) -> None:
    _insert(conn, token)
    raise ValueError("boom")


def _insert_huge(conn: sqlite3.Connection) -> int:
    conn.execute(
        "INSERT INTO api_tokens (sha256, identity, create_time) VALUES ('big', ?, 0)",
        ("x" * 100_000,),
    )
    return 1


def _insert_when_released(conn: sqlite3.Connection, started: Path, release: Path) -> int:
    started.touch()
    deadline = time.monotonic() + 10
    while not release.exists():  # the test's signal from the other process
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return _insert(conn, "cancelled-caller")


def _insert_then_exit(conn: sqlite3.Connection) -> None:
    _insert(conn, "never")
    raise SystemExit(3)


def _pid(conn: sqlite3.Connection) -> int:
    return os.getpid()


def _blob(conn: sqlite3.Connection, size: int, fill: int) -> bytes:
    return bytes([fill]) * size


def _echo(conn: sqlite3.Connection, *args: object, **kwargs: object) -> tuple[object, ...]:
    return args, kwargs


class _Moment(datetime):
    """A datetime subclass: must cross as itself."""


class _Unrebuildable(Exception):
    def __init__(self, what: str, code: int) -> None:
        super().__init__(f"{what} ({code})")


def _raise_unrebuildable(conn: sqlite3.Connection) -> None:
    raise _Unrebuildable("odd", 7)


def _return_unpicklable(conn: sqlite3.Connection) -> object:
    _insert(conn, "unpicklable-result")
    return threading.Lock()


def _count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone()[0]


async def test_concurrent_writes_commit_together(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        results = await asyncio.gather(*(db.write(_insert, f"t{i}") for i in range(200)))
        assert results == [1] * 200
        assert await db.read(_count) == 200
        assert db.writes == 200
        # Group commit: far fewer transactions (fsyncs) than writes.
        assert 1 <= db.commits <= 10
    finally:
        await db.close()


async def test_failed_write_is_undone_alone(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        outcomes = await asyncio.gather(
            db.write(_insert, "a"),
            db.write(_insert_then_fail, "partial"),
            db.write(_insert, "b"),
            return_exceptions=True,
        )
        assert outcomes[0] == 1 and outcomes[2] == 1
        assert isinstance(outcomes[1], ValueError)
        tokens = await db.read(
            lambda c: [r[0] for r in c.execute("SELECT sha256 FROM api_tokens ORDER BY 1")]
        )
        assert tokens == ["a", "b"]
        # Alone in its batch (no savepoint then): undone too, and the writer goes on.
        with pytest.raises(ValueError, match="boom"):
            await db.write(_insert_then_fail, "partial")
        assert await db.write(_insert, "c") == 1
        assert await db.read(_count) == 3
    finally:
        await db.close()


async def test_sqlite_errors_become_store_errors(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        await db.write(_insert, "dup")
        with pytest.raises(StoreError):
            await db.write(_insert, "dup")
        with pytest.raises(StoreError):
            await db.read(lambda c: c.execute("SELECT * FROM no_such_table").fetchall())
    finally:
        await db.close()
    with pytest.raises(StoreUnavailable):
        await db.write(_insert, "after-close")


async def test_database_uses_wal_and_full_sync(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        assert await db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert await db.write(_synchronous) == 2  # FULL
    finally:
        await db.close()


def test_migrations_apply_once_and_record_version(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    latest = known_migrations()[-1].version
    assert apply_migrations(conn) == list(range(1, latest + 1))
    assert apply_migrations(conn) == []
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "runs",
        "run_cls",
        "cls",
        "verified_runs",
        "finished_runs",
        "netrc_tokens",
        "reported_runs",
        "run_events",
        "outbox",
        "api_tokens",
        "schema_version",
    } <= tables


async def test_newer_database_refuses_to_open(tmp_path):
    path = tmp_path / "x.db"
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn)
    conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    conn.close()
    with pytest.raises(SchemaTooNew, match="999"):
        await Database.open(path)


async def test_reads_go_to_an_idle_reader_not_behind_a_long_one(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    release = threading.Event()

    def long_read(conn: sqlite3.Connection) -> int:
        release.wait(timeout=30)  # holds its reader, as a large FetchActiveRuns does
        return _count(conn)

    try:
        long = asyncio.create_task(db.read(long_read))
        await asyncio.sleep(0)
        # Taking turns would send the second of these to the busy reader.
        for _ in range(3):
            assert await asyncio.wait_for(db.read(_count), timeout=10) == 0
        assert not long.done()
        release.set()
        assert await long == 0
    finally:
        release.set()
        await db.close()


async def test_a_full_database_fails_the_whole_batch_with_the_reason(tmp_path):
    path = tmp_path / "x.db"
    await (await Database.open(path)).close()  # the schema first: its size is the base
    conn = sqlite3.connect(path)
    pages, page_size = (
        conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size")
    )
    conn.close()
    db = await Database.open(path, max_size_bytes=(pages + 2) * page_size)
    try:
        # SQLite undoes the whole transaction on SQLITE_FULL, including the small write
        # that shares it (group commit): neither may be reported as written.
        results = await asyncio.gather(
            db.write(_insert, "small"), db.write(_insert_huge), return_exceptions=True
        )
        for result in results:
            assert isinstance(result, StoreUnavailable), results
            assert result.reason == "the database or disk is full"
        assert await db.read(_count) == 0
        assert await db.write(_insert, "fits") == 1  # what fits in free pages still goes in
    finally:
        await db.close()


async def test_a_database_locked_elsewhere_fails_writes_after_the_busy_timeout(tmp_path):
    db = await Database.open(tmp_path / "x.db", busy_timeout_ms=100)
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable) as caught:
            await asyncio.wait_for(db.write(_insert, "a"), timeout=10)
        assert caught.value.reason == "the database is locked by another connection"
        assert await db.read(_count) == 0  # reads are not blocked (WAL)
        other.execute("ROLLBACK")
        assert await db.write(_insert, "a") == 1
    finally:
        other.close()
        await db.close()


async def test_a_database_that_cannot_be_opened_is_named(tmp_path):
    path = tmp_path / "missing" / "x.db"
    with pytest.raises(StoreUnavailable, match=f"cannot open the database {path}"):
        await Database.open(path)


async def test_point_reads_run_on_the_event_loop_and_see_committed_writes(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        threads: list[str] = []

        def count(conn: sqlite3.Connection) -> int:
            threads.append(threading.current_thread().name)
            return _count(conn)

        assert await db.read_point(count) == 0
        await db.write(_insert, "t1")
        assert await db.read_point(count) == await db.read(_count) == 1
        assert threads == [threading.current_thread().name] * 2  # no hop to a reader thread
    finally:
        await db.close()


async def test_a_busy_point_read_is_done_by_a_reader_thread(tmp_path):
    # SQLite answers a reader SQLITE_BUSY only in rare moments (WAL-index recovery); the
    # point reader must then not wait on the event loop: `read` does the lookup instead.
    db = await Database.open(tmp_path / "x.db")
    try:
        await db.write(_insert, "t1")
        loop_thread = threading.current_thread()
        attempts: list[bool] = []

        def lookup(conn: sqlite3.Connection) -> int:
            on_loop = threading.current_thread() is loop_thread
            attempts.append(on_loop)
            if on_loop:
                busy = sqlite3.OperationalError("database is locked")
                busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
                raise busy
            return _count(conn)

        assert await db.read_point(lookup) == 1
        assert attempts == [True, False]
    finally:
        await db.close()


async def test_point_read_errors_are_store_errors_like_reads(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:

        def broken(conn: sqlite3.Connection) -> object:
            return conn.execute("SELECT * FROM no_such_table").fetchall()

        for read in (db.read, db.read_point):
            with pytest.raises(StoreError, match="database read failed"):
                await read(broken)
        # Read-only, as the reader threads.
        with pytest.raises(StoreError):
            await db.read_point(lambda c: _insert(c, "t2"))
        assert await db.read(_count) == 0
    finally:
        await db.close()


def _synchronous(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA synchronous").fetchone()[0]  # 1 NORMAL, 2 FULL


async def test_writes_that_need_not_be_durable_skip_fsync_only_in_a_batch_of_their_own(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        assert await db.write(_synchronous) == 2
        assert await db.write(_synchronous, durable=False) == 1
        assert await db.write(_synchronous) == 2  # FULL again afterwards
        # Sharing a batch with a durable write, a relaxed one is committed durably too.
        mixed = await asyncio.gather(
            db.write(_synchronous, durable=False),
            db.write(_synchronous),
            db.write(_synchronous, durable=False),
        )
        assert mixed == [2, 2, 2]
        assert await db.write(_insert, "t1", durable=False) == 1
        assert await db.read(_count) == 1
    finally:
        await db.close()


async def test_close_finishes_the_writes_queued_before_it(tmp_path):
    path = tmp_path / "x.db"
    db = await Database.open(path)
    writes = [asyncio.ensure_future(db.write(_insert, f"q{i}")) for i in range(50)]
    await asyncio.sleep(0)  # the writes are queued ...
    await db.close()  # ... and close waits for all of them
    assert [w.result() for w in writes] == [1] * 50
    conn = sqlite3.connect(path)
    try:
        assert _count(conn) == 50
    finally:
        conn.close()


async def test_a_write_whose_caller_was_cancelled_still_commits(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    started, release = tmp_path / "started", tmp_path / "release"
    try:
        caller = asyncio.ensure_future(db.write(_insert_when_released, started, release))
        await _until(started.exists)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        release.touch()
        await db.write(_insert, "next")  # committed after the cancelled caller's write
        assert await db.read(_count) == 2
    finally:
        release.touch()
        await db.close()


async def test_the_writer_survives_a_write_that_raises_a_base_exception(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        writer_pid = await db.write(_pid)
        with pytest.raises(StoreUnavailable):
            await db.write(_insert_then_exit)
        assert await db.write(_pid) == writer_pid  # the same process goes on
        assert await db.write(_insert, "after") == 1
        assert await db.read(_count) == 1  # the failed batch was undone
    finally:
        await db.close()


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped yet) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_writes_run_in_a_writer_process_that_close_stops(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    writer_pid = await db.write(_pid)
    assert writer_pid != os.getpid()
    await db.close()
    assert not _alive(writer_pid)


async def test_a_closure_is_refused_before_anything_is_written(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        with pytest.raises(TypeError, match="module-level function"):
            await db.write(lambda c: _insert(c, "lambda"))
        with pytest.raises(TypeError, match="module-level function"):
            await db.write(_insert, threading.Lock())  # an argument that cannot cross
        assert await db.read(_count) == 0
        assert db.writes == 0
    finally:
        await db.close()


async def test_answers_larger_than_one_read_come_back_whole(tmp_path):
    # The event loop reads the writer's socket 64 KiB at a time (store/db.py _READ_BYTES):
    # big answers, and several answers in one batch, arrive in pieces.
    db = await Database.open(tmp_path / "x.db")
    try:
        sizes = [3 * 1024 * 1024 + 7, 65536, 1, 200_000]
        blobs = await asyncio.gather(*(db.write(_blob, size, i) for i, size in enumerate(sizes)))
    finally:
        await db.close()
    assert [len(blob) for blob in blobs] == sizes
    assert [blob[-1] for blob in blobs] == [0, 1, 2, 3]


async def test_datetimes_reach_the_writer_unchanged(tmp_path):
    # UTC datetimes cross as microseconds (store/db.py _WritePickler); the others as pickle
    # sends them. Each must come out equal, of the same type, in the same zone.
    now = datetime(2026, 11, 28, 14, 15, 16, 123456, tzinfo=UTC)
    values = [
        now,
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        now.astimezone(timezone(timedelta(hours=1))),
        now.replace(tzinfo=None),
        _Moment(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ]
    db = await Database.open(tmp_path / "x.db")
    try:
        args, kwargs = await db.write(_echo, *values, nested=[now], at=now)
    finally:
        await db.close()
    for sent, got in zip(values, args, strict=True):
        assert got == sent
        assert type(got) is type(sent)
        assert got.tzinfo == sent.tzinfo
        assert got.utcoffset() == sent.utcoffset()
    assert kwargs == {"nested": [now], "at": now}
    assert kwargs["at"].tzinfo is UTC


async def test_outcomes_that_cannot_cross_back_fail_that_write_alone(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    try:
        outcomes = await asyncio.gather(
            db.write(_raise_unrebuildable),
            db.write(_return_unpicklable),
            db.write(_insert, "ok"),
            return_exceptions=True,
        )
        # An exception pickle cannot rebuild comes back as a StoreError naming it.
        assert isinstance(outcomes[0], StoreError)
        assert "_Unrebuildable: odd (7)" in str(outcomes[0])
        # A result that cannot be sent back fails its write; what it wrote stands (the
        # transaction committed), as for an answer lost on the way.
        assert isinstance(outcomes[1], StoreError)
        assert "cannot be sent back" in str(outcomes[1])
        assert outcomes[2] == 1
        assert await db.read(_count) == 2
    finally:
        await db.close()


async def test_a_killed_writer_fails_its_writes_and_is_started_again(tmp_path):
    db = await Database.open(tmp_path / "x.db")
    started, release = tmp_path / "started", tmp_path / "release"
    try:
        writer_pid = await db.write(_pid)
        in_flight = asyncio.ensure_future(db.write(_insert_when_released, started, release))
        await _until(started.exists)
        os.kill(writer_pid, signal.SIGKILL)
        with pytest.raises(StoreUnavailable) as caught:
            await in_flight
        assert caught.value.reason == "the database writer stopped"
        # The next writes start one other writer; the killed one's transaction was undone.
        after = await asyncio.gather(*(db.write(_insert, f"after{i}") for i in range(5)))
        assert after == [1] * 5
        assert await db.write(_pid) not in (writer_pid, os.getpid())
        assert db.writer_restarts == 1
        assert await db.read(_count) == 5
    finally:
        release.touch()
        await db.close()


async def test_the_writer_ignores_stop_signals_and_leaves_when_the_service_does(tmp_path):
    # systemd and Ctrl-C signal the whole process group: the writer must not cut a batch
    # short; it finishes what it was sent and exits when the service closes its socket.
    db = await Database.open(tmp_path / "x.db")
    writer_pid = await db.write(_pid)
    try:
        os.kill(writer_pid, signal.SIGTERM)
        os.kill(writer_pid, signal.SIGINT)
        assert await db.write(_insert, "after-signals") == 1
        assert await db.write(_pid) == writer_pid
    finally:
        await db.close()
    assert not _alive(writer_pid)
