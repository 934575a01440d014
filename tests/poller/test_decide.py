"""Cancellation decisions from a Run and its CL's new state (spec §5.6), without I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from cvmigrate.changelist.trigger import Trigger
from cvmigrate.poller.decide import (
    DELAYED_CANCEL,
    CLState,
    FrozenCL,
    RunAction,
    cancel_reason,
    decide_run_action,
    is_delayed_cancel_due,
)
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TRIGGER = Trigger(time=T0, mode="DRY_RUN", email="a@example.com", gerrit_account_id=7)
FROZEN = FrozenCL(
    cl_id=1,
    host="g-review",
    change=33,
    project="infra/infra",
    patchset=2,
    ref="refs/heads/main",
    trigger=TRIGGER,
)
SAME = CLState(patchset=2, ref="refs/heads/main", config_group="main", trigger=TRIGGER)
RUN = Run(
    id="chromium/9042331396854-1-0a6686c7f19a33a3",
    project="chromium",
    attempt_key="0a6686c7f19a33a3",
    mode="DRY_RUN",
    status=Status.RUNNING,
    config_group="main",
    create_time=T0,
    cl_ids=(1,),
)


def changed(**fields) -> CLState:
    return dataclasses.replace(SAME, **fields)


def test_unchanged_cl_gives_no_reason() -> None:
    assert cancel_reason(FROZEN, SAME, "main") is None


def test_same_trigger_with_another_email_is_not_a_change() -> None:
    other_email = dataclasses.replace(TRIGGER, email="")
    assert cancel_reason(FROZEN, changed(trigger=other_email), "main") is None


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        pytest.param(
            changed(patchset=3), "the patchset of g-review/33 has changed from 2 to 3", id="ps"
        ),
        pytest.param(
            changed(ref="refs/heads/dev", config_group=None),
            "the ref of g-review/33 has moved from refs/heads/main to refs/heads/dev",
            id="ref",
        ),
        pytest.param(
            changed(config_group="other"),
            "g-review/33 no longer belongs to config group main",
            id="group",
        ),
        pytest.param(
            changed(config_group=None), "no longer belongs to config group main", id="no-group"
        ),
        pytest.param(
            changed(trigger=None), "the trigger on g-review/33 has been removed", id="removed"
        ),
        pytest.param(
            changed(trigger=dataclasses.replace(TRIGGER, mode="FULL_RUN")),
            "requested a different run mode: FULL_RUN",
            id="mode",
        ),
        pytest.param(
            changed(trigger=dataclasses.replace(TRIGGER, time=T0 + timedelta(microseconds=1))),
            "the timestamp of the triggering vote on g-review/33 has changed",
            id="time",
        ),
        pytest.param(
            changed(trigger=dataclasses.replace(TRIGGER, gerrit_account_id=8)),
            "is now by account 8 instead of 7",
            id="account",
        ),
    ],
)
def test_cancel_reasons(state: CLState, reason: str) -> None:
    found = cancel_reason(FROZEN, state, "main")
    assert found is not None and reason in found


def test_patchset_is_reported_before_a_removed_trigger() -> None:
    reason = cancel_reason(FROZEN, changed(patchset=3, trigger=None), "main")
    assert reason is not None and "patchset" in reason


def action(run: Run = RUN, reason: str | None = "why", **kwargs) -> RunAction:
    kwargs.setdefault("in_charge", "cv")
    kwargs.setdefault("verified", False)
    return decide_run_action(run, reason, **kwargs)


def test_cv_in_charge_cancels_at_once() -> None:
    assert action() is RunAction.CANCEL


def test_cqdaemon_in_charge_delays_the_cancel_once() -> None:
    assert action(in_charge="cqdaemon") is RunAction.DELAY_CANCEL
    delayed = dataclasses.replace(RUN, delay_cancel_until=T0 + DELAYED_CANCEL)
    assert action(delayed, in_charge="cqdaemon") is RunAction.NONE


def test_cv_in_charge_cancels_even_a_run_waiting_for_cqdaemon() -> None:
    delayed = dataclasses.replace(RUN, delay_cancel_until=T0 + DELAYED_CANCEL)
    assert action(delayed) is RunAction.CANCEL


@pytest.mark.parametrize("in_charge", ["cv", "cqdaemon"])
@pytest.mark.parametrize(
    "status", [Status.SUBMITTING, Status.WAITING_FOR_SUBMISSION, Status.SUCCEEDED, Status.CANCELLED]
)
def test_submitting_waiting_and_ended_runs_are_never_cancelled(status, in_charge) -> None:
    assert action(dataclasses.replace(RUN, status=status), in_charge=in_charge) is RunAction.NONE


@pytest.mark.parametrize("in_charge", ["cv", "cqdaemon"])
def test_runs_reported_verified_are_left_to_the_run_manager(in_charge) -> None:
    assert action(verified=True, in_charge=in_charge) is RunAction.NONE


def test_no_reason_no_action() -> None:
    assert action(reason=None) is RunAction.NONE


def test_delayed_cancel_is_due_only_after_its_deadline() -> None:
    deadline = T0 + DELAYED_CANCEL
    delayed = dataclasses.replace(RUN, delay_cancel_until=deadline)
    assert not is_delayed_cancel_due(RUN, deadline)
    assert not is_delayed_cancel_due(delayed, deadline - timedelta(microseconds=1))
    assert is_delayed_cancel_due(delayed, deadline)
    submitting = dataclasses.replace(delayed, status=Status.SUBMITTING)
    assert not is_delayed_cancel_due(submitting, deadline + timedelta(hours=1))
