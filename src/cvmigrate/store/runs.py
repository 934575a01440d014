"""Runs and their frozen CL snapshots."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from cvmigrate.changelist.encoded import EncodedCL
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.run_id import project_run_id_range
from cvmigrate.runs.status import Status, is_ended
from cvmigrate.store.timeutil import from_us, to_us

__all__ = [
    "ActiveRunRow",
    "RunRef",
    "StoredRunCL",
    "active_set_version",
    "get_run",
    "insert_run",
    "list_runs",
    "load_active_runs",
    "load_run_cls",
    "locate_run",
    "locate_run_ref",
    "running_attempts",
    "runs_by_attempt_key",
    "runs_due_for_delayed_cancel",
    "trigger_from_json",
    "trigger_to_json",
    "unfinished_runs_for_cl",
    "update_run",
]

_RUN_COLUMNS = (
    "id, project, attempt_key, mode, status, config_group, create_time, start_time, end_time,"
    " cl_ids, submission, finalized_by_cqd, delay_cancel_until, end_message"
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StoredRunCL:
    """A Run CL as stored: its trigger, the CLIDs it depends on, and its encodings."""

    trigger: Trigger
    dep_ids: tuple[int, ...]
    encoded: EncodedCL

    @property
    def cl_id(self) -> int:
        return self.encoded.cl_id


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ActiveRunRow:
    """What FetchActiveRuns needs of one Run: its ID and encoded CLs, in Run.CLs order."""

    run_id: str
    cls: tuple[EncodedCL, ...]
    dep_ids: tuple[int, ...]
    """Every CLID that some CL of the Run depends on (may include the Run's own CLs)."""


def _submission_to_json(submission: Submission | None) -> str | None:
    if submission is None:
        return None
    return json.dumps(
        {
            "cls": list(submission.cls),
            "submitted_cls": list(submission.submitted_cls),
            "failed_cls": list(submission.failed_cls),
            "deadline": to_us(submission.deadline) if submission.deadline else None,
            "attempted_cls": list(submission.attempted_cls),
        }
    )


def _submission_from_json(text: str | None) -> Submission | None:
    if not text:
        return None
    data = json.loads(text)
    return Submission(
        cls=tuple(data["cls"]),
        submitted_cls=tuple(data["submitted_cls"]),
        failed_cls=tuple(data.get("failed_cls", ())),
        deadline=from_us(data.get("deadline")),
        attempted_cls=tuple(data.get("attempted_cls", ())),
    )


def _run_from_row(row: sqlite3.Row | tuple) -> Run:
    return Run(
        id=row[0],
        project=row[1],
        attempt_key=row[2],
        mode=row[3],
        status=Status(row[4]),
        config_group=row[5],
        create_time=from_us(row[6]),  # type: ignore[arg-type]
        start_time=from_us(row[7]),
        end_time=from_us(row[8]),
        cl_ids=tuple(json.loads(row[9])),
        submission=_submission_from_json(row[10]),
        finalized_by_cqd=bool(row[11]),
        delay_cancel_until=from_us(row[12]),
        end_message=row[13],
    )


def trigger_to_json(trigger: Trigger) -> str:
    return json.dumps(
        {
            "time_us": to_us(trigger.time),
            "mode": trigger.mode,
            "account_id": trigger.gerrit_account_id,
            "email": trigger.email,
            "additional_label": trigger.additional_label,
        }
    )


def trigger_from_json(text: str) -> Trigger:
    data = json.loads(text)
    return Trigger(
        time=from_us(data["time_us"]),  # type: ignore[arg-type]
        mode=data["mode"],
        gerrit_account_id=data["account_id"],
        email=data["email"],
        additional_label=data["additional_label"],
    )


def insert_run(
    conn: sqlite3.Connection, run: Run, run_cls: Sequence[StoredRunCL], now: datetime
) -> None:
    """Store a new Run with its frozen CLs (raises sqlite3.IntegrityError if the ID exists)."""
    if tuple(cl.cl_id for cl in run_cls) != run.cl_ids:
        raise ValueError("run_cls must match run.cl_ids, in order")
    conn.execute(
        f"INSERT INTO runs ({_RUN_COLUMNS}, update_time) VALUES ({', '.join('?' * 15)})",
        (
            run.id,
            run.project,
            run.attempt_key,
            run.mode,
            int(run.status),
            run.config_group,
            to_us(run.create_time),
            to_us(run.start_time) if run.start_time else None,
            to_us(run.end_time) if run.end_time else None,
            json.dumps(list(run.cl_ids)),
            _submission_to_json(run.submission),
            int(run.finalized_by_cqd),
            to_us(run.delay_cancel_until) if run.delay_cancel_until else None,
            run.end_message,
            to_us(now),
        ),
    )
    conn.executemany(
        "INSERT INTO run_cls (run_id, cl_id, position, trigger_json, dep_ids, run_cl_pb,"
        " run_cl_json, run_cl_twirp_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run.id,
                cl.cl_id,
                position,
                trigger_to_json(cl.trigger),
                json.dumps(list(cl.dep_ids)),
                cl.encoded.pb,
                cl.encoded.json,
                cl.encoded.twirp_json,
            )
            for position, cl in enumerate(run_cls)
        ],
    )


