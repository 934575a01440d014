"""Ended Runs and finished attempts as BigQuery rows (`bigquery.Attempt`, spec §7.3).

One logical row per ended attempt, keyed for de-duplication:
- `run-<RunID>` for a Run CV ended (reconciled with CQDaemon's report when there is one);
- `attempt-<attempt key>` for a ReportFinishedRun that matched no CV Run.
The key doubles as the BigQuery insertId, and is also stored in the row's `insert_id`
column (see export/schema.py) so that analysts can tell the two kinds apart.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from datetime import datetime
from typing import Any

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.cl_group_key import GroupedCL, cl_group_key, equivalent_cl_group_key
from cvmigrate.runs.mode import Mode
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import outbox, reports
from cvmigrate.store import runs as runs_store

__all__ = [
    "attempt_dedup_key",
    "attempt_to_row",
    "enqueue_finished_attempt_row",
    "enqueue_run_row",
    "run_attempt",
    "run_dedup_key",
]


def run_dedup_key(run_id: str) -> str:
    return f"run-{run_id}"


def attempt_dedup_key(attempt_key: str) -> str:
    return f"attempt-{attempt_key}"


def _attempt_status(run: Run) -> bigquery_pb.AttemptStatus:
    if run.status is Status.SUCCEEDED:
        return bigquery_pb.AttemptStatus.SUCCESS
    if run.status is Status.FAILED:
        submission = run.submission
        # Checks passed but submission failed: CV reports the attempt as SUCCESS.
        if submission is not None and set(submission.submitted_cls) != set(submission.cls):
            return bigquery_pb.AttemptStatus.SUCCESS
        return bigquery_pb.AttemptStatus.FAILURE
    if run.status is Status.CANCELLED:
        return bigquery_pb.AttemptStatus.ABORTED
    return bigquery_pb.AttemptStatus.ATTEMPT_STATUS_UNSPECIFIED


def _submit_status(run: Run, cl_id: int) -> bigquery_pb.GerritChangeSubmitStatus:
    if run.mode != Mode.FULL_RUN.value:
        return bigquery_pb.GerritChangeSubmitStatus.PENDING
    submission = run.submission
    if submission is not None and cl_id in submission.submitted_cls:
        return bigquery_pb.GerritChangeSubmitStatus.SUCCESS
    # 0ce9eb295f: FAILURE only for CLs whose submission failed; never-tried CLs are PENDING.
    if submission is not None and cl_id in submission.failed_cls:
        return bigquery_pb.GerritChangeSubmitStatus.FAILURE
    return bigquery_pb.GerritChangeSubmitStatus.PENDING


def _cqdaemon_attempt(conn: sqlite3.Connection, run: Run) -> bigquery_pb.Attempt | None:
    """CQDaemon's view of the attempt: its finished report if it finalized the Run, else
    its verified report (absent e.g. for cancelled Runs)."""
    if run.finalized_by_cqd:
        payloads = reports.finished_payloads_for_run(conn, run.id)
        if payloads:
            return migration_pb.ReportedRun.parse(payloads[-1]).attempt
        return None
    verified = reports.get_verified(conn, run.id)
    if verified is None:
        return None
    request = migration_pb.ReportVerifiedRunRequest.parse(verified)
    return request.run.attempt if request.run else None


def run_attempt(conn: sqlite3.Connection, run: Run) -> bigquery_pb.Attempt:
    """The BigQuery row of an ended Run (spec §7.3), reconciled with CQDaemon's data."""
    if not run.is_ended or run.end_time is None:
        raise ValueError(f"Run {run.id} has not ended")
    mode = Mode(run.mode).bigquery_mode
    changes, grouped = [], []
    for stored in runs_store.load_run_cls(conn, run.id):
        gc = migration_pb.RunCl.parse(stored.encoded.pb).gc or bigquery_pb.GerritChange()
        changes.append(
            bigquery_pb.GerritChange(
                host=gc.host,
                project=gc.project,
                change=gc.change,
                patchset=gc.patchset,
                earliest_equivalent_patchset=gc.earliest_equivalent_patchset,
                trigger_time=stored.trigger.time,
                mode=mode,
                submit_status=_submit_status(run, stored.cl_id),
            )
        )
        grouped.append(
            GroupedCL(
                host=gc.host,
                change=gc.change,
                patchset=gc.patchset,
                min_equivalent_patchset=gc.earliest_equivalent_patchset,
            )
        )
    attempt = bigquery_pb.Attempt(
        key=run.attempt_key,
        luci_project=run.project,
        config_group=run.config_group,
        cl_group_key=cl_group_key(grouped),
        equivalent_cl_group_key=equivalent_cl_group_key(grouped),
        start_time=run.create_time,
        end_time=run.end_time,
        gerrit_changes=changes,
        builds=[],
        status=_attempt_status(run),
        substatus=bigquery_pb.AttemptSubstatus.NO_SUBSTATUS,
        has_custom_requirement=False,
    )
    reported = _cqdaemon_attempt(conn, run)
    if reported is not None:  # CQDaemon's data wins for what only it knows (§7.3)
        attempt.builds = list(reported.builds)
        attempt.status = reported.status
        attempt.substatus = reported.substatus
        attempt.has_custom_requirement = reported.has_custom_requirement
    return attempt


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _enum_name(enum_type: type[enum.IntEnum], value: int) -> str:
    # A value this code does not know (CQDaemon may be newer) is kept as its number rather
    # than failing the transaction that ends the attempt.
    try:
        return enum_type(value).name or str(int(value))
    except ValueError:
        return str(int(value))


