"""Benchmark scenarios: how much to seed and how long each phase runs (all bounded)."""

from __future__ import annotations

import dataclasses

from bench.seed import SeedPlan

__all__ = ["SCENARIOS", "Scenario"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One benchmark run. Every comparison is interleaved, `trials` times."""

    name: str
    plan: SeedPlan
    protocol: str = "prpc"
    trials: int = 3
    mix_s: float = 5.0
    """Length of one closed-loop CQDaemon trial."""
    open_fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    """Offered loads of the open-loop sweep, as fractions of the measured maximum."""
    open_s: float = 4.0
    half_load_s: float = 10.0
    """The 50% point is the p99 target: a longer window, so that its p99 rests on ~1,000
    calls rather than a handful."""
    burst_count: int = 400
    burst_trials: int = 5
    """Write vs read bursts, each pair interleaved, at `burst_concurrency` (the median is
    the result: one burst is a fraction of a second, and a single slow one, such as the
    first writes after the other phases, must not decide the ratio)."""
    burst_concurrency: int = 8
    burst_s: float = 6.0
    peer_far_count: int = 60
    peer_rvr_count: int = 250
    linear_repeats: int = 5
    stall_s: float = 6.0
    startup_repeats: int = 3
    codec_repeats: int = 30
    hypercorn_variants: tuple[tuple[str, str, int], ...] = ()
    """(label, loop, workers) for the hypercorn study; empty: not run."""

    @property
    def max_iterations(self) -> int:
        """Upper bound on CQDaemon iterations in one trial (the time bound is `mix_s`)."""
        return 20_000


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(name="default", plan=SeedPlan()),
    "quick": Scenario(
        name="quick",
        plan=SeedPlan(
            mix_projects=4,
            mix_runs=20,
            far_sizes=(10, 100),
            burst_runs=1200,
            total_runs=2500,
            mix_pool=None,
        ),
        trials=1,
        burst_trials=1,
        mix_s=2.0,
        open_fractions=(0.5,),
        open_s=2.0,
        half_load_s=2.0,
        burst_count=200,
        burst_s=3.0,
        peer_far_count=10,
        peer_rvr_count=100,
        linear_repeats=2,
        stall_s=2.0,
        startup_repeats=1,
        codec_repeats=5,
    ),
    "hypercorn": Scenario(
        name="hypercorn",
        plan=SeedPlan(
            mix_projects=8,
            mix_runs=50,
            far_sizes=(100,),
            burst_runs=3800,
            total_runs=10_000,
            mix_pool=None,
        ),
        trials=3,
        mix_s=4.0,
        burst_count=250,
        hypercorn_variants=(
            ("asyncio x1", "asyncio", 0),
            ("uvloop x1", "uvloop", 0),
            ("asyncio x2", "asyncio", 2),
            ("uvloop x2", "uvloop", 2),
        ),
    ),
    "tracing": Scenario(
        name="tracing",
        plan=SeedPlan(
            mix_projects=8,
            mix_runs=50,
            far_sizes=(100,),
            burst_runs=2000,
            total_runs=5_000,
            mix_pool=None,
        ),
        trials=3,
        mix_s=4.0,
        burst_count=250,
    ),
}
