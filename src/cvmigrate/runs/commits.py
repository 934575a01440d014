"""The run manager's writes: module-level functions that the database writer process runs
(`Database.write`), with the decisions they carry.

They live apart from the event handlers (runs/verification.py, submit.py, ...) so that the
writer process imports what storing needs and not the handlers' Gerrit and HTTP clients: a
write function's module, and the modules of the classes in its arguments, are imported by the
writer on first use.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from cvmigrate.runs import event_kinds
from cvmigrate.runs.end import RunAlreadyEnded, end_run
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.status import Status
from cvmigrate.runs.submit_queue import (
    SubmitOptions,
    may_acquire,
    next_submission_eta,
    wake_next_waiter,
)
from cvmigrate.store import events
from cvmigrate.store import runs as runs_store
from cvmigrate.store import submit_queue as queue_store
from cvmigrate.store.events import RunEvent

__all__ = [
    "SUBMISSION_DURATION",
    "WAITLIST_RECHECK",
    "CancelAndEnd",
    "Decision",
    "EndWithoutAction",
    "StartSubmission",
    "acquire_slot",
    "apply_decision",
    "end_and_consume",
    "end_submitted",
    "fail_submission",
    "finalize_cqd_run",
    "queue_cancel_and_end",
    "slot_wait",
    "update_submission",
    "with_attempted",
    "with_submitted",
]

SUBMISSION_DURATION: Final = timedelta(minutes=20)
WAITLIST_RECHECK: Final = timedelta(seconds=10)


@dataclasses.dataclass(frozen=True, slots=True)
class StartSubmission:
    """Move to WAITING_FOR_SUBMISSION and queue the submission."""


@dataclasses.dataclass(frozen=True, slots=True)
class CancelAndEnd:
    """Cancel the triggers of every Run CL with `message`, then end with `status`."""

    message: str
    status: Status


@dataclasses.dataclass(frozen=True, slots=True)
class EndWithoutAction:
    """End the Run with `status` and `end_message`; nothing is done in Gerrit."""

    status: Status
    end_message: str


Decision = StartSubmission | CancelAndEnd | EndWithoutAction


def queue_cancel_and_end(
    conn: sqlite3.Connection,
    run_id: str,
    messages: dict[int, str],
    status: Status,
    end_message: str,
    cause: RunEvent,
    now: datetime,
) -> None:
    """Queue the `cancel_triggers` event for the Run (payload in event_kinds.py)."""
    events.enqueue_event(
        conn,
        run_id,
        event_kinds.CANCEL_TRIGGERS,
        now,
        payload={
            "messages": {str(cl_id): text for cl_id, text in messages.items()},
            "status": int(status),
            "end_message": end_message,
        },
        trace_context=cause.trace_context,
    )


def end_and_consume(
    conn: sqlite3.Connection, run: Run, status: Status, event: RunEvent, now: datetime, note: str
) -> None:
    """(The writer process) end the Run unless it has ended, wake the next Run waiting for
    the submit slot it held, and consume the event."""
    try:
        ended = end_run(
            conn,
            run,
            status,
            now,
            end_message=event.payload.get("end_message", ""),
            trace_context=event.trace_context,
        )
    except RunAlreadyEnded:
        pass
    else:
        if run.status is Status.SUBMITTING:
            wake_next_waiter(conn, ended.project, now)
    events.mark_event_done(conn, event.id, now, note)


def apply_decision(
    conn: sqlite3.Connection, run_id: str, decision: Decision, event: RunEvent, now: datetime
) -> bool:
    """(The writer process) commit the decision and consume the event; False (nothing
    written) if the Run left RUNNING since it was read: decide again."""
    current = runs_store.get_run(conn, run_id)
    if current is None or current.status is not Status.RUNNING:
        return False
    if isinstance(decision, StartSubmission):
        waiting = dataclasses.replace(current, status=Status.WAITING_FOR_SUBMISSION)
        runs_store.update_run(conn, waiting, now, expected_status=Status.RUNNING)
        events.enqueue_event(
            conn, run_id, event_kinds.SUBMIT, now, trace_context=event.trace_context
        )
    elif isinstance(decision, CancelAndEnd):
        messages = dict.fromkeys(current.cl_ids, decision.message)
        end_message = decision.message if decision.status is Status.FAILED else ""
        queue_cancel_and_end(conn, current.id, messages, decision.status, end_message, event, now)
    else:
        end_run(
            conn,
            current,
            decision.status,
            now,
            end_message=decision.end_message,
            trace_context=event.trace_context,
        )
    events.mark_event_done(conn, event.id, now)
    return True


def finalize_cqd_run(
    conn: sqlite3.Connection,
    run_id: str,
    status: Status,
    submission: Submission | None,
    end_time: datetime,
    event: RunEvent,
    now: datetime,
) -> bool:
    """(The writer process) end the still RUNNING Run as CQDaemon decided and consume the
    event; False (nothing written) if it left RUNNING without ending meanwhile."""
    current = runs_store.get_run(conn, run_id)
    if current is not None and current.status is Status.RUNNING:
        end_run(
            conn,
            current,
            status,
            now,
            end_time=end_time,
            submission=submission,
            finalized_by_cqd=True,
            trace_context=event.trace_context,
        )
    elif current is not None and not current.is_ended:
        return False
    events.mark_event_done(conn, event.id, now)
    return True


def with_attempted(submission: Submission, cl_id: int) -> Submission:
    return dataclasses.replace(submission, attempted_cls=(*submission.attempted_cls, cl_id))


def with_submitted(submission: Submission, cl_id: int) -> Submission:
    done = set(submission.submitted_cls) | {cl_id}
    return dataclasses.replace(
        submission, submitted_cls=tuple(c for c in submission.cls if c in done)
    )


def update_submission(
    conn: sqlite3.Connection,
    run_id: str,
    change: Callable[[Submission, int], Submission],
    cl_id: int,
    now: datetime,
) -> Submission | None:
    """The Run's Submission changed by `change`, saved; None if it is not SUBMITTING."""
    current = runs_store.get_run(conn, run_id)
    if current is None or current.status is not Status.SUBMITTING:
        return None
    submission = change(current.submission or Submission(), cl_id)
    runs_store.update_run(
        conn,
        dataclasses.replace(current, submission=submission),
        now,
        expected_status=Status.SUBMITTING,
    )
    return submission


