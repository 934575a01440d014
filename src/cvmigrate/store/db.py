"""The SQLite database: one writer process that commits concurrent writes together, and readers.

Writes are module-level functions of a `sqlite3.Connection` handed to `Database.write` with
their arguments; they run in the writer process (store/writer.py), which commits each batch
of concurrent writes in one transaction with `synchronous=FULL` and only then answers, so an
RPC that was answered OK is on disk, and N concurrent writes cost one fsync (group commit).
Reads run in this process on separate connections; in WAL mode they see the last committed
state.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import io
import logging
import pickle
import socket
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite
from opentelemetry import trace

from cvmigrate import telemetry
from cvmigrate.store.migrate import apply_migrations
from cvmigrate.store.timeutil import from_us, to_us
from cvmigrate.store.writer import (
    READY,
    StoreError,
    StoreUnavailable,
    WriterConfig,
    cannot_open,
    configure,
    pack_frame,
    split_frames,
    unavailable,
)

__all__ = ["Database", "StoreError", "StoreUnavailable"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_READERS = 2
_BUSY_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_WRITER_MAIN: Final = "from cvmigrate.store.writer import main; main()"
"""The writer process's program (not `-m`: its classes must not belong to `__main__`)."""
_STOP_TIMEOUT_S: Final = 60.0
"""How long `close` waits for the writer process to finish its writes before killing it."""
_READ_BYTES: Final = 64 * 1024
"""The most read from the writer's socket at once (asyncio reads again for more)."""
_WRITE_HEADER: Final = struct.Struct("<IQ")
"""A write's frame header: the frame's length (after these 4 bytes), then the write's ID."""


async def _connect(path: str) -> aiosqlite.Connection:
    connection = aiosqlite.connect(path, isolation_level=None)
    try:
        return await connection
    except sqlite3.Error as exc:
        # aiosqlite stops its worker thread after a failed connect but does not wait for
        # it; waiting here keeps the thread from reporting to an event loop closed by then.
        await asyncio.to_thread(connection._thread.join, 10)
        raise cannot_open(path, exc) from exc