def update_run(
    conn: sqlite3.Connection, run: Run, now: datetime, *, expected_status: Status | None = None
) -> bool:
    """Write back a Run's mutable fields. With `expected_status`, only if the stored status
    still is that (a compare-and-set); returns whether the row was updated."""
    where, params = "", []
    if expected_status is not None:
        where = " AND status = ?"
        params.append(int(expected_status))
    cursor = conn.execute(
        "UPDATE runs SET status = ?, start_time = ?, end_time = ?, submission = ?,"
        " finalized_by_cqd = ?, delay_cancel_until = ?, end_message = ?, update_time = ?"
        f" WHERE id = ?{where}",
        (
            int(run.status),
            to_us(run.start_time) if run.start_time else None,
            to_us(run.end_time) if run.end_time else None,
            _submission_to_json(run.submission),
            int(run.finalized_by_cqd),
            to_us(run.delay_cancel_until) if run.delay_cancel_until else None,
            run.end_message,
            to_us(now),
            run.id,
            *params,
        ),
    )
    return cursor.rowcount == 1


def running_attempts(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(project, attempt key, Run ID) of every RUNNING Run: what the gauges count, without
    loading whole Runs."""
    return conn.execute(
        "SELECT project, attempt_key, id FROM runs WHERE status = ?", (int(Status.RUNNING),)
    ).fetchall()


def get_run(conn: sqlite3.Connection, run_id: str) -> Run | None:
    """The Run with this ID, or None."""
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _run_from_row(row) if row else None


def runs_by_attempt_key(conn: sqlite3.Connection, attempt_key: str) -> list[Run]:
    """Runs with this attempt key in key order (newest first within a project)."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE attempt_key = ? ORDER BY id", (attempt_key,)
    ).fetchall()
    return [_run_from_row(row) for row in rows]


def locate_run(conn: sqlite3.Connection, run_id: str, attempt_key: str) -> Run | None:
    """Spec §3.6: by ID when given (missing → None), else by attempt key across projects.

    Several Runs may share a key (re-created after a cancel); the first in key order wins,
    which within a project is the most recently created.
    """
    row = _locate(conn, _LOCATE_RUN, run_id, attempt_key)
    return _run_from_row(row) if row else None


class RunRef(NamedTuple):
    """A Run's ID, project, mode and status alone (`locate_run_ref`)."""

    id: str
    project: str
    mode: str
    status: Status

    @property
    def is_ended(self) -> bool:
        return is_ended(self.status)


