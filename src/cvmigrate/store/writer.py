"""The database writer: a process of its own that owns the one writing connection.

`Database` (store/db.py) starts it with one end of a socket pair (`main`) and talks to it in
frames: a 4-byte little-endian length, then a pickle.

1. parent → writer: the configuration (`WriterConfig`); writer → parent: `READY` or the
   `StoreError` that kept it from opening the database.
2. parent → writer, one frame per write: `(id, fn, args, kwargs, durable)`, `fn` a
   module-level function (pickled by name, imported here on first use).
3. writer → parent, one frame per batch: `[(id, ok, value), ...]` with the result or the
   exception of each write, sent only after the batch's commit.

The writer takes every write waiting (up to `MAX_BATCH`) as one batch, runs it in one
`BEGIN IMMEDIATE` transaction (each function in its own SAVEPOINT, so one failing write does
not undo the others) and commits once with `synchronous=FULL`: an RPC answered OK is on
disk, and N concurrent writes cost one fsync (group commit). In a process of its own it
holds no lock the event loop needs: as a thread, it and the loop handed the GIL back and
forth around every SQLite call, and the loop waited for writes it could have served
requests meanwhile (bench/, issue 8).

It exits when the parent closes its end (finishing every write received first), and
ignores SIGINT and SIGTERM: a Ctrl-C or a stop signal to the process group must not cut a
batch short; the parent finishes its writes and then closes the socket.
"""

from __future__ import annotations

import pickle
import signal
import socket
import sqlite3
import struct
import sys
from collections.abc import Callable
from typing import Any, Final, NamedTuple

__all__ = [
    "MAX_BATCH",
    "READY",
    "StoreError",
    "StoreUnavailable",
    "WriterConfig",
    "cannot_open",
    "commit_batch",
    "configure",
    "main",
    "pack_frame",
    "split_frames",
    "unavailable",
]

MAX_BATCH: Final = 256
READY: Final = "ready"
_HEADER: Final = struct.Struct("<I")
_RECV_BYTES: Final = 1 << 20


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


def unavailable(message: str, exc: sqlite3.Error) -> StoreUnavailable:
    name = getattr(exc, "sqlite_errorname", None) or ""
    reason = _UNAVAILABLE_REASONS.get("_".join(name.split("_")[:2]))
    error = StoreUnavailable(f"{message}: {exc}", reason=reason or "the database is unavailable")
    error.__cause__ = exc
    return error


def cannot_open(path: str, exc: sqlite3.Error) -> StoreUnavailable:
    # Start-up and CLI commands show this message as is: say what to check.
    return StoreUnavailable(
        f"cannot open the database {path}: {exc} (check database.path, that its directory"
        " exists and is writable, and that the file is an SQLite database)",
        reason="the database cannot be opened",
    )


def configure(
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


class WriterConfig(NamedTuple):
    """What the writer process needs to know, sent in the first frame."""

    path: str
    busy_timeout_ms: int
    max_size_bytes: int
    sys_path: tuple[str, ...]
    """The parent's import path: every write function it can import, the writer can."""


def pack_frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def split_frames(buffer: bytearray, limit: int = sys.maxsize) -> list[bytes]:
    """Take up to `limit` whole frames off the front of `buffer`."""
    frames = []
    offset = 0
    size = len(buffer)
    while len(frames) < limit and size - offset >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer, offset)
        end = offset + _HEADER.size + length
        if end > size:
            break
        frames.append(bytes(buffer[offset + _HEADER.size : end]))
        offset = end
    del buffer[:offset]
    return frames


# --- the writer process ------------------------------------------------------------------

_Write = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], bool]
"""(function, positional arguments after the connection, keyword arguments, durable?)"""


def _translate(exc: Exception) -> Exception:
    """SQLite errors become StoreError (locked/full/IO: StoreUnavailable); others pass."""
    if isinstance(exc, sqlite3.OperationalError):
        return unavailable("database write failed", exc)
    if isinstance(exc, sqlite3.Error):
        error = StoreError(f"database write failed: {exc}")
        error.__cause__ = exc
        return error
    return exc


