"""The event-loop lag probe bench/ reads: off by default, and it sees a blocked loop."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import httpx
from harness import async_wait_for, serve_in_thread

from cvmigrate.app import create_app
from cvmigrate.config import load_settings
from cvmigrate.loop_lag import ENV_VAR, LoopLagProbe


async def test_probe_reports_a_blocked_loop_as_a_stall() -> None:
    probe = LoopLagProbe(interval=0.002)
    probe.start()
    try:
        await async_wait_for(lambda: _has_samples(probe), within=5)
        time.sleep(0.08)  # noqa: ASYNC251 (holds the loop, as a slow synchronous encode would)
        await async_wait_for(lambda: _has_stall(probe), within=5)
        snapshot = probe.snapshot()
        assert snapshot["max_ms"] >= 50
        assert snapshot["over_50ms"] == 1
        # time.sleep does not use CPU: the worst sample is not the loop's own work.
        assert snapshot["worst"]["lag_ms"] == snapshot["max_ms"]
        assert snapshot["worst"]["loop_cpu_ms"] < 50
        probe.reset()
        assert probe.snapshot()["samples"] == 0
    finally:
        await probe.stop()


async def _has_samples(probe: LoopLagProbe) -> bool:
    await asyncio.sleep(0)
    return probe.snapshot()["samples"] > 0


async def _has_stall(probe: LoopLagProbe) -> bool:
    await asyncio.sleep(0)
    return probe.snapshot()["over_50ms"] > 0


def _settings(tmp_path: Path):
    config = tmp_path / "cv.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "cv.db"}"\n')
    return load_settings(config, environ={})


def test_debug_route_is_absent_by_default(tmp_path: Path) -> None:
    with serve_in_thread(create_app(_settings(tmp_path), environ={})) as url:
        assert httpx.get(f"{url}/debug/loop-lag").status_code == 404


def test_debug_route_answers_when_enabled(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path), environ={ENV_VAR: "1"})
    with serve_in_thread(app) as url:
        first = httpx.get(f"{url}/debug/loop-lag?reset=1")
        assert first.status_code == 200
        assert set(first.json()) == {
            "samples",
            "window_s",
            "max_ms",
            "p99_ms",
            "over_50ms",
            "worst",
            "max_loop_cpu_ms",
            "gc",
        }


async def test_probe_tells_the_loops_own_work_from_waiting() -> None:
    probe = LoopLagProbe(interval=0.002)
    probe.start()
    try:
        await async_wait_for(lambda: _has_samples(probe), within=5)
        busy_until = time.thread_time() + 0.08
        while time.thread_time() < busy_until:  # CPU work on the loop, as an encode would be
            pass
        await async_wait_for(lambda: _has_stall(probe), within=5)
        assert probe.snapshot()["max_loop_cpu_ms"] >= 50
    finally:
        await probe.stop()


async def test_probe_counts_full_garbage_collections() -> None:
    probe = LoopLagProbe()
    probe.start()
    try:
        gc.collect()
        assert probe.snapshot()["gc"]["full_passes"] == 1
    finally:
        await probe.stop()
    gc.collect()  # stopped: no longer counted
    assert probe.snapshot()["gc"]["full_passes"] == 1


def test_serve_freezes_start_up_objects_out_of_full_collections(server_factory) -> None:
    server = server_factory(env={ENV_VAR: "1"})
    snapshot = httpx.get(f"{server.base_url}/debug/loop-lag").json()
    assert snapshot["gc"]["frozen_objects"] > 10_000
