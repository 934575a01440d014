"""The SQLite database: one writer that commits concurrent writes together, and readers.

Writes are plain functions of a `sqlite3.Connection` handed to `Database.write`. The writer
thread takes everything queued, runs the batch in one `BEGIN IMMEDIATE` transaction (each
function inside its own SAVEPOINT, so one failing write does not undo the others), commits
once with `synchronous=FULL`, and only then resolves the callers' futures: an RPC that was
answered OK is on disk, and N concurrent writes cost one fsync instead of N (group commit).
Reads run on separate connections; in WAL mode they see the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite
from opentelemetry import trace

from cvmigrate import telemetry
from cvmigrate.store.migrate import apply_migrations

__all__ = ["Database", "StoreError", "StoreUnavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_BATCH = 256
_READERS = 2
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class StoreError(Exception):
    """A storage operation failed."""


class StoreUnavailable(StoreError):
    """The database cannot be written now (locked, disk full, closed); retry later."""

    def __init__(self, message: str, *, reason: str = "the database is unavailable") -> None:
        super().__init__(message)
        self.reason = reason
        """What went wrong in words fit for a caller (no SQL, no values)."""


# SQLite's primary result codes (extended ones such as SQLITE_IOERR_WRITE share the prefix)
# that mean "not now" rather than "never", in words an operator can act on.
_UNAVAILABLE_REASONS: Final = {
    "SQLITE_BUSY": "the database is locked by another connection",
    "SQLITE_LOCKED": "the database is locked by another connection",
    "SQLITE_FULL": "the database or disk is full",
    "SQLITE_IOERR": "disk I/O error",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_CANTOPEN": "the database file cannot be opened",
}


def _unavailable(message: str, exc: sqlite3.Error) -> StoreUnavailable:
    name = getattr(exc, "sqlite_errorname", None) or ""
    reason = _UNAVAILABLE_REASONS.get("_".join(name.split("_")[:2]))
    error = StoreUnavailable(f"{message}: {exc}", reason=reason or "the database is unavailable")
    error.__cause__ = exc
    return error


def _cannot_open(path: str, exc: sqlite3.Error) -> StoreUnavailable:
    # Start-up and CLI commands show this message as is: say what to check.
    return StoreUnavailable(
        f"cannot open the database {path}: {exc} (check database.path, that its directory"
        " exists and is writable, and that the file is an SQLite database)",
        reason="the database cannot be opened",
    )


async def _connect(path: str) -> aiosqlite.Connection:
    connection = aiosqlite.connect(path, isolation_level=None)
    try:
        return await connection
    except sqlite3.Error as exc:
        # aiosqlite stops its worker thread after a failed connect but does not wait for
        # it; waiting here keeps the thread from reporting to an event loop closed by then.
        await asyncio.to_thread(connection._thread.join, 10)
        raise _cannot_open(path, exc) from exc


def _configure(
    conn: sqlite3.Connection, *, writer: bool, busy_timeout_ms: int, max_size_bytes: int
) -> None:
    # Another process holding the write lock (`cvmigrate` CLI, sqlite3 shell, backup) makes
    # a write wait this long, then fail as UNAVAILABLE.
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")  # PRAGMA binds no values
    conn.execute("PRAGMA foreign_keys = ON")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is durable before the RPC answers (survives kill -9 and power loss).
        conn.execute("PRAGMA synchronous = FULL")
        if max_size_bytes:
            # Growing past the cap fails with SQLITE_FULL, exactly as a full disk does.
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = max(1, max_size_bytes // page_size)
            conn.execute(f"PRAGMA max_page_count = {int(pages)}")  # PRAGMA binds no values
    else:
        conn.execute("PRAGMA query_only = ON")


async def _run(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    # aiosqlite runs every call on the connection's own thread; `_execute` hands it a whole
    # function, so a batch of statements costs one thread hop instead of one per statement.
    return await conn._execute(fn, conn._conn)


class Database:
    """An open cvmigrate database. Use `await Database.open(path)`; `await db.close()`."""

    def __init__(
        self,
        path: str,
        writer: sqlite3.Connection,
        readers: list[aiosqlite.Connection],
        point_reader: sqlite3.Connection | None = None,
    ):
        self.path = path
        self._writer = _WriterThread(writer, self._deliver)
        self._readers = readers
        self._point_reader = point_reader
        """The event loop's own read-only connection (`read_point`); None: use `read`."""
        self._next_reader = 0
        self._reads_queued = [0] * len(readers)
        """Reads given to each reader and not finished yet."""
        self._closed = False
        self.commits = 0
        """Transactions committed by the writer (each may hold many writes)."""
        self.writes = 0
        """Write functions run by the writer."""

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        migrate: bool = True,
        busy_timeout_ms: int = 10_000,
        max_size_bytes: int = 0,
    ) -> Database:
        """Open (creating if needed) and bring the schema up to date unless `migrate=False`.

        A write waits `busy_timeout_ms` for another process's lock; `max_size_bytes` (0: no
        limit) caps the file, writes past it failing as on a full disk.
        Raises StoreError if the database is newer than this code knows, StoreUnavailable
        (naming the path) if it cannot be opened.
        """
        path = str(path)
        writer = await asyncio.to_thread(
            _open_writer,
            path,
            migrate=migrate,
            busy_timeout_ms=busy_timeout_ms,
            max_size_bytes=max_size_bytes,
        )
        readers: list[aiosqlite.Connection] = []
        try:
            for _ in range(_READERS):
                reader = await _connect(path)
                await _run(
                    reader,
                    lambda c: _configure(
                        c, writer=False, busy_timeout_ms=busy_timeout_ms, max_size_bytes=0
                    ),
                )
                readers.append(reader)
            # Opened on the event loop's thread, used only there (read_point). It never
            # waits for a lock: busy, the read goes to a reader thread instead.
            point_reader = sqlite3.connect(path, isolation_level=None)
            _configure(point_reader, writer=False, busy_timeout_ms=0, max_size_bytes=0)
        except BaseException as exc:
            for conn in readers:
                await conn.close()
            writer.close()
            if isinstance(exc, sqlite3.Error):
                raise _cannot_open(path, exc) from exc
            raise
        return cls(path, writer, readers, point_reader)

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._closed:
            return
        self._closed = True
        await self._writer.stop()  # after every write queued before it
        for conn in self._readers:
            await conn.close()
        if self._point_reader is not None:
            self._point_reader.close()
            self._point_reader = None

    async def read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a point lookup `fn(conn)` (a few rows by key or index) on the event loop's own
        read-only connection, without the hop to a reader thread: that hop cost ~180 µs of
        CPU per call, more than the lookup and the rest of a light RPC together (bench/,
        issue 8). Only for bounded lookups: `fn` runs on the event loop. If the database
        is busy (SQLite would make it wait), the lookup is done by `read` instead."""
        point = self._point_reader
        if point is None or self._closed:
            return await self.read(fn)
        try:
            with _span("read", fn):
                return fn(point)
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _BUSY_CODES:
                raise _unavailable("database read failed", exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        return await self.read(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on a read-only connection and return its result."""
        # The least busy reader, in turn among equals: a point lookup must not queue
        # behind a long read (FetchActiveRuns) when the other reader is idle; plain turns
        # did that and put milliseconds on light calls' latency (bench/, issue 8).
        count = len(self._readers)
        start = self._next_reader
        index = min(range(count), key=lambda i: (self._reads_queued[i], (i - start) % count))
        self._next_reader = index + 1
        self._reads_queued[index] += 1
        try:
            with _span("read", fn):
                return await _run(self._readers[index], fn)
        except sqlite3.OperationalError as exc:
            raise _unavailable("database read failed", exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        finally:
            self._reads_queued[index] -= 1

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run `fn(conn)` inside a committed transaction; return its result once durable.

        An exception raised by `fn` is re-raised here and undoes only `fn`'s changes.
        A failed commit raises StoreUnavailable (nothing of the batch was written).

        `durable=False` is for state that the next call replaces anyway (CQDaemon's
        ReportRuns snapshot): when no durable write shares its batch, the commit does not
        wait for fsync (`synchronous = NORMAL` for that transaction). It still survives the
        process being killed (it is in the WAL); a power loss may undo it, and the next
        durable commit makes it durable along with everything before it.
        """
        if self._closed:
            raise StoreUnavailable("database is closed", reason="the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with _span("write", fn):
            self._writer.submit((fn, future, durable))
            return await future

    def _deliver(
        self, batch: list[_Write], outcome: list[tuple[bool, Any]] | BaseException
    ) -> None:
        """On the event loop: the outcome of one batch (per write, or the whole
        transaction's failure) goes to the writes' callers."""
        if isinstance(outcome, BaseException):
            log.error("database commit failed: %s", outcome)
            if isinstance(outcome, sqlite3.Error):
                error = _unavailable("database write failed", outcome)
            else:
                error = StoreUnavailable(f"database write failed: {outcome}")
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self.commits += 1
        self.writes += len(batch)
        for (_, future, _), (ok, value) in zip(batch, outcome, strict=True):
            if future.done():
                continue  # its caller was cancelled; the write stands
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_Write = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", bool]
"""(function, its caller's future, durable?)"""
_STOP: Final = object()


class _WriterThread:
    """The writing connection and the one thread that uses it.

    Writes are handed over through a thread-safe queue; the thread takes every write
    waiting (up to `_MAX_BATCH`) as one batch, commits it, and gives the outcomes back to
    the event loop with a single callback. No asyncio task stands in between: the task and
    the aiosqlite hop it made cost two more turns of the event loop per batch (bench/,
    issue 8)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        deliver: Callable[[list[_Write], list[tuple[bool, Any]] | BaseException], None],
    ) -> None:
        self._conn = conn
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="cvmigrate-db-writer", daemon=True)
        self._thread.start()

    def submit(self, write: _Write) -> None:
        self._inbox.put(write)

    async def stop(self) -> None:
        """Finish every write submitted before, then close the connection."""
        self._inbox.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _work(self) -> None:
        inbox = self._inbox
        try:
            stopping = False
            while not stopping:
                first = inbox.get()
                if first is _STOP:
                    break
                batch: list[_Write] = [first]
                while len(batch) < _MAX_BATCH:
                    try:
                        item = inbox.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                outcome: list[tuple[bool, Any]] | BaseException
                try:
                    outcome = _commit_batch(self._conn, batch=batch)
                except BaseException as exc:  # handed to the callers; the thread goes on
                    outcome = exc
                self._loop.call_soon_threadsafe(self._deliver, batch, outcome)
        finally:
            self._conn.close()


def _open_writer(
    path: str, *, migrate: bool, busy_timeout_ms: int, max_size_bytes: int
) -> sqlite3.Connection:
    """On a worker thread: the writing connection, configured, the schema brought up to date
    (it is then used by the writer thread only)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _cannot_open(path, exc) from exc
    try:
        _configure(
            conn, writer=True, busy_timeout_ms=busy_timeout_ms, max_size_bytes=max_size_bytes
        )
        if migrate:
            apply_migrations(conn)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise _cannot_open(path, exc) from exc
        raise
    return conn


_NO_SPAN: Final = contextlib.nullcontext()
"""Stands for a span when no tracer provider is set (reusable: it holds nothing)."""


def _operation(fn: Callable[..., Any]) -> str:
    """A name for what `fn` does, e.g. `report_verified_run.save` (never SQL or values)."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return name.replace("<locals>.", "")


def _span(kind: str, fn: Callable[..., Any]) -> Any:
    # One span per store transaction the caller waits for (a write may share its commit
    # with others: group commit); named by the operation, never by statements or values.
    if not telemetry.tracing():
        return _NO_SPAN
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
        return _unavailable("database write failed", exc)
    if isinstance(exc, sqlite3.Error):
        error = StoreError(f"database write failed: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _commit_batch(conn: sqlite3.Connection, *, batch: list[_Write]) -> list[tuple[bool, Any]]:
    relaxed = not any(durable for _, _, durable in batch)
    if relaxed:  # see Database.write(durable=False)
        conn.execute("PRAGMA synchronous = NORMAL")
    try:
        return _commit(conn, batch)
    finally:
        if relaxed:
            conn.execute("PRAGMA synchronous = FULL")


def _commit(
    conn: sqlite3.Connection, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any, bool]]
) -> list[tuple[bool, Any]]:
    # A write alone in its batch needs no savepoint to keep its failure from the others:
    # two statements (and GIL round trips on the writer thread) fewer.
    alone = len(batch) == 1
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, _, _ in batch:
            if not alone:
                conn.execute("SAVEPOINT write_fn")
            try:
                result = fn(conn)
            except Exception as exc:
                if not conn.in_transaction:
                    # SQLite undid the whole transaction itself (SQLITE_FULL, some I/O
                    # errors): the batch's other writes are gone too, so all of it fails.
                    raise
                if alone:
                    conn.execute("ROLLBACK")
                    return [(False, _translate(exc))]
                conn.execute("ROLLBACK TO write_fn")
                conn.execute("RELEASE write_fn")
                outcomes.append((False, _translate(exc)))
            else:
                if not alone:
                    conn.execute("RELEASE write_fn")
                outcomes.append((True, result))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes
