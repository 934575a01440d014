"""CLs: stable CLIDs per `gerrit/<host>/<change>` and the latest snapshot of each."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from cvmigrate.changelist.encoded import EncodedCL
from cvmigrate.store.timeutil import to_us

__all__ = [
    "CLRecord",
    "external_id",
    "get_cl",
    "get_or_create_clid",
    "get_or_create_clids",
    "load_cl_records",
    "put_cl_deps",
    "put_cl_snapshot",
]


def external_id(host: str, change: int) -> str:
    """`gerrit/<host>/<change>`: the CL's identity outside CV."""
    return f"gerrit/{host}/{change}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CLRecord:
    """A CL and its latest snapshot (None until first fetched)."""

    id: int
    host: str
    change: int
    patchset: int
    snapshot: EncodedCL | None


def get_or_create_clid(conn: sqlite3.Connection, host: str, change: int, now: datetime) -> int:
    """The CLID for (host, change), assigning the next one at first sight."""
    ext = external_id(host, change)
    row = conn.execute("SELECT id FROM cls WHERE external_id = ?", (ext,)).fetchone()
    if row:
        return int(row[0])
    cursor = conn.execute(
        "INSERT INTO cls (external_id, host, change, update_time) VALUES (?, ?, ?, ?)",
        (ext, host, change, to_us(now)),
    )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def put_cl_snapshot(
    conn: sqlite3.Connection, cl_id: int, patchset: int, snapshot: EncodedCL, now: datetime
) -> None:
    """Replace the CL's latest snapshot."""
    if snapshot.cl_id != cl_id:
        raise ValueError("snapshot belongs to another CL")
    updated = conn.execute(
        "UPDATE cls SET patchset = ?, snapshot_pb = ?, snapshot_json = ?,"
        " snapshot_twirp_json = ?, update_time = ? WHERE id = ?",
        (patchset, snapshot.pb, snapshot.json, snapshot.twirp_json, to_us(now), cl_id),
    ).rowcount
    if not updated:
        raise LookupError(f"CL {cl_id} does not exist")


def _record(row: tuple) -> CLRecord:
    snapshot = None
    if row[4] is not None:
        snapshot = EncodedCL(cl_id=row[0], pb=row[4], json=row[5], twirp_json=row[6])
    return CLRecord(id=row[0], host=row[1], change=row[2], patchset=row[3], snapshot=snapshot)


_COLUMNS = "id, host, change, patchset, snapshot_pb, snapshot_json, snapshot_twirp_json"


def get_cl(conn: sqlite3.Connection, host: str, change: int) -> CLRecord | None:
    """The CL for (host, change), or None if CV never saw it."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM cls WHERE external_id = ?", (external_id(host, change),)
    ).fetchone()
    return _record(row) if row else None


def load_cl_records(conn: sqlite3.Connection, cl_ids: Iterable[int]) -> dict[int, CLRecord]:
    """CL records by CLID (missing IDs are simply absent from the result)."""
    ids = sorted(set(cl_ids))
    result: dict[int, CLRecord] = {}
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM cls WHERE id IN ({', '.join('?' * len(chunk))})", chunk
        ).fetchall()
        result.update((row[0], _record(row)) for row in rows)
    return result


def put_cl_deps(conn: sqlite3.Connection, cl_id: int, deps: Sequence[tuple[int, int]]) -> None:
    """Replace the deps of the CL's latest snapshot: (CLID, kind: 1 HARD, 2 SOFT) pairs,
    stored as `[[clid, kind], ...]` sorted by CLID."""
    value = json.dumps([[int(dep_id), int(kind)] for dep_id, kind in sorted(deps)])
    updated = conn.execute("UPDATE cls SET deps = ? WHERE id = ?", (value, cl_id)).rowcount
    if not updated:
        raise LookupError(f"CL {cl_id} does not exist")


def get_or_create_clids(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, int]], now: datetime
) -> dict[tuple[str, int], int]:
    """`get_or_create_clid` for each (host, change)."""
    return {key: get_or_create_clid(conn, key[0], key[1], now) for key in keys}
