"""The fake's two mutations, Set Review and Submit, with Gerrit's checks, codes and texts.

Order and messages follow Gerrit's PostReview/Submit (spec/gerrit.md §2.2-§2.4).
"""

from __future__ import annotations

from typing import Any

from .entities import Change, HttpError, PatchSet, Vote, format_vote
from .state import GerritState

__all__ = ["NOTIFY_VALUES", "post_review", "submit"]

NOTIFY_VALUES = frozenset({"NONE", "OWNER", "OWNER_REVIEWERS", "ALL"})
_RECIPIENT_TYPES = frozenset({"TO", "CC", "BCC"})


def _check_review_input(body: Any) -> None:
    if not isinstance(body, dict):
        raise HttpError(400, "Expected JSON object")
    labels = body.get("labels")
    if labels is not None and (
        not isinstance(labels, dict)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels.values())
    ):
        raise HttpError(400, "Invalid labels")
    for key in ("message", "tag"):
        if key in body and not isinstance(body[key], str):
            raise HttpError(400, f"Invalid {key}")
    if "notify" in body and body["notify"] not in NOTIFY_VALUES:
        raise HttpError(400, f"Invalid notify: {body['notify']}")
    details = body.get("notify_details")
    if details is not None:
        if not isinstance(details, dict) or not set(details) <= _RECIPIENT_TYPES:
            raise HttpError(400, "Invalid notify_details")
        for info in details.values():
            if not isinstance(info, dict) or not all(
                isinstance(a, int | str) for a in info.get("accounts") or []
            ):
                raise HttpError(400, "Invalid notify_details")


def _resolve_on_behalf_of(
    state: GerritState, change: Change, caller: int, body: dict[str, Any]
) -> int:
    on_behalf_of = body["on_behalf_of"]
    labels: dict[str, int] = body.get("labels") or {}
    if not labels:
        raise HttpError(403, f'label required to post review on behalf of "{on_behalf_of}"')
    for name in labels:
        if name not in state.labels:
            raise HttpError(400, f'label "{name}" is not a configured label')
        if name not in state.permissions_of(caller).label_as:
            raise HttpError(
                403, f'not permitted to modify label "{name}" on behalf of "{on_behalf_of}"'
            )
    account = state.find_account(on_behalf_of)
    if account is None:
        raise HttpError(422, f"Account '{on_behalf_of}' not found")
    if not state.can_read(account.account_id, change):
        raise HttpError(422, f"on_behalf_of account {account.account_id} cannot see change")
    return account.account_id


def _check_labels(state: GerritState, voter: int, labels: dict[str, int]) -> None:
    for name, value in labels.items():
        label = state.labels.get(name)
        if label is None:
            raise HttpError(400, f'label "{name}" is not a configured label')
        if value == 0:
            continue  # always permitted, even outside the range
        if value not in label.values:
            raise HttpError(400, f'label "{name}": {value} is not a valid value')
        if not state.permissions_of(voter).vote:
            raise HttpError(403, f'Applying label "{name}": {value} is restricted')


def _check_closed(state: GerritState, change: Change, deltas: dict[str, tuple[int, int]]) -> None:
    if change.status == "NEW" or not deltas:
        return
    if change.status != "MERGED":
        raise HttpError(409, "change is closed")
    disallowed = sorted(n for n in deltas if not state.labels[n].allow_post_submit)
    if disallowed:
        raise HttpError(409, "Voting on labels disallowed after submit: " + ", ".join(disallowed))
    reduced = sorted(n for n, (old, new) in deltas.items() if new < old)
    if reduced:
        raise HttpError(
            409, "Cannot reduce vote on labels for closed change: " + ", ".join(reduced)
        )


def post_review(
    state: GerritState, change: Change, patchset: PatchSet, caller: int | None, body: Any
) -> dict[str, Any]:
    """Apply a ReviewInput; returns the ReviewResult JSON."""
    if caller is None:
        raise HttpError(403, "Authentication required")
    _check_review_input(body)
    labels: dict[str, int] = dict(body.get("labels") or {})
    voter = caller
    if body.get("on_behalf_of") is not None:
        voter = _resolve_on_behalf_of(state, change, caller, body)
    _check_labels(state, voter, labels)
    message_text: str = (body.get("message") or "").strip()
    if len(message_text.encode()) > state.comment_size_limit:
        raise HttpError(
            400,
            f"Comment size exceeds limit ({len(message_text.encode())} > "
            f"{state.comment_size_limit})",
        )
    votes = {name: patchset.votes.setdefault(name, {}) for name in labels}
    deltas: dict[str, tuple[int, int]] = {}  # label → (old value, new value), changes only
    for name, value in labels.items():
        old = votes[name].get(voter)
        old_value = old.value if old else 0
        if old_value != value:
            deltas[name] = (old_value, value)
    _check_closed(state, change, deltas)
    if not deltas and not message_text:
        return {"labels": labels} if labels else {}
    now = state.now()
    tag = body.get("tag") or ""
    for name, (_, value) in deltas.items():
        if value == 0:
            votes[name].pop(voter, None)
        else:
            real = caller if caller != voter else None
            votes[name][voter] = Vote(voter, value, now, tag, real_account_id=real)
    if labels:
        change.reviewers.add(voter)
    summary = " ".join(format_vote(name, new) for name, (_, new) in sorted(deltas.items()))
    text = f"Patch Set {patchset.number}:" + (f" {summary}" if summary else "")
    if message_text:
        text += "\n\n" + message_text
    message = state.add_message(
        change.number,
        text,
        author=voter,
        real_author=caller if caller != voter else None,
        tag=tag,
        date=now,
    )
    message.revision_number = patchset.number
    message.notify = body.get("notify")
    message.notify_details = body.get("notify_details")
    return {"labels": labels} if labels else {}


def _unmerged_ancestors(state: GerritState, change: Change) -> list[Change]:
    """Open changes the current patch set builds on, oldest first; 409 if one is outdated."""
    chain: list[Change] = []
    frontier = list(change.current.parents)
    seen: set[str] = set()
    while frontier:
        sha = frontier.pop(0)
        if sha in seen:
            continue
        seen.add(sha)
        hit = state.patchset_by_sha(change.project, sha)
        if hit is None or hit[0].status == "MERGED":
            continue
        parent_change, parent_ps = hit
        if parent_change.status != "NEW" or parent_ps is not parent_change.current:
            raise HttpError(409, "Depends on change that was not submitted.")
        if parent_change.submit_block is not None:
            raise HttpError(409, f"Change {parent_change.number}: {parent_change.submit_block}")
        chain.append(parent_change)
        frontier.extend(parent_ps.parents)
    return list(reversed(chain))


def submit(state: GerritState, change: Change, patchset: PatchSet, caller: int | None) -> None:
    """Merge `change` (and its unmerged ancestors) or raise the HttpError Gerrit would."""
    if caller is None:
        raise HttpError(403, "Authentication required")
    if not state.permissions_of(caller).submit:
        raise HttpError(403, "submit not permitted")
    if change.status != "NEW":
        raise HttpError(409, f"change is {change.status.lower()}")
    if patchset is not change.current:
        raise HttpError(409, f"revision {patchset.revision} is not current revision")
    if change.submit_block is not None:
        raise HttpError(409, change.submit_block)
    for merged in [*_unmerged_ancestors(state, change), change]:
        now = state.now()
        merged.status = "MERGED"
        merged.submitted = now
        merged.submitter = caller
        state.add_message(
            merged.number,
            "Change has been successfully merged",
            author=caller,
            tag="autogenerated:gerrit:merged",
            date=now,
        )
