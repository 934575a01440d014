"""The SQLite database: one writer that commits concurrent writes together, and readers.

Writes are plain functions of a `sqlite3.Connection` handed to `Database.write`. The writer
task drains everything queued, runs the batch in one `BEGIN IMMEDIATE` transaction (each
function inside its own SAVEPOINT, so one failing write does not undo the others), commits
once with `synchronous=FULL`, and only then resolves the callers' futures: an RPC that was
answered OK is on disk, and N concurrent writes cost one fsync instead of N (group commit).
Reads run on separate connections; in WAL mode they see the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from opentelemetry import trace

from cvmigrate import telemetry
from cvmigrate.store.migrate import apply_migrations

__all__ = ["Database", "StoreError", "StoreUnavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_BATCH = 256
_READERS = 2


class StoreError(Exception):
    """A storage operation failed."""


class StoreUnavailable(StoreError):
    """The database cannot be written now (locked, disk full, closed); retry later."""


def _configure(conn: sqlite3.Connection, *, writer: bool) -> None:
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is durable before the RPC answers (survives kill -9 and power loss).
        conn.execute("PRAGMA synchronous = FULL")
    else:
        conn.execute("PRAGMA query_only = ON")


async def _run(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    # aiosqlite runs every call on the connection's own thread; `_execute` hands it a whole
    # function, so a batch of statements costs one thread hop instead of one per statement.
    return await conn._execute(fn, conn._conn)


class Database:
    """An open cvmigrate database. Use `await Database.open(path)`; `await db.close()`."""

    def __init__(
        self, path: str, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]
    ):
        self.path = path
        self._writer = writer
        self._readers = readers
        self._next_reader = 0
        self._queue: asyncio.Queue[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]]
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._write_loop(), name="cvmigrate-db-writer")
        self._closed = False
        self.commits = 0
        """Transactions committed by the writer (each may hold many writes)."""
        self.writes = 0
        """Write functions run by the writer."""

    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> Database:
        """Open (creating if needed) and bring the schema up to date unless `migrate=False`.

        Raises StoreError if the database is newer than this code knows.
        """
        path = str(path)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await _run(writer, lambda c: _configure(c, writer=True))
            if migrate:
                await _run(writer, apply_migrations)
            readers = []
            for _ in range(_READERS):
                reader = await aiosqlite.connect(path, isolation_level=None)
                await _run(reader, lambda c: _configure(c, writer=False))
                readers.append(reader)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, readers)

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._closed:
            return
        self._closed = True
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        for conn in (self._writer, *self._readers):
            await conn.close()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on a read-only connection and return its result."""
        reader = self._readers[self._next_reader % len(self._readers)]
        self._next_reader += 1
        try:
            with _span("read", fn):
                return await _run(reader, fn)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"database read failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` inside a committed transaction; return its result once durable.

        An exception raised by `fn` is re-raised here and undoes only `fn`'s changes.
        A failed commit raises StoreUnavailable (nothing of the batch was written).
        """
        if self._closed:
            raise StoreUnavailable("database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with _span("write", fn):
            await self._queue.put((fn, future))
            return await future

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await _run(self._writer, functools.partial(_commit_batch, batch=batch))
                self.commits += 1
                self.writes += len(batch)
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
            except Exception as exc:  # the whole transaction failed
                log.error("database commit failed: %s", exc)
                error = StoreUnavailable(f"database write failed: {exc}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            finally:
                for _ in batch:
                    self._queue.task_done()


def _operation(fn: Callable[..., Any]) -> str:
    """A name for what `fn` does, e.g. `report_verified_run.save` (never SQL or values)."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return name.replace("<locals>.", "")


def _span(kind: str, fn: Callable[..., Any]) -> Any:
    # One span per store transaction the caller waits for (a write may share its commit
    # with others: group commit); named by the operation, never by statements or values.
    return telemetry.tracer().start_as_current_span(
        f"store.{kind}",
        kind=trace.SpanKind.CLIENT,
        attributes={
            telemetry.ATTR_DB_SYSTEM: "sqlite",
            telemetry.ATTR_DB_OPERATION: _operation(fn),
        },
    )


def _translate(exc: Exception) -> Exception:
    """SQLite errors become StoreError (locked/full/IO: StoreUnavailable); others pass."""
    if isinstance(exc, sqlite3.OperationalError):
        error: Exception = StoreUnavailable(f"database write failed: {exc}")
    elif isinstance(exc, sqlite3.Error):
        error = StoreError(f"database write failed: {exc}")
    else:
        return exc
    error.__cause__ = exc
    return error


def _commit_batch(
    conn: sqlite3.Connection, *, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]
) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, _ in batch:
            conn.execute("SAVEPOINT write_fn")
            try:
                result = fn(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO write_fn")
                conn.execute("RELEASE write_fn")
                outcomes.append((False, _translate(exc)))
            else:
                conn.execute("RELEASE write_fn")
                outcomes.append((True, result))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes
