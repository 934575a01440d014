"""The fake Gerrit's in-memory state and the builder API tests use to set it up."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence

from .entities import (
    DEFAULT_LABELS,
    Account,
    Change,
    FileSpec,
    HttpError,
    LabelType,
    Message,
    PatchSet,
    Permissions,
    Vote,
    format_vote,
    sha1_of,
)

__all__ = ["GerritState"]

UTC = datetime.UTC


class GerritState:
    """Changes and accounts, with helpers to build them. Times come from `clock` and never
    repeat (each call is at least 1 µs after the previous), like NoteDb timestamps."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime.datetime] | None = None,
        labels: Sequence[LabelType] = DEFAULT_LABELS,
        comment_size_limit: int = 16 * 1024,
    ) -> None:
        self.clock = clock or (lambda: datetime.datetime.now(UTC))
        self.labels: dict[str, LabelType] = {label.name: label for label in labels}
        self.comment_size_limit = comment_size_limit
        self.accounts: dict[int, Account] = {}
        self.permissions: dict[int, Permissions] = {}
        self.changes: dict[int, Change] = {}
        self.anonymous_read = True
        self._last_time = datetime.datetime.min.replace(tzinfo=UTC)
        self._next_number = 1
        self._next_message = 1

    # --- time and ids -----------------------------------------------------------------

    def now(self) -> datetime.datetime:
        moment = self.clock()
        if moment <= self._last_time:
            moment = self._last_time + datetime.timedelta(microseconds=1)
        self._last_time = moment
        return moment

    def _message_id(self) -> str:
        self._next_message += 1
        return sha1_of(f"message:{self._next_message}")[:12]

    # --- accounts ------------------------------------------------------------------------

    def add_account(
        self,
        account_id: int,
        *,
        email: str | None = None,
        name: str | None = None,
        username: str | None = None,
        secondary_emails: Sequence[str] = (),
        label_as: Iterable[str] = (),
        submit: bool = False,
        vote: bool = True,
        read: bool = True,
    ) -> Account:
        """Register an account (and its permissions); email/name/username get defaults."""
        username = username if username is not None else f"user{account_id}"
        account = Account(
            account_id,
            email=email if email is not None else f"{username}@example.com",
            name=name if name is not None else f"User {account_id}",
            username=username,
            secondary_emails=list(secondary_emails),
        )
        self.accounts[account_id] = account
        self.permissions[account_id] = Permissions(
            read=read, vote=vote, label_as=set(label_as), submit=submit
        )
        return account

    def set_permissions(
        self,
        account_id: int,
        *,
        read: bool | None = None,
        vote: bool | None = None,
        label_as: Iterable[str] | None = None,
        submit: bool | None = None,
    ) -> Permissions:
        """Change some of an account's permissions (None leaves one as it is)."""
        perms = self.permissions_of(account_id)
        if read is not None:
            perms.read = read
        if vote is not None:
            perms.vote = vote
        if label_as is not None:
            perms.label_as = set(label_as)
        if submit is not None:
            perms.submit = submit
        self.permissions[account_id] = perms
        return perms

    def permissions_of(self, account_id: int) -> Permissions:
        return self.permissions.get(account_id) or Permissions()

    def find_account(self, ref: object) -> Account | None:
        """An account by numeric id (int or digits), email or username."""
        text = str(ref)
        if text.isdigit():
            return self.accounts.get(int(text))
        for account in self.accounts.values():
            if text in (account.email, account.username):
                return account
        return None

    # --- changes -------------------------------------------------------------------------

    def add_change(
        self,
        *,
        owner: int,
        project: str = "chromium/src",
        branch: str = "main",
        number: int | None = None,
        subject: str = "Fix a bug",
        status: str = "NEW",
        revision: str | None = None,
        parents: Sequence[str] | None = None,
        commit_message: str | None = None,
        files: Mapping[str, FileSpec] | None = None,
        created: datetime.datetime | None = None,
        is_private: bool = False,
    ) -> Change:
        """A change with patch set 1 (and Gerrit's "Uploaded patch set 1." message)."""
        if owner not in self.accounts:
            self.add_account(owner)
        if number is None:
            number = max([self._next_number, *(n + 1 for n in self.changes)])
        if number in self.changes:
            raise ValueError(f"change {number} exists")
        self._next_number = number + 1
        created = created or self.now()
        change_id = "I" + sha1_of(f"change-id:{project}:{number}")
        change = Change(
            number=number,
            project=project,
            branch=branch.removeprefix("refs/heads/"),
            change_id=change_id,
            owner=owner,
            subject=subject,
            status=status,
            created=created,
            updated=created,
            is_private=is_private,
        )
        self.changes[number] = change
        change.patchsets.append(
            PatchSet(
                number=1,
                revision=revision or sha1_of(f"rev:{project}:{number}:1"),
                parents=list(parents) if parents is not None else [sha1_of(f"base:{project}")],
                commit_message=commit_message or f"{subject}\n\nChange-Id: {change_id}\n",
                created=created,
                uploader=owner,
                files=dict(files) if files is not None else {"src/main.cc": FileSpec()},
            )
        )
        self._append_message(
            change,
            "Uploaded patch set 1.",
            author=owner,
            date=created,
            tag="autogenerated:gerrit:newPatchSet",
        )
        return change

    def change(self, number: int) -> Change:
        return self.changes[number]

    def new_patchset(
        self,
        number: int,
        *,
        revision: str | None = None,
        parents: Sequence[str] | None = None,
        commit_message: str | None = None,
        kind: str = "REWORK",
        files: Mapping[str, FileSpec] | None = None,
        uploader: int | None = None,
        keep_votes: Iterable[str] = (),
    ) -> PatchSet:
        """Upload a new patch set; votes are not copied except on labels in `keep_votes`."""
        change = self.changes[number]
        previous = change.current
        ps_number = previous.number + 1
        now = self.now()
        patchset = PatchSet(
            number=ps_number,
            revision=revision or sha1_of(f"rev:{change.project}:{number}:{ps_number}"),
            parents=list(parents) if parents is not None else list(previous.parents),
            commit_message=commit_message or previous.commit_message,
            created=now,
            uploader=uploader or change.owner,
            kind=kind,
            files=dict(files) if files is not None else dict(previous.files),
            votes={
                label: dict(previous.votes[label])
                for label in keep_votes
                if label in previous.votes
            },
        )
        change.patchsets.append(patchset)
        self._append_message(
            change,
            f"Uploaded patch set {ps_number}.",
            author=patchset.uploader,
            date=now,
            tag="autogenerated:gerrit:newPatchSet",
        )
        self.touch(change, now)
        return patchset

    def vote(
        self,
        number: int,
        label: str,
        account_id: int,
        value: int,
        *,
        tag: str = "",
        date: datetime.datetime | None = None,
        post_message: bool = True,
    ) -> None:
        """Set (value 0: remove) a vote on the current patch set, with no permission checks."""
        if label not in self.labels:
            raise ValueError(f"label {label} is not configured")
        if account_id not in self.accounts:
            self.add_account(account_id)
        change = self.changes[number]
        date = date or self.now()
        votes = change.current.votes.setdefault(label, {})
        if value:
            votes[account_id] = Vote(account_id, value, date, tag)
        else:
            votes.pop(account_id, None)
        change.reviewers.add(account_id)
        if post_message:
            text = f"Patch Set {change.current.number}: {format_vote(label, value)}"
            self._append_message(change, text, author=account_id, date=date, tag=tag)
        self.touch(change, date)

    def add_message(
        self,
        number: int,
        text: str,
        *,
        author: int | None = None,
        real_author: int | None = None,
        tag: str = "",
        date: datetime.datetime | None = None,
    ) -> Message:
        """Append a change message (author None: posted by Gerrit itself)."""
        change = self.changes[number]
        date = date or self.now()
        message = self._append_message(
            change, text, author=author, real_author=real_author, date=date, tag=tag
        )
        self.touch(change, date)
        return message

    def set_status(self, number: int, status: str) -> None:
        """Force a status (NEW, MERGED, ABANDONED), e.g. to simulate someone else's action."""
        change = self.changes[number]
        change.status = status
        self.touch(change)

    def block_submit(self, number: int, reason: str | None = "blocked by Code-Review") -> None:
        """Make submit answer 409 with `reason` (None unblocks); SUBMITTABLE reports false."""
        self.changes[number].submit_block = reason

    def touch(self, change: Change, when: datetime.datetime | None = None) -> None:
        change.updated = when or self.now()
        change.version += 1

    def _append_message(
        self,
        change: Change,
        text: str,
        *,
        author: int | None,
        date: datetime.datetime,
        tag: str = "",
        real_author: int | None = None,
        revision_number: int | None = None,
    ) -> Message:
        message = Message(
            id=self._message_id(),
            author=author,
            real_author=real_author,
            date=date,
            message=text,
            tag=tag,
            revision_number=revision_number or change.current.number,
        )
        change.messages.append(message)
        return message

    # --- lookups used by the handlers ---------------------------------------------------

    def can_read(self, account_id: int | None, change: Change) -> bool:
        if account_id is None:
            return self.anonymous_read and not change.is_private
        if account_id == change.owner:
            return True
        return self.permissions_of(account_id).read and not change.is_private

    def resolve_change(self, change_ref: str, caller: int | None) -> Change:
        """project~number, number, Change-Id or project~branch~Change-Id → a visible change."""
        parts = change_ref.split("~")
        found: Change | None = None
        if len(parts) == 2 and parts[1].isdigit():
            candidate = self.changes.get(int(parts[1]))
            found = candidate if candidate and candidate.project == parts[0] else None
        elif len(parts) == 1 and change_ref.isdigit():
            found = self.changes.get(int(change_ref))
        else:
            for change in self.changes.values():
                if parts[-1] == change.change_id and (
                    len(parts) == 1 or (parts[0], parts[1]) == (change.project, change.branch)
                ):
                    found = change
        if found is None or not self.can_read(caller, found):
            raise HttpError(404, f"Not found: {change_ref}")
        return found

    @staticmethod
    def resolve_revision(change: Change, revision_ref: str) -> PatchSet:
        """current, a patch set number, or a (≥4 char) SHA prefix → patch set."""
        if revision_ref == "current":
            return change.current
        if revision_ref.isdigit() and len(revision_ref) < 4 and revision_ref != "0":
            if 1 <= int(revision_ref) <= len(change.patchsets):
                return change.patchset(int(revision_ref))
        elif len(revision_ref) >= 4:
            matches = [ps for ps in change.patchsets if ps.revision.startswith(revision_ref)]
            if len(matches) == 1:
                return matches[0]
        raise HttpError(404, f"Not found: {revision_ref}")

    def patchset_by_sha(self, project: str, sha: str) -> tuple[Change, PatchSet] | None:
        for change in self.changes.values():
            if change.project != project:
                continue
            for patchset in change.patchsets:
                if patchset.revision == sha:
                    return change, patchset
        return None
