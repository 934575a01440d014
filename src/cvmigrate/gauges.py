"""Service gauges for operators, sampled from the store by a background task.

OpenTelemetry observable gauges call back synchronously, so the sampler reads the database
every `interval` seconds and the callbacks report the last sample:
- `cv.runs.active` (per project): RUNNING Runs;
- `cv.report_runs.divergence` (per project, per direction): attempts CQDaemon reported that
  CV has no RUNNING Run for, and RUNNING Runs CQDaemon did not report;
- `cv.outbox.rows` (per state: pending, dead) and `cv.outbox.oldest_pending_age` (s);
- `cv.run_manager.queue_depth`: run-manager events not done yet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime

from opentelemetry.metrics import CallbackOptions, Observation

from cvmigrate import telemetry
from cvmigrate.runs.divergence import divergence
from cvmigrate.store import events, outbox, reports
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import Database, StoreError

__all__ = ["GaugeSampler", "Sample", "take_sample"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    active_runs: dict[str, int]
    divergence: dict[str, tuple[int, int]]
    """project → (only in CQDaemon, only in CV)."""
    outbox_pending: int
    outbox_dead: int
    oldest_pending: datetime | None
    queue_depth: int


def take_sample(conn: sqlite3.Connection) -> Sample:
    """Everything the gauges report, read in one transaction."""
    running: dict[str, list[tuple[str, str]]] = {}  # project -> (attempt key, Run ID)
    for project, attempt_key, run_id in runs_store.running_attempts(conn):
        running.setdefault(project, []).append((attempt_key, run_id))
    active = {project: len(pairs) for project, pairs in running.items()}
    diverged = {}
    for project in reports.reported_projects(conn):
        report = reports.get_reported_attempt_keys(conn, project)
        if report is None:
            continue
        result = divergence(report[0], running.get(project, ()))
        diverged[project] = (len(result.only_cqdaemon), len(result.only_cv))
    status = outbox.outbox_status(conn)
    return Sample(
        active_runs=active,
        divergence=diverged,
        outbox_pending=status.pending,
        outbox_dead=status.dead,
        oldest_pending=status.oldest_pending,
        queue_depth=events.pending_event_count(conn),
    )


_current: GaugeSampler | None = None
_registered = False


def _register_instruments() -> None:
    global _registered
    if _registered:
        return
    _registered = True

    def delegate(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            sampler = _current
            return getattr(sampler, name)(options) if sampler is not None else []

        return callback

    meter = telemetry.meter()
    meter.create_observable_gauge(
        "cv.runs.active", [delegate("_active")], description="RUNNING Runs per LUCI project."
    )
    meter.create_observable_gauge(
        "cv.report_runs.divergence",
        [delegate("_divergence")],
        description="Attempts seen by only one of CQDaemon (ReportRuns) and CV.",
    )
    meter.create_observable_gauge(
        "cv.outbox.rows", [delegate("_outbox_rows")], description="BigQuery outbox rows by state."
    )
    meter.create_observable_gauge(
        "cv.outbox.oldest_pending_age",
        [delegate("_oldest_age")],
        unit="s",
        description="Age of the oldest BigQuery row not sent yet.",
    )
    meter.create_observable_gauge(
        "cv.run_manager.queue_depth",
        [delegate("_queue_depth")],
        description="Run-manager events waiting to be processed.",
    )


class GaugeSampler:
    """Samples the store periodically and serves the samples to observable gauges."""

    def __init__(self, db: Database, clock: Callable[[], datetime], *, interval: float = 10.0):
        self._db = db
        self._clock = clock
        self._interval = interval
        self.sample: Sample | None = None
        _register_instruments()
        # The gauges report the newest sampler (one per process in production; tests
        # start several apps in one process, and instruments can be registered only once).
        global _current
        _current = self

    async def run_once(self) -> Sample:
        self.sample = await self._db.read(take_sample)
        return self.sample

    async def run(self) -> None:
        """Sample forever (cancel to stop); a failed sample keeps the previous one."""
        while True:
            try:
                await self.run_once()
            except StoreError as exc:
                log.warning("gauge sample failed: %s", exc)
            await asyncio.sleep(self._interval)

    def _active(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.sample is None:
            return []
        return [
            Observation(count, {telemetry.ATTR_LUCI_PROJECT: project})
            for project, count in sorted(self.sample.active_runs.items())
        ]

    def _divergence(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.sample is None:
            return []
        observations = []
        for project, (only_cqdaemon, only_cv) in sorted(self.sample.divergence.items()):
            observations.append(
                Observation(
                    only_cqdaemon, {telemetry.ATTR_LUCI_PROJECT: project, "cv.side": "cqdaemon"}
                )
            )
            observations.append(
                Observation(only_cv, {telemetry.ATTR_LUCI_PROJECT: project, "cv.side": "cv"})
            )
        return observations

    def _outbox_rows(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.sample is None:
            return []
        return [
            Observation(self.sample.outbox_pending, {"cv.outbox.state": "pending"}),
            Observation(self.sample.outbox_dead, {"cv.outbox.state": "dead"}),
        ]

    def _oldest_age(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.sample is None:
            return []
        oldest = self.sample.oldest_pending
        age = (self._clock() - oldest).total_seconds() if oldest else 0.0
        return [Observation(max(age, 0.0))]

    def _queue_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        if self.sample is None:
            return []
        return [Observation(self.sample.queue_depth)]
