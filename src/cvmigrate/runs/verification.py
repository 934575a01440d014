"""`cqd_verification_completed`: CQDaemon verified a Run; decide CV's final action (§5).

Guards (§5.1): an ended Run consumes the event; WAITING_FOR_SUBMISSION or SUBMITTING keep it
for later; any other status than RUNNING, or a missing VerifiedCQDRun, is an error (retried).

Decisions (§5.2–§5.4), each committed with the event consumed in one transaction, then
acted on by the event it queues:
- ACTION_SUBMIT on a full run → WAITING_FOR_SUBMISSION and a `submit` event;
- ACTION_DRY_RUN_OK on a dry or quick dry run → cancel triggers with CV's exact text, then
  SUCCEEDED; ACTION_FAIL → cancel triggers with `final_message`, then FAILED.

Where CV crashed or did something harmful, the Run ends FAILED with an explanatory
`end_message` and nothing is done in Gerrit (the votes stay, so the owner sees the CL was
not handled): ACTION_DRY_RUN_OK on a full run (CV panicked), ACTION_UNSPECIFIED or an
unknown action (CV retried the event forever), and ACTION_SUBMIT on a dry run (CV would have
submitted CLs whose owner asked only for a dry run).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.commits import (
    CancelAndEnd,
    Decision,
    EndWithoutAction,
    StartSubmission,
    apply_decision,
)
from cvmigrate.runs.handler_context import (
    Committed,
    Done,
    HandlerContext,
    Later,
    Outcome,
    RetryLater,
)
from cvmigrate.runs.mode import Mode
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import reports
from cvmigrate.store.events import RunEvent

__all__ = [
    "CancelAndEnd",
    "Decision",
    "EndWithoutAction",
    "StartSubmission",
    "decide_verification",
    "handle_verification_completed",
]

Action = migration_pb.ReportVerifiedRunRequestAction

DRY_RUN_PASSED: Final = "Dry run: This CL passed the CQ dry run."
QUICK_DRY_RUN_PASSED: Final = "Quick dry run: This CL passed the CQ dry run."
KEEP_FOR_LATER: Final = timedelta(minutes=1)
"""How long a verification event waits while a submission is underway (§5.1)."""


def decide_verification(mode: str, action: int, final_message: str) -> Decision:
    """What CV does for a RUNNING Run in `mode` that CQDaemon verified with `action`."""
    if action == Action.SUBMIT:
        if mode == Mode.FULL_RUN:
            return StartSubmission()
        return EndWithoutAction(
            Status.FAILED,
            f"CQDaemon reported ACTION_SUBMIT for a {mode} Run; CV does not submit CLs whose "
            "owner asked only for a dry run.",
        )
    if action == Action.DRY_RUN_OK:
        if mode == Mode.DRY_RUN:
            return CancelAndEnd(DRY_RUN_PASSED, Status.SUCCEEDED)
        if mode == Mode.QUICK_DRY_RUN:
            return CancelAndEnd(QUICK_DRY_RUN_PASSED, Status.SUCCEEDED)
        return EndWithoutAction(
            Status.FAILED,
            f"CQDaemon reported ACTION_DRY_RUN_OK for a {mode} Run; a full run must be "
            "submitted or failed, so CV ended it without acting in Gerrit.",
        )
    if action == Action.FAIL:
        return CancelAndEnd(final_message, Status.FAILED)
    name = "ACTION_UNSPECIFIED" if action == Action.UNSPECIFIED else f"unknown action {action}"
    return EndWithoutAction(
        Status.FAILED,
        f"CQDaemon reported {name}; CV ended the Run without acting in Gerrit.",
    )


async def handle_verification_completed(ctx: HandlerContext, run: Run, event: RunEvent) -> Outcome:
    """Guards, then decide and commit (module docstring)."""
    now = ctx.clock()
    if run.is_ended:
        return Done(f"Run already {run.status.name}")
    if run.status in (Status.WAITING_FOR_SUBMISSION, Status.SUBMITTING):
        return Later(now + KEEP_FOR_LATER, "submission underway")
    if run.status is not Status.RUNNING:
        raise RetryLater(f"expected RUNNING status, got {run.status.name}")
    payload = await ctx.db.read(lambda conn: reports.get_verified(conn, run.id))
    if payload is None:
        raise RetryLater("VerifiedCQDRun does not exist")
    request = migration_pb.ReportVerifiedRunRequest.parse(payload)
    decision = decide_verification(run.mode, int(request.action), request.final_message)

    if not await ctx.db.write(apply_decision, run.id, decision, event, now):
        return Later(now, "Run changed while deciding")
    return Committed()
