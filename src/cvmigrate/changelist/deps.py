"""A CL's dependencies: git ancestors from Gerrit's related changes and `Cq-Depend:` footers.

Spec §3.5: a dependency is HARD iff it is an immediate git parent (it must land first);
other git ancestors and `Cq-Depend:` footer dependencies are SOFT. CV computed them in
`cv/internal/gerrit/updater/fetcher.go` and `cv/internal/gerrit/cqdepend`; this module does
the same from already-fetched data, so it is pure and tested without Gerrit.

`Cq-Depend:` footers live in the last paragraph of the commit message and hold
comma-separated `[SUBDOMAIN:]NUMBER` values; `chromium:123` on any `*-review.googlesource.com`
host names change 123 on `chromium-review.googlesource.com`. Invalid values are ignored one by
one, as CV did (so one typo does not hide the other dependencies).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Final

from cvmigrate.changelist.snapshot import DepKind
from cvmigrate.proto import gerrit

__all__ = [
    "CqDepend",
    "DepRef",
    "GitDep",
    "cq_depend_host",
    "git_deps",
    "merge_deps",
    "parse_cq_depend",
    "parse_footers",
]

log = logging.getLogger(__name__)

CQ_DEPEND_KEY: Final = "Cq-Depend"
"""The footer key as normalized by `parse_footers` (any capitalization is accepted)."""

# Git footer lines: `Key: value` (luci-go common/git/footer). ASCII \w, as Go's regexp.
_FOOTER_LINE: Final = re.compile(r"^\s*([\w-]+): *(.*)$", re.ASCII)
# One Cq-Depend value (cqdepend.valueRegexp): optional `subdomain:`, then a change number.
_CQ_DEPEND_VALUE: Final = re.compile(r"^\s*(\w[-\w]*:)?(\d+)\s*$", re.ASCII)
_MAX_INT64: Final = 2**63 - 1
_REVIEW_SUFFIX: Final = "-review"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, order=True)
class CqDepend:
    """One `Cq-Depend:` value: a change on this host (`subdomain` empty) or on another."""

    subdomain: str
    change: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GitDep:
    """A git ancestor that is a Gerrit change; `immediate` for a direct parent."""

    change: int
    immediate: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, order=True)
class DepRef:
    """A dependency before it has a CLID: the change and how this CL depends on it."""

    host: str
    change: int
    kind: DepKind


def _normalize_key(key: str) -> str:
    # git-footers normalization: "CQ-dePend" → "Cq-Depend".
    return "-".join(part.capitalize() for part in key.split("-"))


def parse_footers(message: str) -> dict[str, list[str]]:
    """Footers of a commit message: normalized key → values, in message order.

    Footers are the `Key: value` lines of the last paragraph; a message of one paragraph
    (just a subject) has none. Other lines in that paragraph are skipped.
    """
    lines = message.strip().split("\n")
    last_paragraph: list[str] = []
    for line in reversed(lines):
        if not line.strip():
            break
        last_paragraph.append(line)
    if len(last_paragraph) == len(lines):
        return {}
    footers: dict[str, list[str]] = {}
    for line in reversed(last_paragraph):
        match = _FOOTER_LINE.match(line)
        if match is not None:
            footers.setdefault(_normalize_key(match[1]), []).append(match[2].strip())
    return footers


def _parse_value(value: str) -> CqDepend | None:
    match = _CQ_DEPEND_VALUE.match(value)
    if match is None:
        return None
    prefix, number = match[1] or "", int(match[2])
    # `chromium-review:1` is rejected on purpose (cqdepend.go): the prefix is the subdomain
    # without "-review", which is implied.
    if prefix.endswith(_REVIEW_SUFFIX + ":") or number > _MAX_INT64:
        return None
    return CqDepend(subdomain=prefix[:-1].lower(), change=number)


def parse_cq_depend(message: str) -> list[CqDepend]:
    """Every valid `Cq-Depend:` value in the message's footers, sorted and de-duplicated."""
    found: set[CqDepend] = set()
    for footer_value in parse_footers(message).get(CQ_DEPEND_KEY, ()):
        for value in footer_value.split(","):
            dep = _parse_value(value)
            if dep is not None:
                found.add(dep)
    return sorted(found)