def locate_run_ref(conn: sqlite3.Connection, run_id: str, attempt_key: str) -> RunRef | None:
    """`locate_run`, the same Run, without decoding the rest of its row: all that
    FetchRunStatus and ReportVerifiedRun need, on their hot paths (bench/, issue 8)."""
    row = _locate(conn, _LOCATE_REF, run_id, attempt_key)
    return RunRef(row[0], row[1], row[2], Status(row[3])) if row else None


def _locate_sql(columns: str) -> tuple[str, str]:
    """The two lookups of spec §3.6 (by Run ID, by attempt key) reading `columns`, one of
    the constant column lists below; values are always bound."""
    return (
        f"SELECT {columns} FROM runs WHERE id = ?",
        f"SELECT {columns} FROM runs WHERE attempt_key = ? ORDER BY id LIMIT 1",
    )


_LOCATE_RUN = _locate_sql(_RUN_COLUMNS)
_LOCATE_REF = _locate_sql("id, project, mode, status")


def _locate(
    conn: sqlite3.Connection, sql: tuple[str, str], run_id: str, attempt_key: str
) -> tuple[Any, ...] | None:
    if run_id:
        return conn.execute(sql[0], (run_id,)).fetchone()
    if not attempt_key:
        return None
    return conn.execute(sql[1], (attempt_key,)).fetchone()


def list_runs(
    conn: sqlite3.Connection,
    *,
    project: str | None = None,
    statuses: Sequence[Status] | None = None,
    limit: int = 1000,
) -> list[Run]:
    """Runs filtered by project and status, newest first within a project."""
    clauses, params = [], []
    if project:
        clauses.append("project = ?")
        params.append(project)
    if statuses:
        clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
        params.extend(int(s) for s in statuses)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY project, id LIMIT ?", (*params, limit)
    ).fetchall()
    return [_run_from_row(row) for row in rows]


def load_run_cls(conn: sqlite3.Connection, run_id: str) -> list[StoredRunCL]:
    """The Run's CLs in Run.CLs order."""
    rows = conn.execute(
        "SELECT cl_id, trigger_json, dep_ids, run_cl_pb, run_cl_json, run_cl_twirp_json"
        " FROM run_cls WHERE run_id = ? ORDER BY position",
        (run_id,),
    ).fetchall()
    return [
        StoredRunCL(
            trigger=trigger_from_json(row[1]),
            dep_ids=tuple(json.loads(row[2])),
            encoded=EncodedCL(cl_id=row[0], pb=row[3], json=row[4], twirp_json=row[5]),
        )
        for row in rows
    ]


# The stored encodings of a RunCL (EncodedCL field → column), and the query that reads the
# CLs of a project's RUNNING Runs with all of them or just one.
_RUN_CL_ENCODINGS = {"pb": "run_cl_pb", "json": "run_cl_json", "twirp_json": "run_cl_twirp_json"}
# No ORDER BY: sorting made SQLite copy every row, encodings included (~18 MiB for 1000
# Runs), into a temporary B-tree; the rows are put in order by position in Python instead.
_ACTIVE_RUN_CLS_SQL = {
    encodings: "SELECT c.run_id, c.position, c.cl_id, c.dep_ids, "
    + ", ".join(f"c.{_RUN_CL_ENCODINGS[name]}" for name in encodings)
    + " FROM run_cls c JOIN runs r ON r.id = c.run_id"
    " WHERE r.project = ? AND r.status = ? AND r.id > ? AND r.id < ?"
    for encodings in (tuple(_RUN_CL_ENCODINGS), *((name,) for name in _RUN_CL_ENCODINGS))
}


def active_set_version(conn: sqlite3.Connection, project: str) -> tuple[int, int]:
    """(version of `project`'s FetchActiveRuns answer, version of the CL snapshots): both
    change in the transaction of any write that can change the answer (triggers of
    sql/sqlite/0003). Read it before the data: an answer kept under these versions is then
    never older than they say (a write in between only causes a rebuild later)."""
    versions = dict(
        conn.execute(
            "SELECT project, version FROM active_set_versions WHERE project IN (?, '')",
            (project,),
        ).fetchall()
    )
    return versions.get(project, 0), versions.get("", 0)


