"""Operator gauges: active runs, ReportRuns divergence, outbox and run-manager queue."""

from __future__ import annotations

from datetime import timedelta

from harness import TelemetryCapture
from support import T0, change_info, create_run

from cvmigrate.gauges import GaugeSampler
from cvmigrate.runs.status import Status
from cvmigrate.store import events, outbox, reports
from cvmigrate.store.db import Database


def _points(capture: TelemetryCapture, name: str) -> dict[tuple, float]:
    return {tuple(sorted(p.attributes.items())): p.value for p in capture.metric_points(name)}


async def test_gauges_report_the_last_sample(tmp_path):
    capture = TelemetryCapture.install()
    db = await Database.open(tmp_path / "cv.db")
    try:
        runs = [await db.write(create_run, changes=[change_info(n)]) for n in (1, 2)]
        await db.write(create_run, project="v8", changes=[change_info(3)])
        await db.write(create_run, changes=[change_info(4)], status=Status.PENDING)
        await db.write(
            reports.put_reported_runs, "chromium", [runs[0].attempt_key, "cqdonly"], b"", T0
        )
        await db.write(outbox.enqueue_row, "run-a", "{}", T0)
        await db.write(outbox.enqueue_row, "run-b", "{}", T0 + timedelta(minutes=5))
        row = (await db.read(lambda c: outbox.list_rows(c)))[1]
        await db.write(outbox.mark_dead, row, "invalid")
        await db.write(events.enqueue_event, runs[0].id, "cqd_finished", T0)

        sampler = GaugeSampler(db, clock=lambda: T0 + timedelta(minutes=10), interval=3600)
        await sampler.run_once()
    finally:
        await db.close()

    active = _points(capture, "cv.runs.active")
    assert active[(("cv.luci_project", "chromium"),)] == 2
    assert active[(("cv.luci_project", "v8"),)] == 1
    diverged = _points(capture, "cv.report_runs.divergence")
    assert diverged[(("cv.luci_project", "chromium"), ("cv.side", "cqdaemon"))] == 1
    assert diverged[(("cv.luci_project", "chromium"), ("cv.side", "cv"))] == 1
    rows = _points(capture, "cv.outbox.rows")
    assert rows[(("cv.outbox.state", "pending"),)] == 1
    assert rows[(("cv.outbox.state", "dead"),)] == 1
    assert _points(capture, "cv.outbox.oldest_pending_age")[()] == 600.0
    assert _points(capture, "cv.run_manager.queue_depth")[()] == 1
