"""Which config group a change belongs to, and what the poller asks Gerrit for.

A change belongs to the first config group of its project whose host, repo and one of
whose ref regular expressions (full match) fit it (spec §11.3; CV's gobmap). The poller
queries `status:NEW label:Commit-Queue>0` for the watched repos of each host (spec/gerrit.md
§2.1, CV's `poller/query.go`), a few repos per query so URLs stay short.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from cvmigrate.changelist.trigger import CQ_LABEL, AdditionalMode
from cvmigrate.config import ProjectConfigGroup, ProjectSettings
from cvmigrate.gerrit.convert import format_gerrit_timestamp

__all__ = [
    "REPOS_PER_QUERY",
    "ConfigGroupMatcher",
    "additional_modes",
    "build_change_queries",
    "build_queries",
    "watched_repos",
]

REPOS_PER_QUERY: Final = 20
"""Repos OR-ed into one query; more are split over several queries."""


@dataclasses.dataclass(frozen=True, slots=True)
class _CompiledGroup:
    group: ProjectConfigGroup
    repos: frozenset[str]
    refs: tuple[re.Pattern[str], ...]


class ConfigGroupMatcher:
    """Matches changes to a project's config groups, in config order."""

    def __init__(self, groups: Sequence[ProjectConfigGroup]) -> None:
        self._groups = tuple(
            _CompiledGroup(
                group=group,
                repos=frozenset(group.repos),
                refs=tuple(re.compile(pattern) for pattern in group.refs),
            )
            for group in groups
        )

    def __repr__(self) -> str:
        return f"ConfigGroupMatcher({[g.group.name for g in self._groups]})"

    def match(self, host: str, repo: str, ref: str) -> ProjectConfigGroup | None:
        """The first group whose host, repo and a ref pattern (full match) fit, or None."""
        for compiled in self._groups:
            if (
                compiled.group.host == host
                and repo in compiled.repos
                and any(pattern.fullmatch(ref) for pattern in compiled.refs)
            ):
                return compiled.group
        return None


def additional_modes(group: ProjectConfigGroup) -> tuple[AdditionalMode, ...]:
    """The group's additional modes as the trigger computation takes them (spec §3.2)."""
    return tuple(
        AdditionalMode(
            name=mode.name,
            cq_label_value=mode.cq_label_value,
            triggering_label=mode.triggering_label,
            triggering_value=mode.triggering_value,
        )
        for mode in group.additional_modes
    )


def watched_repos(project: ProjectSettings) -> dict[str, tuple[str, ...]]:
    """Gerrit host → the sorted repos any of the project's groups watch there."""
    by_host: dict[str, set[str]] = {}
    for group in project.config_groups:
        by_host.setdefault(group.host, set()).update(group.repos)
    return {host: tuple(sorted(repos)) for host, repos in sorted(by_host.items())}


def build_queries(
    repos: Sequence[str], *, after: datetime | None = None, chunk: int = REPOS_PER_QUERY
) -> list[str]:
    """Gerrit queries for open changes with a positive CQ vote in `repos`.

    `after` (Gerrit's `updated` at or after it) makes an incremental query; the time is
    written in Gerrit's UTC format and quoted, as CV did.
    """
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    suffix = f' after:"{format_gerrit_timestamp(after)}"' if after is not None else ""
    queries = []
    for start in range(0, len(repos), chunk):
        part = [f'project:"{repo}"' for repo in repos[start : start + chunk]]
        projects = part[0] if len(part) == 1 else "(" + " OR ".join(part) + ")"
        queries.append(f"status:NEW label:{CQ_LABEL}>0 {projects}{suffix}")
    return queries


def build_change_queries(numbers: Sequence[int], *, chunk: int = REPOS_PER_QUERY) -> list[str]:
    """Queries for these changes whatever their status: one answer per change with its
    `updated`, so the poller re-fetches only the changes of running Runs that changed."""
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    ordered = sorted(set(numbers))
    return [
        " OR ".join(f"change:{number}" for number in ordered[start : start + chunk])
        for start in range(0, len(ordered), chunk)
    ]
