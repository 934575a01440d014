"""Fetching a CL snapshot from Gerrit: change, files, min-equivalent patch set, dependencies.

What CV's `cv/internal/gerrit/updater/fetcher.go` did, for one change:

1. Get the change with `ALL_REVISIONS, CURRENT_COMMIT, DETAILED_LABELS, DETAILED_ACCOUNTS,
   MESSAGES, SUBMITTABLE, SKIP_MERGEABLE` (spec §9.4) and trim it as CV stored it.
2. Patch set and min-equivalent patch set from the revisions' kinds.
3. For an open change only: the files of the current revision against its first parent
   (sorted, without Gerrit's magic `/COMMIT_MSG` and `/MERGE_LIST`), and the dependencies
   from related changes and `Cq-Depend:` footers (`changelist/deps.py`). When the current
   revision is the one already known, both are reused instead of asked for again.

Gerrit errors propagate unchanged (`cvmigrate.gerrit.errors`); a caller treats a failed
fetch as "state unknown", never as "vote removed".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Protocol

from cvmigrate.changelist.deps import DepRef, git_deps, merge_deps, parse_cq_depend
from cvmigrate.changelist.snapshot import Dep, Snapshot
from cvmigrate.gerrit.convert import trim_change_info
from cvmigrate.gerrit.errors import GerritError
from cvmigrate.proto import gerrit

__all__ = [
    "FETCH_OPTIONS",
    "FetchedCL",
    "GerritReader",
    "fetch_cl",
    "min_equivalent_patchset",
]

FETCH_OPTIONS: Final[tuple[gerrit.QueryOption, ...]] = (
    gerrit.QueryOption.ALL_REVISIONS,
    gerrit.QueryOption.CURRENT_COMMIT,
    gerrit.QueryOption.DETAILED_LABELS,
    gerrit.QueryOption.DETAILED_ACCOUNTS,
    gerrit.QueryOption.MESSAGES,
    gerrit.QueryOption.SUBMITTABLE,
    # Mergeability is expensive for Gerrit to compute and CV never looks at it.
    gerrit.QueryOption.SKIP_MERGEABLE,
)
"""The `o=` options of a CL snapshot fetch, exactly CV's (spec §9.4)."""

# Kinds of patch set whose code equals the previous patch set's (CV's
# gerrit.EquivalentPatchsetRange); the convert layer already maps
# TRIVIAL_REBASE_WITH_MESSAGE_UPDATE to TRIVIAL_REBASE.
_EQUIVALENT_KINDS: Final = frozenset(
    {
        gerrit.RevisionInfoKind.TRIVIAL_REBASE,
        gerrit.RevisionInfoKind.NO_CODE_CHANGE,
        gerrit.RevisionInfoKind.NO_CHANGE,
    }
)


class GerritReader(Protocol):
    """The Gerrit reads a snapshot needs; `cvmigrate.gerrit.client.GerritClient` has them."""

    async def get_change(
        self,
        host: str,
        number: int,
        *,
        project: str | None = None,
        options: Sequence[gerrit.QueryOption | str] = (),
    ) -> gerrit.ChangeInfo: ...

    async def get_related_changes(
        self, host: str, number: int, revision: str, *, project: str | None = None
    ) -> list[gerrit.GetRelatedChangesResponseChangeAndCommit]: ...

    async def list_files(
        self,
        host: str,
        number: int,
        revision: str,
        *,
        project: str | None = None,
        parent: int | None = None,
    ) -> dict[str, gerrit.FileInfo]: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FetchedCL:
    """A change as just fetched, before its dependencies have CLIDs."""

    host: str
    info: gerrit.ChangeInfo
    """Trimmed as CV stored it (spec §9.4)."""
    patchset: int
    min_equivalent_patchset: int
    files: tuple[str, ...] = ()
    dep_refs: tuple[DepRef, ...] = ()
    """Sorted by (host, change)."""

    @property
    def number(self) -> int:
        return self.info.number

    @property
    def key(self) -> tuple[str, int]:
        """(host, change number): the CL's identity."""
        return (self.host, self.info.number)

    @property
    def updated(self) -> datetime | None:
        return self.info.updated

    def snapshot(self, deps: Sequence[Dep] = ()) -> Snapshot:
        """The snapshot, given the dependencies resolved to CLIDs (sorted here by CLID)."""
        return Snapshot(
            host=self.host,
            info=self.info,
            patchset=self.patchset,
            min_equivalent_patchset=self.min_equivalent_patchset,
            files=self.files,
            deps=tuple(sorted(deps, key=lambda dep: dep.cl_id)),
        )