def attempt_to_row(attempt: bigquery_pb.Attempt, *, insert_id: str = "") -> dict[str, Any]:
    """The JSON row for `schemas/bigquery/attempts.json`: proto field names, enums by name,
    timestamps as RFC 3339 strings, every column present; `insert_id` is the dedup key
    (null when not given)."""
    return {
        "key": attempt.key,
        "luci_project": attempt.luci_project,
        "cl_group_key": attempt.cl_group_key,
        "equivalent_cl_group_key": attempt.equivalent_cl_group_key,
        "start_time": _timestamp(attempt.start_time),
        "end_time": _timestamp(attempt.end_time),
        "gerrit_changes": [
            {
                "host": gc.host,
                "project": gc.project,
                "change": gc.change,
                "patchset": gc.patchset,
                "earliest_equivalent_patchset": gc.earliest_equivalent_patchset,
                "trigger_time": _timestamp(gc.trigger_time),
                "mode": _enum_name(bigquery_pb.Mode, gc.mode),
                "submit_status": _enum_name(bigquery_pb.GerritChangeSubmitStatus, gc.submit_status),
            }
            for gc in attempt.gerrit_changes
        ],
        "builds": [
            {
                "id": build.id,
                "host": build.host,
                "origin": _enum_name(bigquery_pb.BuildOrigin, build.origin),
                "critical": build.critical,
            }
            for build in attempt.builds
        ],
        "status": _enum_name(bigquery_pb.AttemptStatus, attempt.status),
        "substatus": _enum_name(bigquery_pb.AttemptSubstatus, attempt.substatus),
        "config_group": attempt.config_group,
        "has_custom_requirement": attempt.has_custom_requirement,
        "insert_id": insert_id or None,
    }


def enqueue_run_row(
    conn: sqlite3.Connection, run_id: str, now: datetime, *, trace_context: str = ""
) -> None:
    """Write the ended Run's row to the outbox (call in the transaction that ends it)."""
    run = runs_store.get_run(conn, run_id)
    if run is None:
        raise LookupError(f"Run {run_id} does not exist")
    dedup_key = run_dedup_key(run_id)
    row = attempt_to_row(run_attempt(conn, run), insert_id=dedup_key)
    outbox.enqueue_row(
        conn,
        dedup_key,
        json.dumps(row, sort_keys=True),
        now,
        trace_context=trace_context,
    )


def enqueue_finished_attempt_row(
    conn: sqlite3.Connection,
    attempt: bigquery_pb.Attempt,
    now: datetime,
    *,
    trace_context: str = "",
) -> None:
    """Write CQDaemon's finished attempt (no CV Run) to the outbox as it reported it."""
    dedup_key = attempt_dedup_key(attempt.key)
    outbox.enqueue_row(
        conn,
        dedup_key,
        json.dumps(attempt_to_row(attempt, insert_id=dedup_key), sort_keys=True),
        now,
        trace_context=trace_context,
    )