def commit_batch(conn: sqlite3.Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    """Run the writes in one transaction; (ok, result or exception) per write. A failed
    BEGIN or COMMIT raises: then nothing of the batch was written."""
    relaxed = not any(durable for _, _, _, durable in batch)
    if relaxed:  # see Database.write(durable=False)
        conn.execute("PRAGMA synchronous = NORMAL")
    try:
        return _commit(conn, batch)
    finally:
        if relaxed:
            conn.execute("PRAGMA synchronous = FULL")


def _commit(conn: sqlite3.Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    # A write alone in its batch needs no savepoint to keep its failure from the others.
    alone = len(batch) == 1
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, args, kwargs, _ in batch:
            if not alone:
                conn.execute("SAVEPOINT write_fn")
            try:
                result = fn(conn, *args, **kwargs)
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


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it comes out of pickling as the same type and message, else a StoreError
    that names it (an exception whose constructor takes other arguments than its `args`
    does not)."""
    try:
        copy = pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        copy = None
    if type(copy) is type(exc) and str(copy) == str(exc):
        return exc
    return StoreError(f"database write failed: {type(exc).__name__}: {exc}")


def _reply(batch_error: str, outcomes: list[tuple[int, bool, Any]]) -> bytes:
    """One frame for a batch: `(batch_error, [(id, ok, pickled value)])`, each value
    pickled on its own so that one the parent cannot load fails that write alone;
    `batch_error` (for the log) is not empty when the whole transaction failed."""
    items = []
    for write_id, ok, value in outcomes:
        if not ok:
            value = _portable(value)
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            what = "result" if ok else "exception"
            ok = False
            error = StoreError(f"the write's {what} cannot be sent back: {exc}")
            data = pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL)
        items.append((write_id, ok, data))
    return pickle.dumps((batch_error, items), protocol=pickle.HIGHEST_PROTOCOL)


def _decode(frame: bytes) -> tuple[int, _Write | BaseException]:
    write_id = int.from_bytes(frame[:8], "little")
    try:
        fn, args, kwargs, durable = pickle.loads(memoryview(frame)[8:])
    except Exception as exc:
        return write_id, StoreError(f"the writer cannot load the write: {exc!r}")
    return write_id, (fn, args, kwargs, durable)


def _serve(conn: sqlite3.Connection, sock: socket.socket, buffer: bytearray) -> None:
    eof = False
    while True:
        while not eof:  # everything already sent joins the next batch
            try:
                chunk = sock.recv(_RECV_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            eof = not chunk
            buffer += chunk
        frames = split_frames(buffer, MAX_BATCH)
        if not frames:
            if eof:
                return
            chunk = sock.recv(_RECV_BYTES)
            eof = not chunk
            buffer += chunk
            continue
        ids: list[int] = []
        batch: list[_Write] = []
        outcomes: list[tuple[int, bool, Any]] = []  # writes that could not be loaded first
        for write_id, write in map(_decode, frames):
            if isinstance(write, BaseException):
                outcomes.append((write_id, False, write))
            else:
                ids.append(write_id)
                batch.append(write)
        batch_error = ""
        if batch:
            try:
                results = commit_batch(conn, batch)
            except BaseException as exc:  # the whole transaction failed: all of it fails
                batch_error = f"{type(exc).__name__}: {exc}"
                error = _translate(exc) if isinstance(exc, Exception) else exc
                if not isinstance(error, StoreError):
                    error = StoreUnavailable(f"database write failed: {exc}")
                outcomes += [(write_id, False, error) for write_id in ids]
            else:
                outcomes += [
                    (write_id, ok, value)
                    for write_id, (ok, value) in zip(ids, results, strict=True)
                ]
        try:
            sock.sendall(pack_frame(_reply(batch_error, outcomes)))
        except (BrokenPipeError, ConnectionResetError):
            return  # the service is gone; what was committed stands


def main(argv: list[str] | None = None) -> None:
    """The writer process: `main()` with the socket's FD as the only argument (started by
    Database, never by hand)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    buffer = bytearray()
    while not (frames := split_frames(buffer, 1)):
        chunk = sock.recv(_RECV_BYTES)
        if not chunk:
            return
        buffer += chunk
    config: WriterConfig = pickle.loads(frames[0])
    sys.path[:] = list(config.sys_path)
    conn: sqlite3.Connection | None = None
    try:
        try:
            conn = sqlite3.connect(config.path, isolation_level=None)
            configure(
                conn,
                writer=True,
                busy_timeout_ms=config.busy_timeout_ms,
                max_size_bytes=config.max_size_bytes,
            )
        except sqlite3.Error as exc:
            sock.sendall(pack_frame(pickle.dumps(cannot_open(config.path, exc))))
            return
        sock.sendall(pack_frame(pickle.dumps(READY)))
        _serve(conn, sock, buffer)  # with what followed the configuration, if anything
    finally:
        if conn is not None:
            conn.close()
        sock.close()