def cq_depend_host(host: str, subdomain: str) -> str | None:
    """The Gerrit host a `Cq-Depend` value names, seen from a CL on `host`.

    No subdomain: `host` itself. `chromium` from `x-review.googlesource.com`:
    `chromium-review.googlesource.com`. None when `host` is not a `<name>-review.<domain>`
    host, where a subdomain cannot be resolved.
    """
    if not subdomain:
        return host
    name, dot, domain = host.partition(".")
    if not dot or not name.endswith(_REVIEW_SUFFIX):
        return None
    return f"{subdomain}{_REVIEW_SUFFIX}.{domain}"


def _find_self(
    change: int,
    revision: str,
    related: Sequence[gerrit.GetRelatedChangesResponseChangeAndCommit],
) -> gerrit.GetRelatedChangesResponseChangeAndCommit | None:
    by_revision = [r for r in related if r.commit is not None and r.commit.id == revision]
    if len(by_revision) == 1:
        return by_revision[0]
    by_number = [r for r in related if r.number == change]
    if len(by_number) == 1:
        return by_number[0]
    # Gerrit sometimes lists another CL in place of this one (crbug.com/1199471): CV
    # then recorded no git deps rather than wrong ones.
    log.warning("related changes of %d list it %d times; no git deps", change, len(by_number))
    return None


def _parents(entry: gerrit.GetRelatedChangesResponseChangeAndCommit) -> list[str]:
    return [p.id for p in entry.commit.parents] if entry.commit is not None else []


def git_deps(
    change: int,
    revision: str,
    related: Sequence[gerrit.GetRelatedChangesResponseChangeAndCommit],
) -> list[GitDep]:
    """The change's git ancestors among its related changes (spec/gerrit.md §2.5).

    Breadth-first from the change over `commit.parents`, visiting each revision once; a
    change listed under several patch sets counts once, at its nearest distance. Parents
    missing from the list (merged long ago, or outside) end the walk there. The direct
    parents found are `immediate` (HARD deps). Order: by distance, then change number.
    """
    if not related:
        return []  # Gerrit omits the change itself when nothing is related
    this = _find_self(change, revision, related)
    if this is None:
        return []
    by_revision: dict[str, list[gerrit.GetRelatedChangesResponseChangeAndCommit]] = {}
    for entry in related:
        if entry.commit is not None and entry.commit.id:
            by_revision.setdefault(entry.commit.id, []).append(entry)
    immediate_count = sum(1 for sha in _parents(this) if sha in by_revision)

    ordered: list[gerrit.GetRelatedChangesResponseChangeAndCommit] = []
    visited: set[str] = set()
    level = [this]
    while level:
        level = sorted(level, key=lambda entry: entry.number)
        ordered.extend(level)
        next_level = []
        for entry in level:
            for sha in _parents(entry):
                candidates = by_revision.get(sha)
                if not candidates:
                    continue
                # The same revision under several CLs: take the lowest number, as CV did.
                chosen = min(candidates, key=lambda candidate: candidate.number)
                if sha not in visited:
                    visited.add(sha)
                    next_level.append(chosen)
        level = next_level

    deps: list[GitDep] = []
    seen = {change}
    for index, entry in enumerate(ordered[1:]):
        if entry.number in seen:
            continue
        seen.add(entry.number)
        deps.append(GitDep(change=entry.number, immediate=index < immediate_count))
    return deps


def merge_deps(
    host: str,
    change: int,
    cq_depends: Iterable[CqDepend],
    git: Iterable[GitDep],
) -> tuple[DepRef, ...]:
    """All dependencies of `host`/`change`, sorted by (host, change), without itself.

    Cq-Depend deps are SOFT; git deps override them (HARD for immediate parents), so a
    footer naming the parent never downgrades a HARD dep. A Cq-Depend subdomain that
    cannot be resolved from `host` is dropped with a warning.
    """
    kinds: dict[tuple[str, int], DepKind] = {}
    for dep in cq_depends:
        dep_host = cq_depend_host(host, dep.subdomain)
        if dep_host is None:
            log.warning(
                "%s/%d: Cq-Depend %s:%d cannot be resolved from this host; ignored",
                host,
                change,
                dep.subdomain,
                dep.change,
            )
            continue
        kinds[(dep_host, dep.change)] = DepKind.SOFT
    for dep in git:
        kinds[(host, dep.change)] = DepKind.HARD if dep.immediate else DepKind.SOFT
    kinds.pop((host, change), None)
    return tuple(
        DepRef(host=dep_host, change=number, kind=kind)
        for (dep_host, number), kind in sorted(kinds.items())
    )
