"""One poller per LUCI project: Gerrit votes → CL snapshots → new, cancelled and delayed Runs.

A pass (`ProjectPoller.run_once`, what tests call):

1. The fail-safe sweep: Runs whose 20-minute delayed cancel is over end CANCELLED
   (spec §5.6). It needs no Gerrit, so it runs even during an outage.
2. Candidates: `status:NEW label:Commit-Queue>0` for the project's repos on each host,
   incrementally (`after:` the newest `updated` seen, minus an overlap for index lag)
   with a periodic full sweep; plus every CL of the project's unfinished Runs, because a
   removed vote or a new patch set takes a change out of that query (a `change:` query
   tells which of them changed); plus CLs whose fetch failed last time.
3. Fetch each candidate's snapshot (`changelist/fetch.py`), skipping changes the query
   shows unchanged since the last pass; fetch the dependencies of CLs about to be written.
4. Plan (`poller/plan.py`, pure), then one transaction per CL (`poller/commit.py`).

A failed Gerrit call makes that CL "unknown" for the pass: nothing is decided about it and
it is retried next pass. The loop (`run_forever`) sleeps `poll_interval_s` between passes
and backs off exponentially, with jitter, while Gerrit fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol

from cvmigrate.changelist.fetch import FetchedCL, GerritReader
from cvmigrate.config import ProjectSettings
from cvmigrate.gerrit.errors import GerritError
from cvmigrate.poller.commit import CLCommit, commit_cl, sweep_delayed_cancels
from cvmigrate.poller.config_groups import (
    ConfigGroupMatcher,
    build_change_queries,
    build_queries,
    watched_repos,
)
from cvmigrate.poller.decide import FrozenCL
from cvmigrate.poller.fetching import Hint, fetch_candidates, fetch_dependencies
from cvmigrate.poller.plan import CLPlan, Key, UnfinishedRun, build_commit, plan_cl
from cvmigrate.poller.report import PassReport
from cvmigrate.poller.unfinished import load_unfinished_runs
from cvmigrate.proto import gerrit
from cvmigrate.store import cls as cls_store
from cvmigrate.store.db import Database

__all__ = ["GerritPollClient", "PassReport", "ProjectPoller"]

log = logging.getLogger(__name__)

QUERY_OPTIONS: Final = (gerrit.QueryOption.SKIP_MERGEABLE,)
INDEX_LAG_OVERLAP: Final = timedelta(minutes=1)
"""How far before the newest `updated` seen an incremental query starts again."""
FULL_SWEEP_INTERVAL: Final = timedelta(minutes=30)
MAX_BACKOFF_S: Final = 300.0


class GerritPollClient(GerritReader, Protocol):
    """The Gerrit calls a poller makes; `GerritClient` has them."""

    def iter_query(
        self,
        host: str,
        query: str,
        *,
        options: Sequence[gerrit.QueryOption | str] = (),
        page_size: int = 100,
    ) -> AsyncIterator[gerrit.ChangeInfo]: ...


class ProjectPoller:
    """Polls Gerrit for one project (see the module docstring). `clock` gives aware UTC
    times; `sleep` and `rand` are injectable so the loop is testable without waiting."""

    def __init__(
        self,
        project: ProjectSettings,
        *,
        db: Database,
        gerrit_client: GerritPollClient,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        full_sweep_interval: timedelta = FULL_SWEEP_INTERVAL,
        max_backoff_s: float = MAX_BACKOFF_S,
        page_size: int = 100,
        fetch_concurrency: int = 8,
    ) -> None:
        self._project = project
        self._db = db
        self._gerrit = gerrit_client
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._full_sweep_interval = full_sweep_interval
        self._max_backoff_s = max_backoff_s
        self._page_size = page_size
        self._fetch_concurrency = fetch_concurrency
        self._matcher = ConfigGroupMatcher(project.config_groups)
        self._repos = watched_repos(project)
        self._watermarks: dict[str, datetime] = {}
        self._last_full: datetime | None = None
        self._known: dict[Key, FetchedCL] = {}  # last committed fetch of each CL
        self._clids: dict[Key, int] = {}
        self._frozen: dict[str, tuple[FrozenCL, ...]] = {}  # Run ID → its frozen CLs
        self._retry: dict[Key, str | None] = {}
        self._declined: set[str] = set()

    def __repr__(self) -> str:
        return f"ProjectPoller({self._project.name!r}, in_charge={self._project.in_charge!r})"

    @property
    def name(self) -> str:
        return self._project.name

    # --- the loop ------------------------------------------------------------------------

    def delay_after(self, failures: int) -> float:
        """Seconds to sleep after a pass; `failures` = consecutive passes with errors."""
        interval = self._project.poll_interval_s
        if failures <= 0:
            return interval
        backoff = min(self._max_backoff_s, interval * 2**failures)
        return max(interval, backoff * (0.5 + self._rand() / 2))

    async def run_forever(self) -> None:
        """Pass after pass until cancelled; errors are logged and retried with backoff."""
        failures = 0
        while True:
            try:
                report = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poller %s: pass failed", self.name)
                failures += 1
            else:
                failures = 0 if report.gerrit_ok else failures + 1
            await self._sleep(self.delay_after(failures))

    # --- one pass ------------------------------------------------------------------------

    async def run_once(self, *, full: bool | None = None) -> PassReport:
        """One pass; `full` forces (True) or skips (False) the full sweep."""
        now = self._clock()
        if full is None:
            full = self._last_full is None or now - self._last_full >= self._full_sweep_interval
        report = PassReport(full=full)
        project = self.name
        report.add(await self._db.write(sweep_delayed_cancels, project, now))

        unfinished = await self._load_unfinished()
        hints = await self._query(full, report)
        if full and not report.query_failures:
            self._last_full = now
        await self._recheck(unfinished, hints, report)
        for key, gerrit_project in self._retry.items():
            hints.setdefault(key, Hint(gerrit_project, None))

        fetched = await fetch_candidates(
            self._gerrit, hints, self._known, report, concurrency=self._fetch_concurrency
        )
        # Unknown, not "vote removed": no decision about these CLs now; retried next pass.
        self._retry = {key: hints[key].project for key in report.fetch_failures if key in hints}
        declined = frozenset(self._declined)
        runs_by_cl: dict[Key, list[UnfinishedRun]] = {}
        for run in unfinished:
            for key in {(frozen.host, frozen.change) for frozen in run.cls}:
                runs_by_cl.setdefault(key, []).append(run)
        plans = [
            plan_cl(
                cl,
                project=self._project,
                matcher=self._matcher,
                runs=runs_by_cl.get(cl.key, ()),
                declined=declined,
            )
            for cl in fetched.values()
        ]
        to_commit = [plan for plan in plans if plan.has_actions or self._changed(plan.cl)]
        found = await fetch_dependencies(
            self._gerrit, to_commit, fetched, report, concurrency=self._fetch_concurrency
        )
        deps = found.deps
        to_commit = [plan for plan in to_commit if plan.cl.key not in found.unknown]
        for key in found.unknown:
            self._retry[key] = fetched[key].info.project
        await self._commit(to_commit, deps, found.dropped, report)

        self._declined = {p.attempt_key for p in plans if p.attempt_key} & (
            self._declined | set(report.outcome.declined)
        )
        # Forget CLs this pass did not look at: memory stays proportional to the live set.
        touched = set(hints) | set(deps)
        for cl in [*fetched.values(), *deps.values()]:
            touched.update((ref.host, ref.change) for ref in cl.dep_refs)
        self._known = {key: cl for key, cl in self._known.items() if key in touched}
        self._clids = {key: clid for key, clid in self._clids.items() if key in touched}
        self._log(report)
        return report

    async def _load_unfinished(self) -> list[UnfinishedRun]:
        cached = dict(self._frozen)
        project = self.name
        loaded = await self._db.read(lambda c: load_unfinished_runs(c, project, cached))
        self._frozen = {run.run.id: run.cls for run in loaded}
        return loaded

    async def _query(self, full: bool, report: PassReport) -> dict[Key, Hint]:
        hints: dict[Key, Hint] = {}
        for host, repos in self._repos.items():
            watermark = None if full else self._watermarks.get(host)
            after = watermark - INDEX_LAG_OVERLAP if watermark is not None else None
            newest = watermark
            try:
                for query in build_queries(repos, after=after):
                    async for info in self._gerrit.iter_query(
                        host, query, options=QUERY_OPTIONS, page_size=self._page_size
                    ):
                        report.queried += 1
                        if info.updated is not None and (newest is None or info.updated > newest):
                            newest = info.updated
                        if self._matcher.match(host, info.project, info.ref) is not None:
                            hints[(host, info.number)] = Hint(info.project, info.updated)
            except GerritError as exc:
                log.warning("poller %s: querying %s failed: %s", self.name, host, exc)
                report.query_failures.append(host)
                continue
            if newest is not None:
                self._watermarks[host] = newest
        return hints

    async def _recheck(
        self, unfinished: Sequence[UnfinishedRun], hints: dict[Key, Hint], report: PassReport
    ) -> None:
        """Add the CLs of unfinished Runs: a removed vote or a new patch set takes a change
        out of the CQ query. One `change:` query per few CLs gives their `updated`, so only
        changed ones are fetched; if it fails, they are all fetched."""
        projects: dict[Key, str] = {}
        for run in unfinished:
            for frozen in run.cls:
                projects.setdefault((frozen.host, frozen.change), frozen.project)
        missing = [key for key in projects if key not in hints]
        for host in sorted({host for host, _ in missing}):
            numbers = [number for key_host, number in missing if key_host == host]
            try:
                for query in build_change_queries(numbers):
                    async for info in self._gerrit.iter_query(
                        host, query, options=QUERY_OPTIONS, page_size=self._page_size
                    ):
                        report.queried += 1
                        hints[(host, info.number)] = Hint(info.project, info.updated)
            except GerritError as exc:
                log.warning("poller %s: re-checking on %s failed: %s", self.name, host, exc)
        for key in missing:
            hints.setdefault(key, Hint(projects[key], None))

    async def _ensure_clids(self, keys: set[Key]) -> None:
        missing = sorted(key for key in keys if key not in self._clids)
        if not missing:
            return
        now = self._clock()
        self._clids.update(await self._db.write(cls_store.get_or_create_clids, missing, now))

    async def _commit(
        self,
        plans: Sequence[CLPlan],
        deps: dict[Key, FetchedCL],
        dropped: frozenset[Key],
        report: PassReport,
    ) -> None:
        if not plans:
            return
        keys = {plan.cl.key for plan in plans}
        for cl in [plan.cl for plan in plans] + list(deps.values()):
            keys.update((ref.host, ref.change) for ref in cl.dep_refs)
        await self._ensure_clids(keys)
        created_at = self._clock()

        def build() -> list[CLCommit]:
            # Encoding snapshots is CPU work: done in a thread, off the event loop.
            return [
                build_commit(
                    plan,
                    project=self._project,
                    clids=self._clids,
                    dep_cls=[
                        deps[(r.host, r.change)]
                        for r in plan.cl.dep_refs
                        if (r.host, r.change) in deps and (r.host, r.change) != plan.cl.key
                    ],
                    dropped_deps=dropped,
                    created_at=created_at,
                )
                for plan in plans
            ]

        commits = await asyncio.to_thread(build)
        now = self._clock()
        writes = [self._db.write(commit_cl, commit=c, now=now) for c in commits]
        # Concurrent writes share one transaction commit (group commit); each CL's write
        # still succeeds or fails on its own.
        results = await asyncio.gather(*writes, return_exceptions=True)
        for plan, result in zip(plans, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.error("poller %s: storing %s/%d failed: %s", self.name, *plan.cl.key, result)
                self._retry[plan.cl.key] = plan.cl.info.project
                continue
            report.add(result)
            self._known[plan.cl.key] = plan.cl
            for ref in plan.cl.dep_refs:
                dep = deps.get((ref.host, ref.change))
                if dep is not None:
                    self._known[dep.key] = dep

    def _changed(self, cl: FetchedCL) -> bool:
        known = self._known.get(cl.key)
        return known is None or (known.updated, known.info.current_revision) != (
            cl.updated,
            cl.info.current_revision,
        )

    def _log(self, report: PassReport) -> None:
        outcome = report.outcome
        for name in ("created", "cancelled", "delayed", "claimed"):
            for run_id in getattr(outcome, name):
                log.info("poller %s: %s run %s", self.name, name, run_id)
        log.debug(
            "poller %s: pass (full=%s) queried %d, fetched %d, failures %d",
            self.name,
            report.full,
            report.queried,
            report.fetched,
            len(report.query_failures) + len(report.fetch_failures),
        )
