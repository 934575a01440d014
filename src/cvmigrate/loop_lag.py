"""An event-loop lag probe for benchmarks: how late the loop wakes a short timer.

Off unless `CVMIGRATE_DEBUG_LOOP_LAG=1`. When on, a task sleeps `interval` seconds in a
loop and records how much later than asked it woke up: any callback that holds the loop
(a slow encode, a blocking call) shows up as lag. `GET /debug/loop-lag` answers JSON with
the samples since the last reset (`?reset=1` starts a new window after answering):

    {"samples": 1200, "window_s": 6.0, "max_ms": 3.1, "p99_ms": 1.2, "over_50ms": 0,
     "worst": {"lag_ms": 3.1, "loop_cpu_ms": 2.9, "os_wait_ms": 0.1}, "max_loop_cpu_ms": 2.9}

Lag is wall time, so it also counts time the process was not running at all. For the worst
sample, `loop_cpu_ms` is the CPU time the loop's thread used in it (its callbacks running:
a real stall) and `os_wait_ms` the time it waited for a CPU (a busy machine, Linux only);
the rest is waiting for the GIL (held by another thread of ours) or for nothing. `gc`
counts the cyclic garbage collector's full (generation 2) passes and the longest one (they
stop every thread), and the objects frozen out of its reach (`cvmigrate serve` freezes
what exists when it starts serving).

bench/ reads it to check that FetchActiveRuns never stalls the loop (issue 8).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["ENV_VAR", "LoopLagProbe"]

ENV_VAR: Final = "CVMIGRATE_DEBUG_LOOP_LAG"
_MAX_SAMPLES: Final = 200_000  # bounded memory: ~17 minutes at 5 ms
_SCHEDSTAT: Final = "/proc/thread-self/schedstat"  # on-CPU ns, runqueue-wait ns, slices


def _os_wait_s() -> float:
    """Seconds this thread has waited for a CPU so far (0 where Linux does not say)."""
    try:
        with open(_SCHEDSTAT, "rb") as stats:  # procfs: no disk I/O
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class LoopLagProbe:
    """Samples event-loop lag while running; `snapshot` summarises the current window."""

    def __init__(self, interval: float = 0.005, stall_ms: float = 50.0) -> None:
        self.interval = interval
        self.stall_ms = stall_ms
        self._samples: list[float] = []
        self._window_start = time.monotonic()
        self._worst = (0.0, 0.0, 0.0)
        """(lag, loop CPU, OS wait) of the worst sample, in seconds."""
        self._max_cpu = 0.0
        self._gc_started = 0.0
        self._gc_passes = 0
        self._gc_max = 0.0
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc_passes += 1
            self._gc_max = max(self._gc_max, time.perf_counter() - self._gc_started)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LoopLagProbe | None:
        """A probe if `CVMIGRATE_DEBUG_LOOP_LAG=1`, else None."""
        return cls() if environ.get(ENV_VAR) == "1" else None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked, cpu, waited = loop.time(), time.thread_time(), _os_wait_s()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - asked - self.interval)
            used = time.thread_time() - cpu
            self._max_cpu = max(self._max_cpu, used)
            if lag > self._worst[0]:
                self._worst = (lag, used, _os_wait_s() - waited)
            if len(self._samples) < _MAX_SAMPLES:
                self._samples.append(lag)

    def start(self) -> None:
        """Start sampling on the running loop."""
        if self._task is None:
            self.reset()
            gc.callbacks.append(self._on_gc)
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="cvmigrate-loop-lag"
            )

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            gc.callbacks.remove(self._on_gc)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reset(self) -> None:
        """Start a new window."""
        self._samples = []
        self._window_start = time.monotonic()
        self._worst = (0.0, 0.0, 0.0)
        self._max_cpu = 0.0
        self._gc_passes = 0
        self._gc_max = 0.0

    def snapshot(self) -> dict[str, Any]:
        """Sample count, window length, max / p99 lag, stalls over `stall_ms`, the worst
        sample taken apart, and the most CPU the loop used in one sample (ms)."""
        samples = sorted(self._samples)
        p99 = samples[max(0, math.ceil(0.99 * len(samples)) - 1)] if samples else 0.0
        lag, cpu, waited = self._worst
        return {
            "samples": len(samples),
            "window_s": round(time.monotonic() - self._window_start, 3),
            "max_ms": round((samples[-1] if samples else 0.0) * 1000.0, 3),
            "p99_ms": round(p99 * 1000.0, 3),
            f"over_{self.stall_ms:g}ms": sum(1 for s in samples if s * 1000.0 > self.stall_ms),
            "worst": {
                "lag_ms": round(lag * 1000.0, 3),
                "loop_cpu_ms": round(cpu * 1000.0, 3),
                "os_wait_ms": round(waited * 1000.0, 3),
            },
            "max_loop_cpu_ms": round(self._max_cpu * 1000.0, 3),
            "gc": {
                "full_passes": self._gc_passes,
                "max_ms": round(self._gc_max * 1000.0, 3),
                "frozen_objects": gc.get_freeze_count(),
            },
        }

    def route(self) -> Route:
        """`GET /debug/loop-lag[?reset=1]`."""

        async def endpoint(request: Request) -> JSONResponse:
            body = self.snapshot()
            if request.query_params.get("reset") == "1":
                self.reset()
            return JSONResponse(body)

        return Route("/debug/loop-lag", endpoint, methods=["GET"])
