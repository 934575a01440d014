"""`submit`: take the project's submit slot, then submit a full run's CLs (spec §5.2).

WAITING_FOR_SUBMISSION: the Run may take the slot when nobody holds it, it is first in line
and the rate limit allows (runs/submit_queue.py); otherwise the event waits (the Run holding
the slot wakes the next one when it ends; a 10 s re-check is the fail-safe, as in CV). A
configured tree must be open or throttled; closed → re-check every minute, without holding
the slot. Taking the slot is one transaction: SUBMITTING, `Submission.cls` in dependency
order (runs/submit_order.py), deadline now + 20 min.

SUBMITTING: each CL not yet submitted is submitted in order, at the RunCL snapshot's
revision. Durability, so that a crash anywhere neither loses nor repeats a submission:
- the CL is recorded in `Submission.attempted_cls` before its submit request is sent;
- an attempted but unconfirmed CL (a crash, or a lost answer) is re-read from Gerrit
  first, and counts as submitted if it is MERGED;
- each success is recorded in `Submission.submitted_cls` right away.
After a Gerrit error the change is re-read too: MERGED counts as submitted (Gerrit can fail
after merging). Transient errors (429, 5xx, timeouts) and a missing host configuration or
credential retry the event with backoff — the client has already retried the call itself —
until the deadline; others fail the CL.

Outcome: all submitted → SUCCEEDED (no message, no vote removal), the submission is
recorded for the rate limit and the next waiting Run is woken. A permanent failure or the
deadline → `Submission.failed_cls` and a `cancel_triggers` event with CV's messages
(runs/submit_messages.py), which ends the Run FAILED.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from cvmigrate.gerrit.errors import GerritError
from cvmigrate.proto import gerrit
from cvmigrate.runs import event_kinds
from cvmigrate.runs.cancel_and_end import queue_cancel_and_end
from cvmigrate.runs.end import RunAlreadyEnded, end_run
from cvmigrate.runs.gerrit_api import retry_later
from cvmigrate.runs.handler_context import (
    Committed,
    Done,
    HandlerContext,
    Later,
    Outcome,
    RetryLater,
)
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.run_cls import RunCL, decode_run_cls
from cvmigrate.runs.status import Status
from cvmigrate.runs.submit_messages import (
    TIMEOUT_MESSAGE,
    FailedCL,
    cl_failure_message,
    cl_url,
    submission_failure_messages,
)
from cvmigrate.runs.submit_order import OrderedCL, submission_order
from cvmigrate.runs.submit_queue import (
    SubmitOptions,
    may_acquire,
    next_submission_eta,
    wake_next_waiter,
)
from cvmigrate.runs.tree import TreeStatusError
from cvmigrate.store import events
from cvmigrate.store import runs as runs_store
from cvmigrate.store import submit_queue as queue_store
from cvmigrate.store.events import RunEvent

__all__ = ["SUBMISSION_DURATION", "handle_submit"]

log = logging.getLogger(__name__)

SUBMISSION_DURATION: Final = timedelta(minutes=20)
WAITLIST_RECHECK: Final = timedelta(seconds=10)
TREE_RECHECK: Final = timedelta(minutes=1)


class _Submitter:
    """One pass over a SUBMITTING Run's remaining CLs."""

    def __init__(self, ctx: HandlerContext, run: Run, event: RunEvent, cls: list[RunCL]):
        self.ctx = ctx
        self.run = run
        self.event = event
        self.cls = {cl.cl_id: cl for cl in cls}
        self.submission = run.submission or Submission()

    async def _update(self, change: Callable[[Submission, int], Submission], cl_id: int) -> None:
        """Persist `change(submission, cl_id)` (a module-level function), if the Run is
        still SUBMITTING."""
        now = self.ctx.clock()
        updated = await self.ctx.db.write(_update_submission, self.run.id, change, cl_id, now)
        if updated is None:
            raise RetryLater("the Run stopped SUBMITTING while submitting")
        self.submission = updated

    async def _mark_submitted(self, cl_id: int) -> None:
        await self._update(_with_submitted, cl_id)

    async def _is_merged(self, cl: RunCL) -> bool:
        info = await self.ctx.gerrit.get_change(cl.host, cl.number, project=cl.info.project)
        return info.status == gerrit.ChangeStatus.MERGED

    async def _merged_after_error(self, cl: RunCL) -> bool:
        try:
            return await self._is_merged(cl)
        except GerritError as err:
            log.warning("cannot re-read %s/%d after a submit error: %s", cl.host, cl.number, err)
            return False

    async def run_pass(self) -> Outcome:
        for cl_id in self.submission.cls:
            if cl_id in self.submission.submitted_cls:
                continue
            deadline = self.submission.deadline
            if deadline is not None and self.ctx.clock() > deadline:
                return await self._fail(None)
            cl = self.cls[cl_id]
            if cl_id in self.submission.attempted_cls:
                # Sent before without a confirmed answer: it may have merged.
                if await self._is_merged(cl):
                    await self._mark_submitted(cl_id)
                    continue
            else:
                await self._update(_with_attempted, cl_id)
            try:
                await self.ctx.gerrit.submit_revision(
                    cl.host,
                    gerrit.SubmitRevisionRequest(
                        number=cl.number, revision_id=cl.revision, project=cl.info.project
                    ),
                )
            except GerritError as err:
                if await self._merged_after_error(cl):
                    log.info("%s/%d merged despite %s", cl.host, cl.number, err)
                elif retry_later(err):
                    raise
                else:
                    log.warning("submitting %s/%d failed: %s", cl.host, cl.number, err)
                    return await self._fail(FailedCL(cl_id=cl_id, message=cl_failure_message(err)))
            await self._mark_submitted(cl_id)
        return await self._succeed()

    async def _succeed(self) -> Outcome:
        now = self.ctx.clock()
        options = self.ctx.submit_options(self.run.project, self.run.config_group)
        keep_since = now - timedelta(seconds=max(options.burst_delay_s, 0.0))

        await self.ctx.db.write(
            _end_submitted, self.run, self.submission, self.event, keep_since, now
        )
        return Committed()

    async def _fail(self, failed: FailedCL | None) -> Outcome:
        """Queue the trigger cancellation for a permanent failure (`failed`) or timeout."""
        now = self.ctx.clock()
        order = [(c, cl_url(self.cls[c].host, self.cls[c].number)) for c in self.submission.cls]
        messages = submission_failure_messages(
            order, set(self.submission.submitted_cls), failed=failed, timeout=failed is None
        )
        end_message = failed.message if failed is not None else TIMEOUT_MESSAGE
        failed_cls = (failed.cl_id,) if failed is not None else ()

        await self.ctx.db.write(
            _fail_submission, self.run.id, failed_cls, messages, end_message, self.event, now
        )
        return Committed()


