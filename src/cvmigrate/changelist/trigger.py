"""Triggers: whether and how a Gerrit change asks CV for a Run (spec §3.2).

A change is triggered by a positive vote on the `Commit-Queue` label while it is open:

1. Only changes with status NEW; look at every vote in `labels["Commit-Queue"].all`.
2. Ignore votes <= 0, and votes dated at or before the latest `triggered_at` of a "cancel"
   bot-data message (§5.4) for the current revision: those are votes CV could not remove
   after cancelling a Run, and must not start another.
3. The highest value wins, clamped to 2 (for CQDaemon compatibility); among votes of that
   value the earliest is the trigger: its user and date. +1 is DRY_RUN, +2 FULL_RUN.
4. Additional modes from the config group, first match wins: a mode applies when its
   `cq_label_value` equals the trigger's CQ value and the triggering user voted
   `triggering_value` on `triggering_label` at exactly the trigger's date; the mode becomes
   the additional mode's name and `additional_label` that label.
5. The trigger time is the later of the vote date and the creation time of the current
   revision: Gerrit may copy CQ votes to a new patchset, and then this attempt only
   started when the patchset was uploaded.

A vote or revision without a date counts as dated at the Unix epoch, as in CV (a nil
protobuf Timestamp reads as 1970-01-01).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from cvmigrate.changelist.botdata import Action, parse_bot_data
from cvmigrate.proto import gerrit
from cvmigrate.runs.mode import Mode

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CQ_LABEL", "AdditionalMode", "Trigger", "find_trigger"]

CQ_LABEL: Final[str] = "Commit-Queue"
"""The Gerrit label whose votes trigger Runs; exactly this spelling."""

_MAX_CQ_VOTE: Final = 2
_MODE_BY_CQ_VOTE: Final[dict[int, Mode]] = {1: Mode.DRY_RUN, 2: Mode.FULL_RUN}
_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdditionalMode:
    """A config group's additional mode, e.g. QUICK_DRY_RUN (CV's `cfgpb.Mode`).

    Applies to a CQ vote of `cq_label_value` when the same user voted `triggering_value`
    on `triggering_label` at the same instant.
    """

    name: str
    cq_label_value: int
    triggering_label: str
    triggering_value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """What triggered a change: when, in which mode, and by whom.

    `mode` is a mode string (`DRY_RUN`, `FULL_RUN` or an additional mode's name);
    `additional_label` is the additional mode's label, empty for plain CQ votes;
    `email` may be empty when Gerrit did not report it.
    """

    time: datetime
    mode: str
    additional_label: str = ""
    email: str = ""
    gerrit_account_id: int


def _date(value: datetime | None) -> datetime:
    return _UNIX_EPOCH if value is None else value


def _latest_cancel(info: gerrit.ChangeInfo) -> datetime | None:
    """The latest `triggered_at` among "cancel" bot data for the current revision."""
    latest: datetime | None = None
    for message in info.messages:
        bot_data = parse_bot_data(message.message)
        if (
            bot_data is not None
            and bot_data.action is Action.CANCEL
            and bot_data.revision == info.current_revision
            and (latest is None or bot_data.triggered_at > latest)
        ):
            latest = bot_data.triggered_at
    return latest


def _votes(info: gerrit.ChangeInfo, label: str) -> Iterator[gerrit.ApprovalInfo]:
    label_info = info.labels.get(label)
    if label_info is not None:
        yield from label_info.all


def _account_id(vote: gerrit.ApprovalInfo) -> int:
    return vote.user.account_id if vote.user is not None else 0


def _find_cq_vote(info: gerrit.ChangeInfo) -> tuple[gerrit.ApprovalInfo, int] | None:
    """The triggering CQ vote and its clamped value, per rules 2 and 3."""
    cancelled_at = _latest_cancel(info)
    best: gerrit.ApprovalInfo | None = None
    best_value = 0
    for vote in _votes(info, CQ_LABEL):
        if vote.value <= 0:
            continue
        value = min(vote.value, _MAX_CQ_VOTE)
        date = _date(vote.date)
        if cancelled_at is not None and date <= cancelled_at:
            continue
        if best is None or value > best_value:
            best, best_value = vote, value
        elif value == best_value and date < _date(best.date):
            # Strictly earlier only: on equal dates the first vote listed stays.
            best = vote
    return None if best is None else (best, best_value)


def _additional_mode(
    info: gerrit.ChangeInfo,
    modes: Sequence[AdditionalMode],
    cq_value: int,
    account_id: int,
    voted_at: datetime,
) -> AdditionalMode | None:
    """The first additional mode that applies to the triggering vote (rule 4)."""
    for mode in modes:
        if mode.triggering_label not in info.labels or mode.cq_label_value != cq_value:
            continue
        for vote in _votes(info, mode.triggering_label):
            if (
                vote.value == mode.triggering_value
                and _account_id(vote) == account_id
                and _date(vote.date) == voted_at
            ):
                return mode
    return None


def find_trigger(
    info: gerrit.ChangeInfo, additional_modes: Sequence[AdditionalMode] = ()
) -> Trigger | None:
    """Return the CQ trigger of a change, or None if it is not triggered (spec §3.2).

    `info` needs `status`, `current_revision`, `revisions` (for the current revision's
    `created`), `labels` with DETAILED_LABELS votes and `messages`; `additional_modes`
    are the config group's, in config order.
    """
    if info.status != gerrit.ChangeStatus.NEW:
        return None
    found = _find_cq_vote(info)
    if found is None:
        return None
    vote, cq_value = found
    account_id = _account_id(vote)
    voted_at = _date(vote.date)

    mode_name: str = _MODE_BY_CQ_VOTE[cq_value].value
    additional_label = ""
    additional = _additional_mode(info, additional_modes, cq_value, account_id, voted_at)
    if additional is not None:
        mode_name, additional_label = additional.name, additional.triggering_label

    time = voted_at
    revision = info.revisions.get(info.current_revision)
    if revision is not None and revision.created is not None and revision.created > time:
        time = revision.created

    return Trigger(
        time=time,
        mode=mode_name,
        additional_label=additional_label,
        email=vote.user.email if vote.user is not None else "",
        gerrit_account_id=account_id,
    )