def load_active_runs(
    conn: sqlite3.Connection, project: str, *, encoding: str | None = None
) -> list[ActiveRunRow]:
    """Spec §4.7 steps 3–5: RUNNING Runs of `project`, newest first, minus those already
    reported verified or waiting for a delayed cancel, each with its encoded CLs.
    One query for the Runs and one for all their CLs.

    `encoding` (`pb`, `json` or `twirp_json`) reads only that encoding of each CL and
    leaves the others empty: an answer needs one, and reading all three reads (and
    decodes, for the JSON text) about 4x the bytes (measured in bench/, issue 8).
    """
    encodings = tuple(_RUN_CL_ENCODINGS) if encoding is None else (encoding,)
    if encoding is not None and encoding not in _RUN_CL_ENCODINGS:
        raise ValueError(f"unknown RunCL encoding {encoding!r}")
    key_range = project_run_id_range(project)
    low, high = key_range.after, key_range.before
    runs = conn.execute(
        "SELECT r.id, r.cl_ids FROM runs r"
        " WHERE r.project = ? AND r.status = ? AND r.id > ? AND r.id < ?"
        " AND r.delay_cancel_until IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM verified_runs v WHERE v.run_id = r.id)"
        " ORDER BY r.id",
        (project, int(Status.RUNNING), low, high),
    ).fetchall()
    if not runs:
        return []
    cls_by_run: dict[str, list[tuple[int, EncodedCL]]] = {run_id: [] for run_id, _ in runs}
    deps_by_run: dict[str, set[int]] = {run_id: set() for run_id, _ in runs}
    rows = conn.execute(
        _ACTIVE_RUN_CLS_SQL[encodings], (project, int(Status.RUNNING), low, high)
    ).fetchall()
    for run_id, position, cl_id, dep_ids, *values in rows:
        bucket = cls_by_run.get(run_id)
        if bucket is None:  # verified or delayed-cancel Run: not returned
            continue
        forms = dict(zip(encodings, values, strict=True))
        cl = EncodedCL(
            cl_id=cl_id,
            pb=forms.get("pb", b""),
            json=forms.get("json", ""),
            twirp_json=forms.get("twirp_json", ""),
        )
        bucket.append((position, cl))
        if dep_ids != "[]":
            deps_by_run[run_id].update(json.loads(dep_ids))
    result = []
    for run_id, cl_ids_json in runs:
        encoded = [cl for _, cl in sorted(cls_by_run[run_id], key=lambda item: item[0])]
        if tuple(cl.cl_id for cl in encoded) != tuple(json.loads(cl_ids_json)):
            raise LookupError(f"Run {run_id} is missing RunCLs")
        deps = tuple(sorted(deps_by_run[run_id]))
        result.append(ActiveRunRow(run_id=run_id, cls=tuple(encoded), dep_ids=deps))
    return result


def unfinished_runs_for_cl(conn: sqlite3.Connection, project: str, cl_id: int) -> list[Run]:
    """`project`'s Runs that include the CL and have not ended (any non-ended status:
    CV's "incomplete Runs" of a CL, spec §3.1), oldest first."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs"
        " WHERE id IN (SELECT run_id FROM run_cls WHERE cl_id = ?)"
        " AND project = ? AND status < ? ORDER BY id DESC",
        (cl_id, project, int(Status.ENDED_MASK)),
    ).fetchall()
    return [_run_from_row(row) for row in rows]


def runs_due_for_delayed_cancel(conn: sqlite3.Connection, project: str, now: datetime) -> list[Run]:
    """`project`'s unended Runs whose delayed cancel (spec §5.6) is due at `now`."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE project = ? AND status < ?"
        " AND delay_cancel_until IS NOT NULL AND delay_cancel_until <= ? ORDER BY id",
        (project, int(Status.ENDED_MASK), to_us(now)),
    ).fetchall()
    return [_run_from_row(row) for row in rows]
