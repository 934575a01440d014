"""Trigger computation from a change's Commit-Queue votes (spec §3.2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from cvmigrate.changelist.botdata import Action, BotData, ChangeID, format_bot_data
from cvmigrate.changelist.trigger import CQ_LABEL, AdditionalMode, Trigger, find_trigger
from cvmigrate.proto import gerrit

T0 = datetime(2020, 2, 2, 10, 30, tzinfo=UTC)
REV = "rev-000033-001"
QUICK = AdditionalMode(
    name="QUICK_DRY_RUN", cq_label_value=1, triggering_label="Quick-Run", triggering_value=1
)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def vote(
    value: int, at: datetime | None, account: int = 1, email: str | None = None
) -> gerrit.ApprovalInfo:
    user = gerrit.AccountInfo(
        account_id=account, email=f"user-{account}@example.com" if email is None else email
    )
    return gerrit.ApprovalInfo(user=user, value=value, date=at)


def change(
    *cq_votes: gerrit.ApprovalInfo,
    status: gerrit.ChangeStatus = gerrit.ChangeStatus.NEW,
    revision_created: datetime | None = T0 - timedelta(days=1),
    other_labels: dict[str, list[gerrit.ApprovalInfo]] | None = None,
    messages: Sequence[str] = (),
) -> gerrit.ChangeInfo:
    labels = {CQ_LABEL: gerrit.LabelInfo(all=list(cq_votes))}
    for name, votes in (other_labels or {}).items():
        labels[name] = gerrit.LabelInfo(all=votes)
    return gerrit.ChangeInfo(
        number=33,
        project="infra/infra",
        status=status,
        current_revision=REV,
        revisions={REV: gerrit.RevisionInfo(number=1, created=revision_created)},
        labels=labels,
        messages=[
            gerrit.ChangeMessageInfo(id=str(i), message=m, date=T0) for i, m in enumerate(messages)
        ],
    )


def cancel_message(
    triggered_at: datetime, revision: str = REV, action: Action = Action.CANCEL
) -> str:
    bot_data = BotData(
        action=action,
        triggered_at=triggered_at,
        revision=revision,
        cls=(ChangeID(host="g-review", number=33),),
    )
    return "CV failed to unset the Commit-Queue label.\n\n" + format_bot_data(bot_data)


def test_single_plus_one_is_dry_run_by_the_voter() -> None:
    assert find_trigger(change(vote(1, T0, account=7))) == Trigger(
        time=T0,
        mode="DRY_RUN",
        additional_label="",
        email="user-7@example.com",
        gerrit_account_id=7,
    )


def test_plus_two_is_full_run() -> None:
    trigger = find_trigger(change(vote(2, T0)))
    assert trigger is not None
    assert trigger.mode == "FULL_RUN"


@pytest.mark.parametrize(
    "status",
    [
        gerrit.ChangeStatus.MERGED,
        gerrit.ChangeStatus.ABANDONED,
        gerrit.ChangeStatus.CHANGE_STATUS_INVALID,
    ],
)
def test_only_new_changes_are_triggered(status: gerrit.ChangeStatus) -> None:
    assert find_trigger(change(vote(2, T0), status=status)) is None


def test_no_commit_queue_label_is_not_triggered() -> None:
    info = change(vote(1, T0))
    del info.labels[CQ_LABEL]
    assert find_trigger(info) is None


def test_zero_and_negative_votes_do_not_trigger() -> None:
    assert find_trigger(change(vote(0, T0, 1), vote(-1, T0, 2))) is None


def test_votes_above_two_clamp_to_full_run() -> None:
    trigger = find_trigger(change(vote(3, T0)))
    assert trigger is not None
    assert trigger.mode == "FULL_RUN"


def test_highest_value_wins_even_if_newer() -> None:
    trigger = find_trigger(change(vote(1, minutes(0), 1), vote(2, minutes(5), 2)))
    assert trigger is not None
    assert (trigger.mode, trigger.gerrit_account_id, trigger.time) == ("FULL_RUN", 2, minutes(5))


def test_earliest_among_equal_values_wins() -> None:
    trigger = find_trigger(
        change(vote(1, minutes(5), 1), vote(1, minutes(2), 2), vote(1, minutes(9), 3))
    )
    assert trigger is not None
    assert (trigger.gerrit_account_id, trigger.time) == (2, minutes(2))


def test_clamped_votes_compete_on_time_with_plus_two() -> None:
    trigger = find_trigger(change(vote(2, minutes(5), 1), vote(3, minutes(1), 2)))
    assert trigger is not None
    assert (trigger.mode, trigger.gerrit_account_id) == ("FULL_RUN", 2)


def test_equal_dates_keep_the_first_vote_listed() -> None:
    trigger = find_trigger(change(vote(1, T0, 4), vote(1, T0, 3)))
    assert trigger is not None
    assert trigger.gerrit_account_id == 4


def test_missing_email_is_empty_and_missing_user_is_account_zero() -> None:
    trigger = find_trigger(change(vote(1, T0, 5, email="")))
    assert trigger is not None
    assert trigger.email == ""
    no_user = gerrit.ApprovalInfo(value=1, date=T0)
    trigger = find_trigger(change(no_user))
    assert trigger is not None
    assert (trigger.email, trigger.gerrit_account_id) == ("", 0)


def test_undated_vote_counts_as_unix_epoch() -> None:
    trigger = find_trigger(change(vote(1, None), revision_created=None))
    assert trigger is not None
    assert trigger.time == datetime(1970, 1, 1, tzinfo=UTC)


def test_votes_at_or_before_cancel_are_ignored() -> None:
    info = change(
        vote(2, minutes(0), 1),
        vote(2, minutes(1), 2),
        vote(1, minutes(3), 3),
        messages=[cancel_message(minutes(1))],
    )
    trigger = find_trigger(info)
    assert trigger is not None
    assert (trigger.mode, trigger.gerrit_account_id) == ("DRY_RUN", 3)


def test_all_votes_cancelled_means_no_trigger() -> None:
    info = change(vote(1, minutes(0)), messages=[cancel_message(minutes(0))])
    assert find_trigger(info) is None


def test_latest_cancel_for_current_revision_counts() -> None:
    info = change(
        vote(1, minutes(2), 1),
        vote(1, minutes(4), 2),
        messages=[cancel_message(minutes(3)), cancel_message(minutes(1))],
    )
    trigger = find_trigger(info)
    assert trigger is not None
    assert trigger.gerrit_account_id == 2


def test_cancel_time_compares_to_the_microsecond() -> None:
    info = change(
        vote(1, minutes(1) + timedelta(microseconds=1)),
        messages=[cancel_message(minutes(1))],
    )
    assert find_trigger(info) is not None


@pytest.mark.parametrize(
    "message",
    [
        cancel_message(minutes(5), revision="other-revision"),
        cancel_message(minutes(5), action=Action.START),
        "Bot data: not json",
        "A plain comment mentioning cancel at 2020-02-02T10:35:00Z",
    ],
    ids=["other-revision", "start-action", "invalid-bot-data", "no-bot-data"],
)
def test_messages_that_are_not_cancels_of_current_revision_do_not_count(message: str) -> None:
    info = change(vote(1, minutes(1)), messages=[message])
    assert find_trigger(info) is not None


def test_additional_mode_applies_for_same_user_value_and_instant() -> None:
    info = change(
        vote(1, minutes(1), 1),
        other_labels={"Quick-Run": [vote(1, minutes(1), 1)]},
    )
    trigger = find_trigger(info, [QUICK])
    assert trigger is not None
    assert (trigger.mode, trigger.additional_label) == ("QUICK_DRY_RUN", "Quick-Run")
    assert (trigger.gerrit_account_id, trigger.time) == (1, minutes(1))


@pytest.mark.parametrize(
    ("cq_value", "extra_vote"),
    [
        (1, vote(1, minutes(1), 2)),  # another user
        (1, vote(1, minutes(2), 1)),  # another instant
        (1, vote(2, minutes(1), 1)),  # another value
        (2, vote(1, minutes(1), 1)),  # CQ+2 is not the mode's cq_label_value
    ],
    ids=["other-user", "other-time", "other-value", "other-cq-value"],
)
def test_additional_mode_does_not_apply_unless_all_match(
    cq_value: int, extra_vote: gerrit.ApprovalInfo
) -> None:
    info = change(vote(cq_value, minutes(1), 1), other_labels={"Quick-Run": [extra_vote]})
    trigger = find_trigger(info, [QUICK])
    assert trigger is not None
    assert trigger.mode == ("DRY_RUN" if cq_value == 1 else "FULL_RUN")
    assert trigger.additional_label == ""


def test_additional_mode_without_its_label_does_not_apply() -> None:
    trigger = find_trigger(change(vote(1, minutes(1), 1)), [QUICK])
    assert trigger is not None
    assert trigger.mode == "DRY_RUN"


def test_additional_mode_matches_clamped_cq_value() -> None:
    full_quick = AdditionalMode(
        name="FULL_QUICK", cq_label_value=2, triggering_label="Quick-Run", triggering_value=1
    )
    info = change(vote(3, minutes(1), 1), other_labels={"Quick-Run": [vote(1, minutes(1), 1)]})
    trigger = find_trigger(info, [full_quick])
    assert trigger is not None
    assert trigger.mode == "FULL_QUICK"


def test_first_matching_additional_mode_wins() -> None:
    first = AdditionalMode(
        name="FIRST", cq_label_value=1, triggering_label="Quick-Run", triggering_value=1
    )
    second = AdditionalMode(
        name="SECOND", cq_label_value=1, triggering_label="Other", triggering_value=1
    )
    info = change(
        vote(1, minutes(1), 1),
        other_labels={"Quick-Run": [vote(1, minutes(1), 1)], "Other": [vote(1, minutes(1), 1)]},
    )
    assert find_trigger(info, [first, second]) == find_trigger(info, [first])
    trigger = find_trigger(info, [second, first])
    assert trigger is not None
    assert (trigger.mode, trigger.additional_label) == ("SECOND", "Other")


def test_non_matching_mode_is_skipped_for_a_later_match() -> None:
    never = AdditionalMode(
        name="NEVER", cq_label_value=2, triggering_label="Quick-Run", triggering_value=1
    )
    info = change(vote(1, minutes(1), 1), other_labels={"Quick-Run": [vote(1, minutes(1), 1)]})
    trigger = find_trigger(info, [never, QUICK])
    assert trigger is not None
    assert trigger.mode == "QUICK_DRY_RUN"


def test_trigger_time_is_current_revision_creation_if_later() -> None:
    info = change(vote(1, minutes(1)), revision_created=minutes(10))
    trigger = find_trigger(info)
    assert trigger is not None
    assert trigger.time == minutes(10)


def test_trigger_time_is_vote_time_if_revision_is_older() -> None:
    info = change(vote(1, minutes(10)), revision_created=minutes(1))
    trigger = find_trigger(info)
    assert trigger is not None
    assert trigger.time == minutes(10)


def test_additional_mode_matches_vote_time_not_revision_time() -> None:
    info = change(
        vote(1, minutes(1), 1),
        revision_created=minutes(10),
        other_labels={"Quick-Run": [vote(1, minutes(1), 1)]},
    )
    trigger = find_trigger(info, [QUICK])
    assert trigger is not None
    assert (trigger.mode, trigger.time) == ("QUICK_DRY_RUN", minutes(10))


def test_missing_current_revision_keeps_vote_time() -> None:
    info = change(vote(1, minutes(1)))
    info.revisions = {}
    trigger = find_trigger(info)
    assert trigger is not None
    assert trigger.time == minutes(1)
