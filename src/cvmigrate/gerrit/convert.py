"""Gerrit REST JSON ↔ `gerrit` proto messages, Gerrit timestamps, and CV's snapshot trimming.

Field mapping follows luci-go `common/api/gerrit/json.go` (spec/gerrit.md §2.5, cv-migration.md
§9.3). Parsers are lenient about missing fields (Gerrit omits what options did not ask for)
and raise ValueError on malformed values, which the client reports as a bad Gerrit answer.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Mapping
from typing import Any, Final

from cvmigrate.proto import gerrit

__all__ = [
    "account_info_from_json",
    "change_info_from_json",
    "file_info_from_json",
    "files_from_json",
    "format_gerrit_timestamp",
    "notify_details_to_json",
    "parse_gerrit_timestamp",
    "related_changes_from_json",
    "review_input_from_request",
    "review_result_from_json",
    "trim_change_info",
]

Json = Mapping[str, Any]

# Gerrit: UTC "yyyy-mm-dd hh:mm:ss.fffffffff"; the fraction is nanoseconds (spec/gerrit.md §1).
_TIMESTAMP_RE: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$"
)

_CHANGE_STATUS: Final = {
    "NEW": gerrit.ChangeStatus.NEW,
    "MERGED": gerrit.ChangeStatus.MERGED,
    "ABANDONED": gerrit.ChangeStatus.ABANDONED,
}

# The proto predates TRIVIAL_REBASE_WITH_MESSAGE_UPDATE (a trivial rebase whose commit message
# also changed): the code diff is the same as the previous patch set's, so it is a trivial
# rebase for CV's purposes. Any other kind the proto does not know becomes REWORK: treating an
# unknown patch set as a real change never lets a stale vote count for new code.
_REVISION_KIND: Final = {
    "REWORK": gerrit.RevisionInfoKind.REWORK,
    "TRIVIAL_REBASE": gerrit.RevisionInfoKind.TRIVIAL_REBASE,
    "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE": gerrit.RevisionInfoKind.TRIVIAL_REBASE,
    "MERGE_FIRST_PARENT_UPDATE": gerrit.RevisionInfoKind.MERGE_FIRST_PARENT_UPDATE,
    "NO_CODE_CHANGE": gerrit.RevisionInfoKind.NO_CODE_CHANGE,
    "NO_CHANGE": gerrit.RevisionInfoKind.NO_CHANGE,
}

_FILE_STATUS: Final = {
    "M": gerrit.FileInfoStatus.M,
    "A": gerrit.FileInfoStatus.A,
    "D": gerrit.FileInfoStatus.D,
    "R": gerrit.FileInfoStatus.R,
    "C": gerrit.FileInfoStatus.C,
    "W": gerrit.FileInfoStatus.W,
}

_REQUIREMENT_STATUS: Final = {
    "OK": gerrit.RequirementStatus.REQUIREMENT_STATUS_OK,
    "NOT_READY": gerrit.RequirementStatus.REQUIREMENT_STATUS_NOT_READY,
    "RULE_ERROR": gerrit.RequirementStatus.REQUIREMENT_STATUS_RULE_ERROR,
}


def parse_gerrit_timestamp(text: str) -> datetime.datetime:
    """`"2024-05-01 12:00:00.123456789"` → aware UTC datetime (nanoseconds truncated to µs)."""
    match = _TIMESTAMP_RE.match(text)
    if match is None:
        raise ValueError(f"not a Gerrit timestamp: {text!r}")
    *parts, fraction = match.groups()
    year, month, day, hour, minute, second = (int(p) for p in parts)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime.datetime(year, month, day, hour, minute, second, micros, tzinfo=datetime.UTC)


def format_gerrit_timestamp(moment: datetime.datetime) -> str:
    """An aware datetime → Gerrit's `"yyyy-mm-dd hh:mm:ss.fffffffff"` in UTC."""
    if moment.tzinfo is None:
        raise ValueError("Gerrit timestamps need an aware datetime")
    moment = moment.astimezone(datetime.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond:06d}000"


def _timestamp(value: Any) -> datetime.datetime | None:
    return parse_gerrit_timestamp(value) if value else None


def account_info_from_json(obj: Json | None) -> gerrit.AccountInfo | None:
    """AccountInfo JSON (`_account_id`, name, email, …) → message; None stays None."""
    if obj is None:
        return None
    return gerrit.AccountInfo(
        name=obj.get("name") or "",
        email=obj.get("email") or "",
        secondary_emails=list(obj.get("secondary_emails") or ()),
        username=obj.get("username") or "",
        account_id=int(obj.get("_account_id") or 0),
    )


