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

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from cvmigrate.gerrit.errors import GerritError
from cvmigrate.proto import gerrit
from cvmigrate.runs.commits import (
    SUBMISSION_DURATION,
    acquire_slot,
    end_submitted,
    fail_submission,
    slot_wait,
    update_submission,
    with_attempted,
    with_submitted,
)
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
from cvmigrate.runs.tree import TreeStatusError
from cvmigrate.store import runs as runs_store
from cvmigrate.store.events import RunEvent

__all__ = ["SUBMISSION_DURATION", "handle_submit"]

log = logging.getLogger(__name__)

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
        updated = await self.ctx.db.write(update_submission, self.run.id, change, cl_id, now)
        if updated is None:
            raise RetryLater("the Run stopped SUBMITTING while submitting")
        self.submission = updated

    async def _mark_submitted(self, cl_id: int) -> None:
        await self._update(with_submitted, cl_id)

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
                await self._update(with_attempted, cl_id)
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
            end_submitted, self.run, self.submission, self.event, keep_since, now
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
            fail_submission, self.run.id, failed_cls, messages, end_message, self.event, now
        )
        return Committed()


async def _try_acquire(ctx: HandlerContext, run: Run) -> Run | Outcome:
    """Take the submit slot (the SUBMITTING Run) or say how long to wait."""
    now = ctx.clock()
    options = ctx.submit_options(run.project, run.config_group)
    since = now - timedelta(seconds=max(options.burst_delay_s, 0.0))

    wait_until = await ctx.db.read(lambda conn: slot_wait(conn, run, options, since, now))
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

    acquired = await ctx.db.write(acquire_slot, run, options, since, tuple(order), now)
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
