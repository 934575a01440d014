"""Fetching a pass's CLs and their dependencies from Gerrit, concurrently and failure-aware.

A CL whose fetch fails is "unknown" for the pass (spec: a failed fetch never means "vote
removed"): it is reported and left out, and the poller retries it next pass. A dependency
that fails transiently makes its dependants unknown too (their snapshots would name a CL
without one); one that fails for good (gone, no access, a host not configured) is dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from cvmigrate.changelist.fetch import FetchedCL, GerritReader, fetch_cl
from cvmigrate.gerrit.errors import GerritError, is_transient
from cvmigrate.poller.plan import CLPlan, Key
from cvmigrate.poller.report import PassReport

__all__ = ["DepFetch", "Hint", "fetch_candidates", "fetch_dependencies"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Hint:
    """What is known of a candidate before fetching it."""

    project: str | None
    """Gerrit project, for `project~number` routing (None: unknown)."""
    updated: datetime | None
    """Gerrit's `updated` from a query answer (None: not from a query)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DepFetch:
    """Dependencies of the CLs about to be written."""

    deps: dict[Key, FetchedCL]
    dropped: frozenset[Key]
    """Cannot be fetched for good: left out of snapshots."""
    unknown: frozenset[Key]
    """Dependants of a dependency that failed transiently: not written this pass."""


async def fetch_candidates(
    gerrit: GerritReader,
    hints: Mapping[Key, Hint],
    known: Mapping[Key, FetchedCL],
    report: PassReport,
    *,
    concurrency: int,
) -> dict[Key, FetchedCL]:
    """Fetch every candidate, reusing `known` (last written) when the query shows it
    unchanged. Failed keys are added to `report.fetch_failures` and left out."""
    results: dict[Key, FetchedCL] = {}
    limit = asyncio.Semaphore(concurrency)

    async def fetch_one(key: Key, hint: Hint) -> None:
        previous = known.get(key)
        if previous is not None and hint.updated is not None and previous.updated == hint.updated:
            results[key] = previous  # the query says nothing changed since it was written
            return
        async with limit:
            try:
                cl = await fetch_cl(gerrit, key[0], key[1], project=hint.project, previous=previous)
            except GerritError as exc:
                log.warning("fetching %s/%d failed: %s", *key, exc)
                report.fetch_failures.append(key)
                return
        report.fetched += 1
        results[key] = cl

    async with asyncio.TaskGroup() as group:
        for key, hint in hints.items():
            group.create_task(fetch_one(key, hint))
    return results


async def fetch_dependencies(
    gerrit: GerritReader,
    plans: Sequence[CLPlan],
    fetched: Mapping[Key, FetchedCL],
    report: PassReport,
    *,
    concurrency: int,
) -> DepFetch:
    """The dependencies of `plans`' CLs: taken from `fetched` when there, else fetched."""
    dependants: dict[Key, set[Key]] = {}
    for plan in plans:
        for ref in plan.cl.dep_refs:
            dependants.setdefault((ref.host, ref.change), set()).add(plan.cl.key)
    deps = {key: fetched[key] for key in dependants if key in fetched}
    dropped: set[Key] = set()
    unknown: set[Key] = set()
    limit = asyncio.Semaphore(concurrency)

    async def fetch_dep(key: Key) -> None:
        async with limit:
            try:
                deps[key] = await fetch_cl(gerrit, key[0], key[1])
            except GerritError as exc:
                if is_transient(exc):
                    report.fetch_failures.append(key)
                    unknown.update(dependants[key])
                else:  # gone, no access, or a host we do not talk to
                    dropped.add(key)
                log.warning("dependency %s/%d: %s", *key, exc)

    async with asyncio.TaskGroup() as group:
        for key in dependants:
            if key not in deps:
                group.create_task(fetch_dep(key))
    return DepFetch(deps=deps, dropped=frozenset(dropped), unknown=frozenset(unknown))
