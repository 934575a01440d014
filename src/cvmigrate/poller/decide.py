"""What the poller does about a Run, decided from the Run and the CL's new state (pure).

CV's Run Manager cancelled a Run when one of its CLs (`OnCLsUpdated`/`shouldCancel`,
spec §5.6, §11.4):

* got a new patch set;
* moved to another ref, or no longer belongs to the Run's config group;
* lost its trigger, or the trigger changed mode, time or account.

How it cancels depends on who is in charge (spec §5.6): CV ends the Run CANCELLED at once,
with no Gerrit calls; while CQDaemon is in charge, the Run first waits 20 minutes
(`delay_cancel_until`, hidden from FetchActiveRuns) for CQDaemon's ReportFinishedRun, and
ends CANCELLED only if none came (the poller's fail-safe sweep). Never cancelled: Runs in
SUBMITTING or WAITING_FOR_SUBMISSION (submission is under way), Runs CQDaemon has reported
verified (the run manager is acting on that verdict and ends them itself), and, by
construction, Runs whose CL could not be fetched: no new state, no decision.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timedelta
from typing import Final

from cvmigrate.changelist.trigger import Trigger
from cvmigrate.config import InCharge
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status

__all__ = [
    "DELAYED_CANCEL",
    "CLState",
    "FrozenCL",
    "RunAction",
    "cancel_reason",
    "decide_run_action",
    "is_delayed_cancel_due",
]

DELAYED_CANCEL: Final = timedelta(minutes=20)
"""How long a Run waits for CQDaemon's report before CV cancels it (spec §5.6)."""

_NEVER_CANCELLED: Final = frozenset({Status.SUBMITTING, Status.WAITING_FOR_SUBMISSION})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FrozenCL:
    """What a Run froze of one of its CLs when it was created."""

    cl_id: int
    host: str
    change: int
    project: str
    patchset: int
    ref: str
    trigger: Trigger

    @property
    def name(self) -> str:
        return f"{self.host}/{self.change}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CLState:
    """A CL as just fetched: patch set, ref, matching config group and trigger."""

    patchset: int
    ref: str
    config_group: str | None
    """Name of the first matching config group; None if none matches."""
    trigger: Trigger | None


class RunAction(enum.Enum):
    """What to do with a Run after looking at its CLs."""

    NONE = "none"
    """Leave it as it is."""
    CANCEL = "cancel"
    """End it CANCELLED now (CV in charge)."""
    DELAY_CANCEL = "delay_cancel"
    """Set `delay_cancel_until` and wait for CQDaemon's report (CQDaemon in charge)."""


def _trigger_change(old: Trigger, new: Trigger | None, name: str) -> str | None:
    if new is None:
        return f"the trigger on {name} has been removed"
    if new.mode != old.mode:
        return f"the triggering vote on {name} has requested a different run mode: {new.mode}"
    if new.time != old.time:
        return (
            f"the timestamp of the triggering vote on {name} has changed from "
            f"{old.time.isoformat()} to {new.time.isoformat()}"
        )
    if new.gerrit_account_id != old.gerrit_account_id:
        # CV only compared mode and time; another account at the very same instant is rare,
        # but it is another attempt (the account is part of the attempt key, spec §3.4).
        return (
            f"the triggering vote on {name} is now by account {new.gerrit_account_id}"
            f" instead of {old.gerrit_account_id}"
        )
    return None


def cancel_reason(frozen: FrozenCL, current: CLState, run_config_group: str) -> str | None:
    """Why the Run must be cancelled given the CL's new state, or None (spec §5.6).

    Checked in CV's order: patch set, ref, config group, then the trigger.
    """
    name = frozen.name
    if current.patchset != frozen.patchset:
        return f"the patchset of {name} has changed from {frozen.patchset} to {current.patchset}"
    if current.ref != frozen.ref:
        return f"the ref of {name} has moved from {frozen.ref} to {current.ref}"
    if current.config_group != run_config_group:
        return f"{name} no longer belongs to config group {run_config_group}"
    return _trigger_change(frozen.trigger, current.trigger, name)


def decide_run_action(
    run: Run, reason: str | None, *, in_charge: InCharge, verified: bool
) -> RunAction:
    """The action for `run` given a cancel `reason` (None: its CLs are fine).

    `verified`: CQDaemon has reported the Run verified, so the run manager owns its end.
    """
    if reason is None or run.is_ended or run.status in _NEVER_CANCELLED or verified:
        return RunAction.NONE
    if in_charge == "cv":
        return RunAction.CANCEL
    if run.delay_cancel_until is not None:
        return RunAction.NONE  # already waiting for CQDaemon; the sweep ends it
    return RunAction.DELAY_CANCEL


def is_delayed_cancel_due(run: Run, now: datetime) -> bool:
    """Whether the fail-safe sweep must now end `run` (its 20 minutes are over)."""
    return (
        not run.is_ended
        and run.status not in _NEVER_CANCELLED
        and run.delay_cancel_until is not None
        and run.delay_cancel_until <= now
    )