def end_submitted(
    conn: sqlite3.Connection,
    run: Run,
    submission: Submission,
    event: RunEvent,
    keep_since: datetime,
    now: datetime,
) -> None:
    """End the Run SUCCEEDED, record the submission for the rate limit, wake the next Run
    waiting for the slot, and consume the event."""
    try:
        ended = end_run(
            conn,
            run,
            Status.SUCCEEDED,
            now,
            submission=submission,
            trace_context=event.trace_context,
        )
    except RunAlreadyEnded:
        pass
    else:
        queue_store.record_submission(conn, ended.project, ended.id, now, keep_since=keep_since)
        wake_next_waiter(conn, ended.project, now)
    events.mark_event_done(conn, event.id, now)


def fail_submission(
    conn: sqlite3.Connection,
    run_id: str,
    failed_cls: tuple[int, ...],
    messages: dict[int, str],
    end_message: str,
    event: RunEvent,
    now: datetime,
) -> None:
    """Record the failed CLs and queue the trigger cancellation that ends the Run FAILED."""
    current = runs_store.get_run(conn, run_id)
    if current is not None and current.status is Status.SUBMITTING:
        submission = dataclasses.replace(current.submission or Submission(), failed_cls=failed_cls)
        runs_store.update_run(
            conn,
            dataclasses.replace(current, submission=submission),
            now,
            expected_status=Status.SUBMITTING,
        )
        queue_cancel_and_end(conn, run_id, messages, Status.FAILED, end_message, event, now)
    events.mark_event_done(conn, event.id, now)


def slot_wait(
    conn: sqlite3.Connection, run: Run, options: SubmitOptions, since: datetime, now: datetime
) -> datetime | None:
    """None if the Run may take the submit slot now, else when to look again."""
    if not may_acquire(queue_store.submit_queue(conn, run.project, event_kinds.SUBMIT), run.id):
        return now + WAITLIST_RECHECK
    eta = next_submission_eta(
        queue_store.recent_submissions(conn, run.project, since), options, now
    )
    return eta if eta > now else None


def acquire_slot(
    conn: sqlite3.Connection,
    run: Run,
    options: SubmitOptions,
    since: datetime,
    order: tuple[int, ...],
    now: datetime,
) -> Run | None:
    """Take the submit slot: the Run SUBMITTING with its Submission; None if it is no
    longer WAITING_FOR_SUBMISSION or may not take the slot now."""
    current = runs_store.get_run(conn, run.id)
    if current is None or current.status is not Status.WAITING_FOR_SUBMISSION:
        return None
    if slot_wait(conn, run, options, since, now) is not None:
        return None
    submitting = dataclasses.replace(
        current,
        status=Status.SUBMITTING,
        submission=Submission(cls=order, deadline=now + SUBMISSION_DURATION),
    )
    runs_store.update_run(conn, submitting, now, expected_status=Status.WAITING_FOR_SUBMISSION)
    return submitting
