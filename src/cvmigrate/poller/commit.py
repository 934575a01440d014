"""The poller's transactions: store CL snapshots, cancel or delay Runs, create and claim.

Each function runs inside one `Database.write` transaction and re-reads what it decides on
(the CL's unfinished Runs, verified reports, finished reports), so a decision made from a
read a moment earlier can never override what the run manager or an RPC did meanwhile.
The decisions themselves are the pure functions of `poller/decide.py`.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Mapping
from datetime import datetime

from cvmigrate.changelist.encoded import EncodedCL
from cvmigrate.config import InCharge
from cvmigrate.poller.decide import (
    DELAYED_CANCEL,
    RunAction,
    decide_run_action,
    is_delayed_cancel_due,
)
from cvmigrate.runs.end import end_run
from cvmigrate.runs.event_kinds import CQD_FINISHED
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import cls as cls_store
from cvmigrate.store import events, reports
from cvmigrate.store import runs as runs_store
from cvmigrate.store.runs import StoredRunCL

__all__ = [
    "CLCommit",
    "CommitOutcome",
    "SnapshotWrite",
    "commit_cl",
    "sweep_delayed_cancels",
]

log = logging.getLogger(__name__)

# A trigger that already got a verdict must not run again: when the run manager ends a Run
# after removing its votes, a snapshot read just before still shows the votes.
_VERDICT_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED})
_DELAY_EXPIRED_MESSAGE = "CQDaemon did not report the attempt within 20 minutes"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotWrite:
    """A CL's latest snapshot, encoded, with its deps as (CLID, kind) pairs."""

    cl_id: int
    patchset: int
    encoded: EncodedCL
    deps: tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CLCommit:
    """Everything the poller wants to write about one CL in one transaction."""

    project: str
    in_charge: InCharge
    cl_id: int
    snapshots: tuple[SnapshotWrite, ...]
    """The CL's snapshot and those of its dependencies (for fyi_deps)."""
    cancel_reasons: Mapping[str, str]
    """Run ID → why the CL's new state cancels that Run."""
    new_run: Run | None = None
    new_run_cls: tuple[StoredRunCL, ...] = ()


@dataclasses.dataclass(slots=True, kw_only=True)
class CommitOutcome:
    """What a transaction did (Run IDs)."""

    cancelled: list[str] = dataclasses.field(default_factory=list)
    delayed: list[str] = dataclasses.field(default_factory=list)
    created: list[str] = dataclasses.field(default_factory=list)
    claimed: list[str] = dataclasses.field(default_factory=list)
    declined: list[str] = dataclasses.field(default_factory=list)
    """Attempt keys of proposed Runs not created because that trigger already got a verdict."""


def _claim_unclaimed_report(conn: sqlite3.Connection, run: Run, now: datetime) -> bool:
    """Bind a ReportFinishedRun saved before `run` existed, and queue its finalization."""
    found = reports.get_finished(conn, run.attempt_key)
    if found is None or found[0] is not None:
        return False
    if not reports.claim_finished(conn, run.attempt_key, run.id, now):
        return False
    events.enqueue_event(conn, run.id, CQD_FINISHED, now)
    return True


def _apply_run_actions(
    conn: sqlite3.Connection, commit: CLCommit, now: datetime, outcome: CommitOutcome
) -> list[Run]:
    """Cancel or delay the CL's Runs as decided; returns the Runs still unfinished."""
    remaining = []
    for run in runs_store.unfinished_runs_for_cl(conn, commit.project, commit.cl_id):
        reason = commit.cancel_reasons.get(run.id)
        verified = reason is not None and reports.get_verified(conn, run.id) is not None
        action = decide_run_action(run, reason, in_charge=commit.in_charge, verified=verified)
        if action is RunAction.CANCEL:
            # CV in charge: end now, no Gerrit calls (spec §5.6); CQDaemon learns it from
            # FetchRunStatus.
            end_run(conn, run, Status.CANCELLED, now, end_message=reason or "")
            outcome.cancelled.append(run.id)
            continue
        if action is RunAction.DELAY_CANCEL:
            delayed = dataclasses.replace(
                run, delay_cancel_until=now + DELAYED_CANCEL, end_message=reason or ""
            )
            if runs_store.update_run(conn, delayed, now, expected_status=run.status):
                outcome.delayed.append(run.id)
        remaining.append(run)
    return remaining


def _create_run(
    conn: sqlite3.Connection, commit: CLCommit, now: datetime, outcome: CommitOutcome
) -> None:
    run = commit.new_run
    assert run is not None
    for existing in runs_store.runs_by_attempt_key(conn, run.attempt_key):
        if existing.project == run.project and existing.status in _VERDICT_STATUSES:
            outcome.declined.append(run.attempt_key)
            return
    runs_store.insert_run(conn, run, commit.new_run_cls, now)
    outcome.created.append(run.id)
    if _claim_unclaimed_report(conn, run, now):
        outcome.claimed.append(run.id)


def commit_cl(conn: sqlite3.Connection, commit: CLCommit, now: datetime) -> CommitOutcome:
    """Store the CL's snapshots, act on its Runs, and create the proposed Run if the CL
    has no unfinished Run left (one Run per CL at a time; spec §11.4)."""
    outcome = CommitOutcome()
    for snapshot in commit.snapshots:
        cls_store.put_cl_snapshot(conn, snapshot.cl_id, snapshot.patchset, snapshot.encoded, now)
        cls_store.put_cl_deps(conn, snapshot.cl_id, snapshot.deps)
    remaining = _apply_run_actions(conn, commit, now, outcome)
    if commit.new_run is not None and not remaining:
        _create_run(conn, commit, now, outcome)
    return outcome


def sweep_delayed_cancels(conn: sqlite3.Connection, project: str, now: datetime) -> CommitOutcome:
    """The fail-safe of spec §5.6: end CANCELLED the Runs whose 20 minutes passed with no
    CQDaemon report. A Run with a report (bound, or saved unclaimed under its attempt key
    and claimed here) is left to the run manager, which finalizes it from the report."""
    outcome = CommitOutcome()
    for run in runs_store.runs_due_for_delayed_cancel(conn, project, now):
        if not is_delayed_cancel_due(run, now):
            continue
        if reports.finished_payloads_for_run(conn, run.id):
            continue
        if _claim_unclaimed_report(conn, run, now):
            outcome.claimed.append(run.id)
            continue
        message = run.end_message or _DELAY_EXPIRED_MESSAGE
        end_run(conn, run, Status.CANCELLED, now, end_message=message)
        outcome.cancelled.append(run.id)
    return outcome