def _approval(obj: Json) -> gerrit.ApprovalInfo:
    voting_range = obj.get("permitted_voting_range")
    return gerrit.ApprovalInfo(
        # ApprovalInfo is an AccountInfo with extra fields, flattened in the JSON.
        user=account_info_from_json(obj),
        # `value` is absent when the account may not vote on the label: no vote.
        value=int(obj.get("value") or 0),
        permitted_voting_range=(
            gerrit.VotingRangeInfo(
                min=int(voting_range.get("min") or 0), max=int(voting_range.get("max") or 0)
            )
            if voting_range
            else None
        ),
        date=_timestamp(obj.get("date")),
        tag=obj.get("tag") or "",
        post_submit=bool(obj.get("post_submit")),
    )


def _label_values(values: Json | None) -> dict[int, str]:
    # Keys look like "-1", " 0", "+1"; a key that is not a number is skipped, as luci-go does.
    result: dict[int, str] = {}
    for key, description in (values or {}).items():
        try:
            result[int(key.strip())] = description
        except ValueError:
            continue
    return result


def _label(obj: Json) -> gerrit.LabelInfo:
    return gerrit.LabelInfo(
        optional=bool(obj.get("optional")),
        approved=account_info_from_json(obj.get("approved")),
        rejected=account_info_from_json(obj.get("rejected")),
        recommended=account_info_from_json(obj.get("recommended")),
        disliked=account_info_from_json(obj.get("disliked")),
        blocking=bool(obj.get("blocking")),
        value=int(obj.get("value") or 0),
        default_value=int(obj.get("default_value") or 0),
        all=[_approval(a) for a in obj.get("all") or ()],
        values=_label_values(obj.get("values")),
    )


def _message(obj: Json) -> gerrit.ChangeMessageInfo:
    return gerrit.ChangeMessageInfo(
        id=obj.get("id") or "",
        author=account_info_from_json(obj.get("author")),
        real_author=account_info_from_json(obj.get("real_author")),
        date=_timestamp(obj.get("date")),
        message=obj.get("message") or "",
    )


def _commit(obj: Json) -> gerrit.CommitInfo:
    return gerrit.CommitInfo(
        # `commit` is absent when the CommitInfo is keyed by its SHA (revisions map).
        id=obj.get("commit") or "",
        parents=[
            gerrit.CommitInfoParent(id=p.get("commit") or "") for p in obj.get("parents") or ()
        ],
        message=obj.get("message") or "",
    )


def file_info_from_json(obj: Json) -> gerrit.FileInfo:
    """FileInfo JSON → message; an absent `status` means modified (M)."""
    return gerrit.FileInfo(
        status=_FILE_STATUS.get(obj.get("status") or "M", gerrit.FileInfoStatus.M),
        binary=bool(obj.get("binary")),
        old_path=obj.get("old_path") or "",
        lines_inserted=int(obj.get("lines_inserted") or 0),
        lines_deleted=int(obj.get("lines_deleted") or 0),
        size_delta=int(obj.get("size_delta") or 0),
        size=int(obj.get("size") or 0),
    )


def files_from_json(obj: Json) -> dict[str, gerrit.FileInfo]:
    """List Files answer (path → FileInfo, incl. magic `/COMMIT_MSG`) → dict of messages."""
    return {path: file_info_from_json(info) for path, info in obj.items()}


def _revision(obj: Json) -> gerrit.RevisionInfo:
    kind = obj.get("kind")
    commit = obj.get("commit")
    return gerrit.RevisionInfo(
        kind=(
            _REVISION_KIND.get(kind, gerrit.RevisionInfoKind.REWORK)
            if kind
            else gerrit.RevisionInfoKind.KIND_INVALID
        ),
        number=int(obj.get("_number") or 0),
        uploader=account_info_from_json(obj.get("uploader")),
        ref=obj.get("ref") or "",
        commit=_commit(commit) if commit is not None else None,
        files=files_from_json(obj.get("files") or {}),
        created=_timestamp(obj.get("created")),
        description=obj.get("description") or "",
    )


def _requirement(obj: Json) -> gerrit.Requirement:
    return gerrit.Requirement(
        status=_REQUIREMENT_STATUS.get(
            obj.get("status") or "", gerrit.RequirementStatus.REQUIREMENT_STATUS_UNSPECIFIED
        ),
        fallback_text=obj.get("fallback_text") or "",
        type=obj.get("type") or "",
    )


def _branch_to_ref(branch: str) -> str:
    if not branch or branch.startswith("refs/"):
        return branch
    return "refs/heads/" + branch