def min_equivalent_patchset(info: gerrit.ChangeInfo) -> tuple[int, int]:
    """(min-equivalent patch set, current patch set) of a change fetched with ALL_REVISIONS.

    Walking back from the current patch set, each trivial rebase, no-code change or
    no-change patch set is equivalent to the one before it; the walk stops at the first
    other kind (patch set 1 is always REWORK).

    Raises ValueError if the current revision is not among the revisions.
    """
    current = info.revisions.get(info.current_revision)
    if current is None or current.number <= 0:
        raise ValueError(f"change {info.number}: current revision missing from revisions")
    kinds = {revision.number: revision.kind for revision in info.revisions.values()}
    minimum = current.number
    while minimum > 1 and kinds.get(minimum) in _EQUIVALENT_KINDS and (minimum - 1) in kinds:
        minimum -= 1
    return minimum, current.number


def _commit_message(info: gerrit.ChangeInfo) -> str:
    revision = info.revisions.get(info.current_revision)
    return revision.commit.message if revision and revision.commit else ""


async def _files(reader: GerritReader, info: gerrit.ChangeInfo, host: str) -> tuple[str, ...]:
    files = await reader.list_files(
        host, info.number, info.current_revision, project=info.project, parent=1
    )
    # Magic entries (/COMMIT_MSG, /MERGE_LIST) are not files (spec §3.5).
    return tuple(sorted(path for path in files if not path.startswith("/")))


async def _dep_refs(reader: GerritReader, info: gerrit.ChangeInfo, host: str) -> tuple[DepRef, ...]:
    related = await reader.get_related_changes(
        host, info.number, info.current_revision, project=info.project
    )
    return merge_deps(
        host,
        info.number,
        parse_cq_depend(_commit_message(info)),
        git_deps(info.number, info.current_revision, related),
    )


async def fetch_cl(
    reader: GerritReader,
    host: str,
    number: int,
    *,
    project: str | None = None,
    previous: FetchedCL | None = None,
) -> FetchedCL:
    """Fetch change `number` on `host` as a snapshot (see the module docstring).

    `previous`, the last fetch of the same change, lets files and dependencies be reused
    when the current revision has not changed. Raises GerritError (including a malformed
    answer without the current revision).
    """
    info = await reader.get_change(host, number, project=project, options=FETCH_OPTIONS)
    try:
        minimum, patchset = min_equivalent_patchset(info)
    except ValueError as exc:
        raise GerritError(f"{host}/{number}: {exc}") from exc
    files: tuple[str, ...] = ()
    dep_refs: tuple[DepRef, ...] = ()
    if info.status == gerrit.ChangeStatus.NEW:
        if (
            previous is not None
            and previous.key == (host, number)
            and previous.info.current_revision == info.current_revision
        ):
            files, dep_refs = previous.files, previous.dep_refs
        else:
            # One after the other: on a failure nothing is left running unawaited.
            files = await _files(reader, info, host)
            dep_refs = await _dep_refs(reader, info, host)
    # Merged and abandoned changes need neither: CV skipped both for them.
    return FetchedCL(
        host=host,
        info=trim_change_info(info),
        patchset=patchset,
        min_equivalent_patchset=minimum,
        files=files,
        dep_refs=dep_refs,
    )