async def _try_acquire(ctx: HandlerContext, run: Run) -> Run | Outcome:
    """Take the submit slot (the SUBMITTING Run) or say how long to wait."""
    now = ctx.clock()
    options = ctx.submit_options(run.project, run.config_group)
    since = now - timedelta(seconds=max(options.burst_delay_s, 0.0))

    wait_until = await ctx.db.read(lambda conn: _slot_wait(conn, run, options, since, now))
    if wait_until is not None:
        return Later(wait_until, "waiting for the submit queue")
    if options.tree_status_url:
        try:
            tree_open = await ctx.tree.is_open(options.tree_status_url)
        except TreeStatusError as err:
            raise RetryLater(str(err)) from err
        if not tree_open:
            # The slot is not taken while the tree is closed (CV released it).
            return Later(ctx.clock() + TREE_RECHECK, "tree is closed")
    stored = await ctx.db.read(lambda conn: runs_store.load_run_cls(conn, run.id))
    order = submission_order(
        [OrderedCL(cl_id=cl.cl_id, deps=cl.deps) for cl in decode_run_cls(stored)]
    )
    now = ctx.clock()

    acquired = await ctx.db.write(_acquire, run, options, since, tuple(order), now)
    if acquired is None:
        return Later(now, "the submit queue changed; look again")
    log.info("Run %s took the submit slot of %s", run.id, run.project)
    return acquired


async def handle_submit(ctx: HandlerContext, run: Run, event: RunEvent) -> Outcome:
    """Wait for the submit slot, take it, and submit (module docstring)."""
    if run.is_ended:
        return Done(f"Run already {run.status.name}")
    if run.status is Status.WAITING_FOR_SUBMISSION:
        acquired = await _try_acquire(ctx, run)
        if not isinstance(acquired, Run):
            return acquired
        run = acquired
    if run.status is not Status.SUBMITTING:
        raise RetryLater(f"expected WAITING_FOR_SUBMISSION or SUBMITTING, got {run.status.name}")
    stored = await ctx.db.read(lambda conn: runs_store.load_run_cls(conn, run.id))
    return await _Submitter(ctx, run, event, decode_run_cls(stored)).run_pass()


# The writes below run in the writer process (Database.write): module-level functions.


def _with_attempted(submission: Submission, cl_id: int) -> Submission:
    return dataclasses.replace(submission, attempted_cls=(*submission.attempted_cls, cl_id))


def _with_submitted(submission: Submission, cl_id: int) -> Submission:
    done = set(submission.submitted_cls) | {cl_id}
    return dataclasses.replace(
        submission, submitted_cls=tuple(c for c in submission.cls if c in done)
    )


def _update_submission(
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


def _end_submitted(
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


def _fail_submission(
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


def _slot_wait(
    conn: sqlite3.Connection, run: Run, options: SubmitOptions, since: datetime, now: datetime
) -> datetime | None:
    """None if the Run may take the submit slot now, else when to look again."""
    if not may_acquire(queue_store.submit_queue(conn, run.project, event_kinds.SUBMIT), run.id):
        return now + WAITLIST_RECHECK
    eta = next_submission_eta(
        queue_store.recent_submissions(conn, run.project, since), options, now
    )
    return eta if eta > now else None


def _acquire(
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
    if _slot_wait(conn, run, options, since, now) is not None:
        return None
    submitting = dataclasses.replace(
        current,
        status=Status.SUBMITTING,
        submission=Submission(cls=order, deadline=now + SUBMISSION_DURATION),
    )
    runs_store.update_run(conn, submitting, now, expected_status=Status.WAITING_FOR_SUBMISSION)
    return submitting
