"""The fake Gerrit's entities: accounts, permissions, label types, changes, patch sets, votes."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_LABELS",
    "Account",
    "Change",
    "FileSpec",
    "HttpError",
    "LabelType",
    "Message",
    "PatchSet",
    "Permissions",
    "Vote",
    "format_vote",
    "sha1_of",
]

UTC = datetime.UTC


class HttpError(Exception):
    """Answer the request with `status` and a text/plain `text`, as Gerrit does."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status} {text}")
        self.status = status
        self.text = text


def sha1_of(text: str) -> str:
    """A stable fake git SHA."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Account:
    account_id: int
    email: str = ""
    name: str = ""
    username: str = ""
    secondary_emails: list[str] = field(default_factory=list)


@dataclass
class Permissions:
    """What an account may do. Defaults: read and vote in own name, no label-as, no submit."""

    read: bool = True
    vote: bool = True
    label_as: set[str] = field(default_factory=set)
    submit: bool = False


@dataclass(frozen=True)
class LabelType:
    name: str
    values: Mapping[int, str]
    allow_post_submit: bool = False

    @property
    def min(self) -> int:
        return min(self.values)

    @property
    def max(self) -> int:
        return max(self.values)


DEFAULT_LABELS: tuple[LabelType, ...] = (
    LabelType(
        "Code-Review",
        {
            -2: "Do not submit",
            -1: "I would prefer that you didn't submit this",
            0: "No score",
            1: "Looks good to me, but someone else must approve",
            2: "Looks good to me, approved",
        },
        allow_post_submit=True,
    ),
    LabelType("Commit-Queue", {0: "Not ready", 1: "Dry run", 2: "Commit"}),
    LabelType("Verified", {-1: "Fails", 0: "No score", 1: "Verified"}),
)


@dataclass
class FileSpec:
    """One file of a patch set; `status` is Gerrit's letter (M is omitted on the wire)."""

    status: str = "M"
    lines_inserted: int = 1
    lines_deleted: int = 0
    size: int = 100
    size_delta: int = 10
    binary: bool = False
    old_path: str = ""


@dataclass
class Vote:
    account_id: int
    value: int
    date: datetime.datetime
    tag: str = ""
    real_account_id: int | None = None


@dataclass
class PatchSet:
    number: int
    revision: str
    parents: list[str]
    commit_message: str
    created: datetime.datetime
    uploader: int
    kind: str = "REWORK"
    files: dict[str, FileSpec] = field(default_factory=dict)
    description: str = ""
    votes: dict[str, dict[int, Vote]] = field(default_factory=dict)


@dataclass
class Message:
    id: str
    author: int | None
    date: datetime.datetime
    message: str
    revision_number: int
    real_author: int | None = None
    tag: str = ""
    notify: str | None = None
    notify_details: dict[str, object] | None = None


@dataclass
class Change:
    number: int
    project: str
    branch: str
    change_id: str
    owner: int
    subject: str
    status: str
    created: datetime.datetime
    updated: datetime.datetime
    patchsets: list[PatchSet] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    reviewers: set[int] = field(default_factory=set)
    submitted: datetime.datetime | None = None
    submitter: int | None = None
    is_private: bool = False
    submit_block: str | None = None
    revert_of: int = 0
    cherry_pick_of_change: int = 0
    version: int = 0

    @property
    def current(self) -> PatchSet:
        return self.patchsets[-1]

    @property
    def meta_rev_id(self) -> str:
        return sha1_of(f"meta:{self.number}:{self.version}")

    def patchset(self, number: int) -> PatchSet:
        return self.patchsets[number - 1]


def format_vote(label: str, value: int) -> str:
    """Gerrit's LabelVote format: `Label+1`, `Label-2`, `-Label` (vote removed)."""
    return f"-{label}" if value == 0 else f"{label}{value:+d}"
