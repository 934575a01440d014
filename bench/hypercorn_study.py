"""`python -m bench --scenario hypercorn`: hypercorn's options for cvmigrate, side by side.

Variants: `cvmigrate serve` (one process, asyncio: what production runs today) and
cvmigrate's app through `python -m bench.serve` with each (event loop, workers) pair of
the scenario. Every variant serves the same seeded store; each trial runs the CQDaemon mix
(closed loop), a ReportVerifiedRun burst (durable writes: with several workers each
process has its own SQLite writer, so commits contend for the file lock instead of being
grouped) and a FetchRunStatus burst, variant after variant (a different one first in each
trial), `trials` times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.client import open_session
from bench.cqdaemon import Daemon, DaemonStats
from bench.run import Bench, log
from bench.scenario import Scenario
from bench.servers import start_app, start_cvmigrate
from bench.stats import median

__all__ = ["run_hypercorn_study", "run_variant_study"]

_BASELINE = "serve (asyncio x1)"


def run_hypercorn_study(scenario: Scenario, protocol: str, workdir: Path) -> dict[str, Any]:
    """Start every hypercorn variant, run the interleaved trials, return the results."""

    def start_variants(bench: Bench) -> None:
        for index, (label, loop, workers) in enumerate(scenario.hypercorn_variants):
            bench.servers[label] = start_app(
                f"variant{index}",
                workdir,
                "cvmigrate",
                loop=loop,
                workers=workers,
                env={"CVMIGRATE_CONFIG": str(bench.config_path)},
            )

    labels = [label for label, _, _ in scenario.hypercorn_variants]
    return run_variant_study(scenario, protocol, workdir, "hypercorn", labels, start_variants)


def run_variant_study(
    scenario: Scenario,
    protocol: str,
    workdir: Path,
    key: str,
    variant_labels: list[str],
    start_variants: Callable[[Bench], None],
) -> dict[str, Any]:
    """`cvmigrate serve` (the baseline) and the variants `start_variants` adds to
    `bench.servers` under `variant_labels`, measured in interleaved trials; every rate is also
    given relative to the baseline (`vs_serve`). Results under `results[key]`."""
    import dataclasses

    bench = Bench(dataclasses.replace(scenario, protocol=protocol), workdir)
    bench.prepare()
    labels = [_BASELINE, *variant_labels]
    try:
        bench.servers[_BASELINE] = start_cvmigrate("serve", workdir, bench.config_path)
        start_variants(bench)
        for index, label in enumerate(labels):
            stats = bench.daemon_stats[label] = DaemonStats()
            # Variants share one database: no verification of RUNNING Runs (that would shrink
            # every variant's FetchActiveRuns answers), and pool Runs split between them.
            bench.daemons[label] = [
                Daemon(
                    project,
                    bench.pb,
                    _slice(pool, index, len(labels)),
                    bench.dataset.host,
                    stats,
                    verify_budget=0,
                )
                for project, pool in bench.dataset.pools.items()
            ]
        trials = asyncio.run(_trials(bench, labels))
    finally:
        bench.stop_servers()
    bench.daemon_summary()
    summary = {}
    for label in labels:
        row = {
            name: median([t[name]["rpc_per_s"] for t in trials[label]])
            for name in ("mix", "ReportVerifiedRun", "FetchRunStatus")
        }
        row["mix_server_cpu_util"] = median([t["mix"]["server_cpu_util"] for t in trials[label]])
        row["mix_p99_ms"] = median([t["mix"]["all"]["p99_ms"] for t in trials[label]])
        summary[label] = row
    base = summary[_BASELINE]
    for row in summary.values():
        row["vs_serve"] = {
            name: round(row[name] / base[name], 3)
            for name in ("mix", "ReportVerifiedRun", "FetchRunStatus")
        }
    bench.results[key] = {"trials": trials, "summary": summary}
    return bench.results


def _slice(pool: list[Any], index: int, parts: int) -> list[Any]:
    size = len(pool) // parts
    return pool[index * size : (index + 1) * size]


async def _trials(bench: Bench, labels: list[str]) -> dict[str, list[dict[str, Any]]]:
    scenario = bench.scenario
    trials: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    async with open_session(64) as session:
        for trial in range(scenario.trials):
            # A different variant goes first in each trial (no position advantage).
            for label in labels[trial % len(labels) :] + labels[: trial % len(labels)]:
                server = bench.servers[label]
                result = {"mix": await bench._mix(label, session)}
                client = bench.client(session, label)
                for method in ("ReportVerifiedRun", "FetchRunStatus"):
                    result[method] = await bench.measured_burst(
                        client, server, method, scenario.burst_concurrency
                    )
                trials[label].append(result)
                log(
                    f"trial {trial + 1} {label}: mix {result['mix']['rpc_per_s']} rpc/s, "
                    f"RVR {result['ReportVerifiedRun']['rpc_per_s']}/s, "
                    f"FRS {result['FetchRunStatus']['rpc_per_s']}/s"
                )
    return trials