def change_info_from_json(obj: Json) -> gerrit.ChangeInfo:
    """ChangeInfo JSON → `gerrit.ChangeInfo` (unknown status → CHANGE_STATUS_INVALID)."""
    return gerrit.ChangeInfo(
        number=int(obj.get("_number") or 0),
        owner=account_info_from_json(obj.get("owner")),
        project=obj.get("project") or "",
        ref=_branch_to_ref(obj.get("branch") or ""),
        status=_CHANGE_STATUS.get(
            obj.get("status") or "", gerrit.ChangeStatus.CHANGE_STATUS_INVALID
        ),
        current_revision=obj.get("current_revision") or "",
        revisions={sha: _revision(rev) for sha, rev in (obj.get("revisions") or {}).items()},
        labels={name: _label(info) for name, info in (obj.get("labels") or {}).items()},
        messages=[_message(m) for m in obj.get("messages") or ()],
        submittable=bool(obj.get("submittable")),
        created=_timestamp(obj.get("created")),
        updated=_timestamp(obj.get("updated")),
        is_private=bool(obj.get("is_private")),
        requirements=[_requirement(r) for r in obj.get("requirements") or ()],
        revert_of=int(obj.get("revert_of") or 0),
        cherry_pick_of_change=int(obj.get("cherry_pick_of_change") or 0),
    )


def related_changes_from_json(
    obj: Json,
) -> list[gerrit.GetRelatedChangesResponseChangeAndCommit]:
    """RelatedChangesInfo JSON → entries, newest→oldest in git order (may be empty)."""
    return [
        gerrit.GetRelatedChangesResponseChangeAndCommit(
            project=item.get("project") or "",
            number=int(item.get("_change_number") or 0),
            patchset=int(item.get("_revision_number") or 0),
            current_patchset=int(item.get("_current_revision_number") or 0),
            commit=_commit(item.get("commit") or {}),
            status=_CHANGE_STATUS.get(
                item.get("status") or "", gerrit.ChangeStatus.CHANGE_STATUS_INVALID
            ),
        )
        for item in obj.get("changes") or ()
    ]


def review_result_from_json(obj: Json | None) -> gerrit.ReviewResult:
    """ReviewResult JSON → message (`labels` may be null or absent)."""
    labels = (obj or {}).get("labels") or {}
    return gerrit.ReviewResult(labels={name: int(value) for name, value in labels.items()})


def notify_details_to_json(details: gerrit.NotifyDetails | None) -> dict[str, Any]:
    """NotifyDetails → `{"TO": {"accounts": [...]}}`: ids sorted and de-duplicated per
    recipient type, recipients with no accounts omitted (as luci-go sends it)."""
    accounts: dict[str, set[int]] = {}
    for recipient in details.recipients if details else ():
        if recipient.recipient_type == gerrit.NotifyDetailsRecipientType.UNSPECIFIED:
            continue
        ids = recipient.info.accounts if recipient.info else ()
        accounts.setdefault(recipient.recipient_type.name, set()).update(ids)
    return {kind: {"accounts": sorted(ids)} for kind, ids in sorted(accounts.items()) if ids}


def review_input_from_request(request: gerrit.SetReviewRequest) -> dict[str, Any]:
    """SetReviewRequest → ReviewInput JSON (spec/gerrit.md §2.2), empty fields omitted.

    `labels` is sent whenever the map is non-empty (`{"Commit-Queue": 0}` removes a vote),
    and then `ignore_automatic_attention_set_rules` too, as CV does when it removes votes.
    """
    body: dict[str, Any] = {}
    if request.message:
        body["message"] = request.message
    if request.labels:
        body["labels"] = dict(request.labels)
        body["ignore_automatic_attention_set_rules"] = True
    if request.tag:
        body["tag"] = request.tag
    if request.notify != gerrit.Notify.UNSPECIFIED:
        body["notify"] = request.notify.name
    notify_details = notify_details_to_json(request.notify_details)
    if notify_details:
        body["notify_details"] = notify_details
    if request.on_behalf_of:
        body["on_behalf_of"] = request.on_behalf_of
    return body


def _clean_account(account: gerrit.AccountInfo | None, *, keep_email: bool) -> None:
    if account is None:
        return
    account.name = ""
    account.username = ""
    account.secondary_emails = []
    if not keep_email:
        account.email = ""


def trim_change_info(info: gerrit.ChangeInfo) -> gerrit.ChangeInfo:
    """A copy of `info` trimmed the way CV stored `RunCL.info` (cv-migration.md §9.4).

    Accounts lose name, username and secondary emails everywhere; email is kept for the
    owner and label voters, dropped for message authors. Revisions lose uploader, files and
    commit parents; only the current revision keeps its commit message. `labels[].all` keeps
    only non-zero votes. The input is not modified.
    """
    trimmed = copy.deepcopy(info)
    _clean_account(trimmed.owner, keep_email=True)
    for sha, revision in trimmed.revisions.items():
        revision.uploader = None
        revision.files = {}
        if revision.commit is not None:
            revision.commit.parents = []
            if sha != trimmed.current_revision:
                revision.commit.message = ""
    for message in trimmed.messages:
        _clean_account(message.author, keep_email=False)
        _clean_account(message.real_author, keep_email=False)
    for label in trimmed.labels.values():
        label.all = [vote for vote in label.all if vote.value != 0]
        for vote in label.all:
            _clean_account(vote.user, keep_email=True)
        for account in (label.approved, label.rejected, label.recommended, label.disliked):
            _clean_account(account, keep_email=True)
    return trimmed
