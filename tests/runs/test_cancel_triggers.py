"""Which votes a trigger cancellation removes, and in which order (spec §5.4), no sockets."""

from __future__ import annotations

from datetime import UTC, datetime

from cvmigrate.changelist.trigger import Trigger
from cvmigrate.proto import gerrit
from cvmigrate.runs.cancel_triggers import plan_vote_removal

T = datetime(2026, 11, 1, 12, tzinfo=UTC)


def votes(label: str, *pairs: tuple[int, int]) -> dict[str, gerrit.LabelInfo]:
    return {
        label: gerrit.LabelInfo(
            all=[
                gerrit.ApprovalInfo(user=gerrit.AccountInfo(account_id=a), value=v, date=T)
                for a, v in pairs
            ]
        )
    }


def trigger(account: int, additional_label: str = "") -> Trigger:
    return Trigger(
        time=T, mode="DRY_RUN", gerrit_account_id=account, additional_label=additional_label
    )


def test_other_voters_ascending_trigger_last_zero_votes_skipped():
    info = gerrit.ChangeInfo(labels=votes("Commit-Queue", (30, 1), (10, 2), (20, 0), (5, 1)))
    plan = plan_vote_removal(info, trigger(10))
    assert plan.others == (5, 30)
    assert plan.trigger_has_vote
    assert plan.voters == (5, 10, 30)
    assert plan.votes == {5: {"Commit-Queue": 0}, 10: {"Commit-Queue": 0}, 30: {"Commit-Queue": 0}}


def test_additional_label_only_with_the_trigger_and_merged_per_account():
    labels = {**votes("Commit-Queue", (10, 1)), **votes("Quick-Run", (10, 1), (20, 1))}
    plan = plan_vote_removal(gerrit.ChangeInfo(labels=labels), trigger(10, "Quick-Run"))
    assert plan.votes == {10: {"Commit-Queue": 0, "Quick-Run": 0}, 20: {"Quick-Run": 0}}
    # Without an additional label on the trigger, other labels are never touched.
    assert plan_vote_removal(gerrit.ChangeInfo(labels=labels), trigger(10)).votes == {
        10: {"Commit-Queue": 0}
    }


def test_no_votes_left():
    plan = plan_vote_removal(gerrit.ChangeInfo(), trigger(10))
    assert (plan.votes, plan.others, plan.trigger_has_vote, plan.voters) == ({}, (), False, ())
