"""Summaries: latency percentiles, throughput, CPU use, and medians of repeated trials."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.client import Recorder
    from bench.servers import Server

__all__ = ["CpuWindow", "median", "percentile", "summarize"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float) -> float:
    return round(value * 1000.0, 3)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """count, p50/p90/p99/max in milliseconds."""
    return {
        "count": len(values),
        "p50_ms": _ms(percentile(values, 0.50)),
        "p90_ms": _ms(percentile(values, 0.90)),
        "p99_ms": _ms(percentile(values, 0.99)),
        "max_ms": _ms(max(values)) if values else math.nan,
    }


def summarize(recorder: Recorder, cpu: CpuWindow | None = None) -> dict[str, Any]:
    """Throughput and latency per method and overall, plus CPU use if measured."""
    elapsed = max(recorder.finished - recorder.started, 1e-9)
    methods = {
        method: {**latency_summary(values), "per_s": round(len(values) / elapsed, 1)}
        for method, values in sorted(recorder.latencies.items())
    }
    everything = [v for values in recorder.latencies.values() for v in values]
    result: dict[str, Any] = {
        "seconds": round(elapsed, 3),
        "calls": recorder.calls,
        "rpc_per_s": round(recorder.calls / elapsed, 1),
        "all": latency_summary(everything),
        "methods": methods,
        "errors": {
            m: {str(c): n for c, n in codes.items()} for m, codes in recorder.errors().items()
        },
    }
    if recorder.iterations:
        result["iterations"] = len(recorder.iterations)
    if recorder.offered:
        result["offered_iterations_per_s"] = round(recorder.offered, 2)
    if cpu is not None:
        result.update(cpu.summary(recorder.calls))
    return result


def median(values: Sequence[float]) -> float:
    """Median of repeated trials (NaN for none)."""
    return statistics.median(values) if values else math.nan


class CpuWindow:
    """CPU seconds used by the server(s) and by this client process over a window."""

    def __init__(self, servers: Sequence[Server]) -> None:
        self.servers = servers
        self.server_cpu = 0.0
        self.loop_cpu = 0.0
        self.client_cpu = 0.0
        self.wall = 0.0

    @contextmanager
    def measure(self) -> Iterator[CpuWindow]:
        server_before = sum(server.cpu_seconds() for server in self.servers)
        loop_before = sum(server.loop_cpu_seconds() for server in self.servers)
        client_before = sum(os.times()[:2])
        wall_before = time.perf_counter()
        try:
            yield self
        finally:
            self.wall = time.perf_counter() - wall_before
            self.server_cpu = sum(server.cpu_seconds() for server in self.servers) - server_before
            self.loop_cpu = sum(server.loop_cpu_seconds() for server in self.servers) - loop_before
            self.client_cpu = sum(os.times()[:2]) - client_before

    def summary(self, calls: int) -> dict[str, float]:
        """Utilisation (1.0 = one core busy) and server CPU microseconds per call;
        `server_loop_util` is the event-loop thread's alone (see Server.loop_cpu_seconds)."""
        wall = max(self.wall, 1e-9)
        return {
            "server_cpu_util": round(self.server_cpu / wall, 3),
            "server_loop_util": round(self.loop_cpu / wall, 3),
            "client_cpu_util": round(self.client_cpu / wall, 3),
            "server_cpu_us_per_call": round(self.server_cpu / max(calls, 1) * 1e6, 1),
            "server_loop_cpu_us_per_call": round(self.loop_cpu / max(calls, 1) * 1e6, 1),
        }