async def _run(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    # aiosqlite runs every call on the connection's own thread; `_execute` hands it a whole
    # function, so a batch of statements costs one thread hop instead of one per statement.
    return await conn._execute(fn, conn._conn)


class Database:
    """An open cvmigrate database. Use `await Database.open(path)`; `await db.close()`."""

    def __init__(
        self,
        path: str,
        writer: _WriterProcess,
        readers: list[aiosqlite.Connection],
        point_reader: sqlite3.Connection | None = None,
    ):
        self.path = path
        self._writer: _WriterProcess | None = writer
        self._writer_config = writer.config
        self._restarting: asyncio.Future[_WriterProcess] | None = None
        self._readers = readers
        self._point_reader = point_reader
        """The event loop's own read-only connection (`read_point`); None: use `read`."""
        self._next_reader = 0
        self._reads_queued = [0] * len(readers)
        """Reads given to each reader and not finished yet."""
        self._closed = False
        writer.on_batch = self._count_batch
        self.commits = 0
        """Batches committed (or failed whole) by the writer (each may hold many writes)."""
        self.writes = 0
        """Write functions run by the writer."""
        self.writer_restarts = 0
        """Times the writer process was started again after it stopped unexpectedly."""

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
        await asyncio.to_thread(_prepare, path, migrate=migrate, busy_timeout_ms=busy_timeout_ms)
        config = WriterConfig(
            path=path,
            busy_timeout_ms=busy_timeout_ms,
            max_size_bytes=max_size_bytes,
            sys_path=tuple(sys.path),
        )
        writer = await _WriterProcess.start(config)
        readers: list[aiosqlite.Connection] = []
        try:
            for _ in range(_READERS):
                reader = await _connect(path)
                await _run(
                    reader,
                    lambda c: configure(
                        c, writer=False, busy_timeout_ms=busy_timeout_ms, max_size_bytes=0
                    ),
                )
                readers.append(reader)
            # Opened on the event loop's thread, used only there (read_point). It never
            # waits for a lock: busy, the read goes to a reader thread instead.
            point_reader = sqlite3.connect(path, isolation_level=None)
            configure(point_reader, writer=False, busy_timeout_ms=0, max_size_bytes=0)
        except BaseException as exc:
            for conn in readers:
                await conn.close()
            await writer.stop()
            if isinstance(exc, sqlite3.Error):
                raise cannot_open(path, exc) from exc
            raise
        return cls(path, writer, readers, point_reader)

    async def close(self) -> None:
        """Finish the writes submitted so far, then close every connection."""
        if self._closed:
            return
        self._closed = True
        if self._restarting is not None:
            with contextlib.suppress(StoreError):
                await self._restarting
        if self._writer is not None:
            await self._writer.stop()  # after every write submitted before
            self._writer = None
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
                raise unavailable("database read failed", exc) from exc
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
            raise unavailable("database read failed", exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        finally:
            self._reads_queued[index] -= 1

    async def write(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        durable: bool = True,
        **kwargs: Any,
    ) -> T:
        """Run `fn(conn, *args, **kwargs)` in the writer process inside a committed
        transaction; return its result once durable.

        `fn` must be a module-level function, and its arguments, result and exceptions
        picklable: they cross to the writer process and back. A lambda or a nested
        function raises TypeError here, before anything is written.
        An exception raised by `fn` is re-raised here and undoes only `fn`'s changes.
        A failed commit raises StoreUnavailable (nothing of the batch was written); so does
        a write in flight when the writer process stops (it is started again for the next).

        `durable=False` is for state that the next call replaces anyway (CQDaemon's
        ReportRuns snapshot): when no durable write shares its batch, the commit does not
        wait for fsync (`synchronous = NORMAL` for that transaction). It still survives the
        process being killed (it is in the WAL); a power loss may undo it, and the next
        durable commit makes it durable along with everything before it.
        """
        if self._closed:
            raise StoreUnavailable("database is closed", reason="the database is closed")
        try:
            buffer = io.BytesIO()
            _WritePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
                (fn, args, kwargs, durable)
            )
            data = buffer.getvalue()
        except Exception as exc:
            raise TypeError(
                f"Database.write runs {_operation(fn)} in the writer process: it must be a"
                f" module-level function with picklable arguments ({exc})"
            ) from exc
        with _span("write", fn):
            writer = self._writer
            if writer is None or writer.stopped:
                writer = await self._restart_writer()
            return await writer.submit(data)

    async def _restart_writer(self) -> _WriterProcess:
        """The writer process stopped unexpectedly: start another (one for all callers)."""
        if self._restarting is None:
            self._restarting = asyncio.ensure_future(self._start_writer())
        restarting = self._restarting
        try:
            return await asyncio.shield(restarting)
        finally:
            if restarting.done() and self._restarting is restarting:
                self._restarting = None

    async def _start_writer(self) -> _WriterProcess:
        if self._writer is not None:  # gone: reap it
            stopped, self._writer = self._writer, None
            await stopped.stop()
            log.warning("database writer process %d exited with %s", stopped.pid, stopped.exit_code)
        if self._closed:
            raise StoreUnavailable("database is closed", reason="the database is closed")
        writer = await _WriterProcess.start(self._writer_config)
        writer.on_batch = self._count_batch
        if self._closed:  # closed while it started
            await writer.stop()
            raise StoreUnavailable("database is closed", reason="the database is closed")
        self._writer = writer
        self.writer_restarts += 1
        log.warning("database writer process started again (pid %d)", writer.pid)
        return writer

    def _count_batch(self, writes: int) -> None:
        self.commits += 1
        self.writes += writes


def _prepare(path: str, *, migrate: bool, busy_timeout_ms: int) -> None:
    """On a worker thread: create the database if needed, switch it to WAL and bring the
    schema up to date, on a connection closed afterwards (the writer process opens its own)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise cannot_open(path, exc) from exc
    try:
        configure(conn, writer=True, busy_timeout_ms=busy_timeout_ms, max_size_bytes=0)
        if migrate:
            apply_migrations(conn)
    except sqlite3.Error as exc:
        raise cannot_open(path, exc) from exc
    finally:
        conn.close()


def _reduce_datetime(value: datetime) -> tuple[Any, ...]:
    if value.tzinfo is UTC:
        return from_us, (to_us(value),)
    return value.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


class _WritePickler(pickle.Pickler):
    """Pickles a write for the writer process. A UTC datetime (every write's `now`)
    travels as its microseconds: pickle's own way, through the timezone's reduce, cost
    ~4.5 µs per datetime on the event loop, most of the rest of a write's pickling
    (bench/, issue 8). Other datetimes, and subclasses, are pickled as usual."""

    dispatch_table = {**copyreg.dispatch_table, datetime: _reduce_datetime}


class _WriterProcess(asyncio.BufferedProtocol):
    """The writer process (store/writer.py) and the event loop's end of its socket.

    Each write is one frame out; each committed batch one frame back, whose outcomes go to
    the writes' futures. If the process stops before answering (killed, crashed), every
    write in flight fails with StoreUnavailable: whether it was committed is unknown, as
    for a lost answer, and every cvmigrate write is safe to repeat."""

    def __init__(self, config: WriterConfig, proc: subprocess.Popen[bytes]) -> None:
        self.config = config
        self.pid = proc.pid
        self._proc = proc
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._chunk = memoryview(bytearray(_READ_BYTES))
        """What the socket is read into. A plain Protocol has asyncio allocate 256 KiB for
        every read, which glibc serves with mmap, mremap and munmap each time until its
        mmap threshold has grown: three system calls and a page fault per batch answered
        (strace; bench/, issue 8)."""
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._unsent: list[bytes] = []
        """Frames of this turn of the event loop, sent together by `_flush`."""
        self._stopping = False
        self.stopped = False
        """The process is gone (or going): a new write needs another."""
        self.on_batch: Callable[[int], None] | None = None

    @classmethod
    async def start(cls, config: WriterConfig) -> _WriterProcess:
        """Start the process and wait until it has opened the database; StoreUnavailable
        if it cannot."""
        ours, theirs = socket.socketpair()
        try:
            try:
                proc = await asyncio.to_thread(
                    subprocess.Popen,
                    [sys.executable, "-c", _WRITER_MAIN, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                )
            finally:
                theirs.close()
        except OSError as exc:
            ours.close()
            raise StoreUnavailable(
                f"cannot start the database writer process: {exc}",
                reason="the database writer cannot start",
            ) from exc
        writer = cls(config, proc)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: writer, ours)
        except BaseException:
            ours.close()
            proc.kill()
            await asyncio.to_thread(proc.wait)
            raise
        writer._send(pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            await writer._ready
        except BaseException:
            await writer.stop()
            raise
        return writer

    def submit(self, data: bytes) -> asyncio.Future[Any]:
        """Send one pickled write; its future gets the outcome (StoreUnavailable if the
        process stops first)."""
        if self.stopped:
            raise StoreUnavailable(
                "the database writer process has stopped", reason="the database writer stopped"
            )
        write_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[write_id] = future
        if not self._unsent:
            asyncio.get_running_loop().call_soon(self._flush)
        # A frame (store/writer.py): its length, the write's ID, the pickle; joined once.
        self._unsent += (_WRITE_HEADER.pack(8 + len(data), write_id), data)
        return future

    def _flush(self) -> None:
        # The writes submitted in one turn of the event loop leave in one send, so the
        # writer finds them together: one batch, one commit, one system call.
        frames, self._unsent = self._unsent, []
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(frames))

    def _send(self, payload: bytes) -> None:
        assert self._transport is not None
        self._transport.write(pack_frame(payload))

    async def stop(self) -> None:
        """Let the process finish the writes sent so far, then wait for it to exit (killed
        if it has not within `_STOP_TIMEOUT_S`)."""
        self._stopping = True
        self.stopped = True
        if self._unsent:
            self._flush()  # its call_soon then finds nothing to send
        if self._transport is not None and not self._lost.done():
            with contextlib.suppress(OSError, RuntimeError):
                self._transport.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), _STOP_TIMEOUT_S)
            await asyncio.to_thread(self._proc.wait, _STOP_TIMEOUT_S)
        except (TimeoutError, subprocess.TimeoutExpired):
            log.error("database writer process %d did not stop; killing it", self.pid)
            self._proc.kill()
            await asyncio.to_thread(self._proc.wait)
        if self._transport is not None:
            self._transport.close()

    @property
    def exit_code(self) -> int | None:
        """The process's exit status once it has been waited for (negative: a signal)."""
        return self._proc.returncode

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._chunk

    def buffer_updated(self, nbytes: int) -> None:
        self._buffer += self._chunk[:nbytes]
        for frame in split_frames(self._buffer):
            if not self._ready.done():
                answer = pickle.loads(frame)
                if answer == READY:
                    self._ready.set_result(None)
                else:
                    self._ready.set_exception(answer)
                continue
            self._deliver(frame)

    def eof_received(self) -> bool:
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        self.stopped = True
        if not self._lost.done():
            self._lost.set_result(None)
        error = StoreUnavailable(
            "the database writer process stopped before answering",
            reason="the database writer stopped",
        )
        if not self._ready.done():
            self._ready.set_exception(error)
        if self._pending:
            log.error(
                "database writer process %d stopped with %d write(s) unanswered",
                self.pid,
                len(self._pending),
            )
        elif not self._stopping:
            log.error("database writer process %d stopped", self.pid)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    def _deliver(self, frame: bytes) -> None:
        """One batch's outcomes, per write (see store/writer.py)."""
        batch_error, items = pickle.loads(frame)
        if batch_error:
            log.error("database commit failed: %s", batch_error)
        if self.on_batch is not None:
            self.on_batch(len(items))
        for write_id, ok, data in items:
            future = self._pending.pop(write_id, None)
            if future is None or future.done():
                continue  # its caller was cancelled; the write stands
            try:
                value = pickle.loads(data)
            except Exception as exc:
                ok, value = False, StoreError(f"cannot load the write's outcome: {exc!r}")
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_NO_SPAN: Final = contextlib.nullcontext()
"""Stands for a span when no tracer provider is set (reusable: it holds nothing)."""


def _operation(fn: Callable[..., Any]) -> str:
    """A name for what `fn` does, e.g. `report_verified_run._save` (never SQL or values)."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    if module and "<locals>" not in name:
        name = f"{module.rpartition('.')[2]}.{name}"
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
