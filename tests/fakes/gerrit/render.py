"""Render the fake's state as Gerrit REST JSON, honouring `o=` options like Gerrit does."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import quote

from cvmigrate.gerrit.convert import format_gerrit_timestamp

from .entities import Change, FileSpec, HttpError, LabelType, PatchSet
from .state import GerritState

__all__ = [
    "KNOWN_OPTIONS",
    "check_options",
    "render_change",
    "render_files",
    "render_related",
]

# ListChangesOption names Gerrit accepts; anything else is a 400.
KNOWN_OPTIONS = frozenset(
    {
        "LABELS", "DETAILED_LABELS", "CURRENT_REVISION", "ALL_REVISIONS", "CURRENT_COMMIT",
        "ALL_COMMITS", "CURRENT_FILES", "ALL_FILES", "DETAILED_ACCOUNTS", "REVIEWER_UPDATES",
        "MESSAGES", "CURRENT_ACTIONS", "CHANGE_ACTIONS", "REVIEWED", "SKIP_MERGEABLE",
        "SUBMITTABLE", "WEB_LINKS", "CHECK", "COMMIT_FOOTERS", "PUSH_CERTIFICATES",
        "TRACKING_IDS", "DOWNLOAD_COMMANDS", "SUBMIT_REQUIREMENTS", "SKIP_DIFFSTAT",
        "CUSTOM_KEYED_VALUES", "STAR", "PARENTS",
    }
)  # fmt: skip


def check_options(options: Collection[str]) -> None:
    for option in options:
        if option not in KNOWN_OPTIONS:
            raise HttpError(400, f'"{option}" is not a valid value for "-o"')


def _ts(value: Any) -> str:
    return format_gerrit_timestamp(value)


def _account(state: GerritState, account_id: int, options: Collection[str]) -> dict[str, Any]:
    info: dict[str, Any] = {"_account_id": account_id}
    account = state.accounts.get(account_id)
    if account is not None and "DETAILED_ACCOUNTS" in options:
        info.update(name=account.name, email=account.email, username=account.username)
        if account.secondary_emails:
            info["secondary_emails"] = list(account.secondary_emails)
    return info


def _label_values(label: LabelType) -> dict[str, str]:
    # Gerrit spells the keys "-1", " 0", "+1".
    return {(" 0" if v == 0 else f"{v:+d}"): text for v, text in sorted(label.values.items())}


def _label(
    state: GerritState, change: Change, label: LabelType, options: Collection[str]
) -> dict[str, Any]:
    votes = change.current.votes.get(label.name, {})
    info: dict[str, Any] = {}
    for vote in votes.values():
        if vote.value == label.max and "approved" not in info:
            info["approved"] = _account(state, vote.account_id, options)
        elif vote.value == label.min and label.min < 0 and "rejected" not in info:
            info["rejected"] = _account(state, vote.account_id, options)
            info["blocking"] = True
        elif 0 < vote.value < label.max and "recommended" not in info:
            info["recommended"] = _account(state, vote.account_id, options)
            info["value"] = vote.value
        elif label.min < vote.value < 0 and "disliked" not in info:
            info["disliked"] = _account(state, vote.account_id, options)
            info["value"] = vote.value
    if "DETAILED_LABELS" in options:
        entries = []
        # Like Gerrit, `all` lists every reviewer, with value 0 when they have not voted and
        # no value at all when they may not vote on the label.
        for account_id in sorted(change.reviewers | set(votes)):
            entry = _account(state, account_id, options)
            vote = votes.get(account_id)
            if state.permissions_of(account_id).vote or vote is not None:
                entry["value"] = vote.value if vote else 0
                entry["permitted_voting_range"] = {"min": label.min, "max": label.max}
            if vote is not None:
                entry["date"] = _ts(vote.date)
                if vote.tag:
                    entry["tag"] = vote.tag
            entries.append(entry)
        info["all"] = entries
        info["values"] = _label_values(label)
        info["default_value"] = 0
    return info


def _commit(change: Change, patchset: PatchSet) -> dict[str, Any]:
    subject = patchset.commit_message.split("\n", 1)[0]
    person = {"name": "Author", "email": "author@example.com", "date": _ts(patchset.created),
              "tz": 0}  # fmt: skip
    return {
        "parents": [{"commit": sha, "subject": "Parent commit"} for sha in patchset.parents],
        "author": person,
        "committer": person,
        "subject": subject,
        "message": patchset.commit_message,
    }


def _file(spec: FileSpec) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if spec.status != "M":
        info["status"] = spec.status
    if spec.binary:
        info["binary"] = True
    if spec.old_path:
        info["old_path"] = spec.old_path
    if spec.lines_inserted:
        info["lines_inserted"] = spec.lines_inserted
    if spec.lines_deleted:
        info["lines_deleted"] = spec.lines_deleted
    info["size_delta"] = spec.size_delta
    info["size"] = spec.size
    return info


def _revision(
    state: GerritState, change: Change, patchset: PatchSet, options: Collection[str]
) -> dict[str, Any]:
    is_current = patchset is change.current
    info: dict[str, Any] = {
        "kind": patchset.kind,
        "_number": patchset.number,
        "created": _ts(patchset.created),
        "uploader": _account(state, patchset.uploader, options),
        "ref": f"refs/changes/{change.number % 100:02d}/{change.number}/{patchset.number}",
        "fetch": {},
    }
    if patchset.description:
        info["description"] = patchset.description
    if "ALL_COMMITS" in options or ("CURRENT_COMMIT" in options and is_current):
        info["commit"] = _commit(change, patchset)
    if "ALL_FILES" in options or ("CURRENT_FILES" in options and is_current):
        info["files"] = {path: _file(spec) for path, spec in sorted(patchset.files.items())}
    return info


def render_change(state: GerritState, change: Change, options: Collection[str]) -> dict[str, Any]:
    """ChangeInfo JSON with only what `options` ask for (spec/gerrit.md §2.1)."""
    current = change.current
    info: dict[str, Any] = {
        "id": f"{quote(change.project, safe='')}~{change.number}",
        "triplet_id": f"{quote(change.project, safe='')}~{change.branch}~{change.change_id}",
        "project": change.project,
        "branch": change.branch,
        "change_id": change.change_id,
        "subject": current.commit_message.split("\n", 1)[0],
        "status": change.status,
        "created": _ts(change.created),
        "updated": _ts(change.updated),
        "insertions": sum(f.lines_inserted for f in current.files.values()),
        "deletions": sum(f.lines_deleted for f in current.files.values()),
        "meta_rev_id": change.meta_rev_id,
        "_number": change.number,
        "owner": _account(state, change.owner, options),
        "current_revision_number": current.number,
    }
    if change.is_private:
        info["is_private"] = True
    if change.revert_of:
        info["revert_of"] = change.revert_of
    if change.cherry_pick_of_change:
        info["cherry_pick_of_change"] = change.cherry_pick_of_change
    if change.submitted is not None:
        info["submitted"] = _ts(change.submitted)
        if change.submitter is not None:
            info["submitter"] = _account(state, change.submitter, options)
    if "SUBMITTABLE" in options:
        info["submittable"] = change.status == "NEW" and change.submit_block is None
    if "LABELS" in options or "DETAILED_LABELS" in options:
        info["labels"] = {
            name: _label(state, change, label, options) for name, label in state.labels.items()
        }
    if "MESSAGES" in options:
        info["messages"] = [_message(state, change, m, options) for m in change.messages]
    if "ALL_REVISIONS" in options:
        shown = list(change.patchsets)
    elif "CURRENT_REVISION" in options:
        shown = [current]
    else:
        shown = []
    if shown:
        info["current_revision"] = current.revision
        info["revisions"] = {ps.revision: _revision(state, change, ps, options) for ps in shown}
    return info


def _message(state: GerritState, change: Change, message: Any, options: Collection[str]) -> dict:
    info: dict[str, Any] = {
        "id": message.id,
        "date": _ts(message.date),
        "message": message.message,
        "_revision_number": message.revision_number,
    }
    if message.author is not None:
        info["author"] = _account(state, message.author, options)
    if message.real_author is not None and message.real_author != message.author:
        info["real_author"] = _account(state, message.real_author, options)
    if message.tag:
        info["tag"] = message.tag
    return info


def render_files(patchset: PatchSet) -> dict[str, Any]:
    """List Files answer: the magic /COMMIT_MSG (and /MERGE_LIST for merges) plus files."""
    commit_msg_size = len(patchset.commit_message.encode()) + 200  # header lines Gerrit adds
    files: dict[str, Any] = {
        "/COMMIT_MSG": {
            "status": "A",
            "lines_inserted": patchset.commit_message.count("\n") + 6,
            "size_delta": commit_msg_size,
            "size": commit_msg_size,
        }
    }
    if len(patchset.parents) > 1:
        files["/MERGE_LIST"] = {"status": "A", "lines_inserted": 5, "size_delta": 300, "size": 300}
    files.update((path, _file(spec)) for path, spec in sorted(patchset.files.items()))
    return files


def _ancestors(
    state: GerritState, project: str, patchset: PatchSet
) -> list[tuple[Change, PatchSet]]:
    found: list[tuple[Change, PatchSet]] = []
    seen: set[str] = set()
    frontier = list(patchset.parents)
    while frontier:
        sha = frontier.pop(0)
        if sha in seen:
            continue
        seen.add(sha)
        hit = state.patchset_by_sha(project, sha)
        if hit is not None:
            found.append(hit)
            frontier.extend(hit[1].parents)
    return found


def render_related(state: GerritState, change: Change, patchset: PatchSet) -> dict[str, Any]:
    """RelatedChangesInfo: descendants (farthest first), the change, then its ancestors."""
    descendants: list[tuple[int, Change, PatchSet]] = []
    for other in state.changes.values():
        if other.project != change.project:
            continue
        for candidate in other.patchsets:
            chain = [ps.revision for _, ps in _ancestors(state, other.project, candidate)]
            if patchset.revision in chain:
                descendants.append((chain.index(patchset.revision), other, candidate))
    descendants.sort(key=lambda item: -item[0])
    ancestors = _ancestors(state, change.project, patchset)
    entries = [(c, ps) for _, c, ps in descendants] + [(change, patchset)] + ancestors
    if len(entries) == 1:
        return {"changes": []}  # nothing related: Gerrit omits the change itself too
    return {"changes": [_related_entry(c, ps) for c, ps in entries]}


def _related_entry(change: Change, patchset: PatchSet) -> dict[str, Any]:
    return {
        "project": change.project,
        "change_id": change.change_id,
        "commit": {
            "commit": patchset.revision,
            "parents": [{"commit": sha} for sha in patchset.parents],
            "author": {"name": "Author", "email": "author@example.com"},
            "subject": patchset.commit_message.split("\n", 1)[0],
        },
        "_change_number": change.number,
        "_revision_number": patchset.number,
        "_current_revision_number": change.current.number,
        "status": change.status,
    }
