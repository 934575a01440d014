"""A/B: two builds of cvmigrate side by side, each phase interleaved, on the same machine.

    python -m bench.ab --a DIR [--b DIR] [--trials N] [--phase bursts|mix|both]
                       [--a-env K=V ...] [--b-env K=V ...]

A and B are source trees (a checkout with `src/` and `sql/`, e.g. `git worktree add /tmp/base
HEAD~1`); B defaults to this tree. Each side gets its own copy of one seeded database and is
started as `cvmigrate serve` with `PYTHONPATH=<tree>/src` (the installed dependencies are
shared), plus its `--x-env` variables. Every trial runs A then B (B then A on odd trials):

- `bursts`: a FetchRunStatus burst and a ReportVerifiedRun burst (concurrency 8) per side; both
  sides report the same Runs verified (their databases are separate copies), so each write is
  a first, durable one on both;
- `mix`: the closed-loop CQDaemon mix (bench/cqdaemon.py) per side, each with its own daemons
  (after one unrecorded second of it per side).

It prints, per side, every trial and the medians: rpc/s, server CPU per call, and for bursts
the ReportVerifiedRun / FetchRunStatus ratio. On these noisy 2-core machines only the
comparison within one run means something: an A/A run (the same tree twice) shows the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.client import open_session
from bench.cqdaemon import Daemon, DaemonStats
from bench.pbgen import ROOT
from bench.run import MIX_WARM_UP_S, Bench, flush_to_disk, log
from bench.scenario import SCENARIOS
from bench.servers import start_cvmigrate, write_config

__all__ = ["main"]

_SIDES = ("A", "B")


def _env_pairs(values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep:
            raise SystemExit(f"--a-env/--b-env take KEY=VALUE, not {value!r}")
        pairs[key] = rest
    return pairs


def _tree(path: str) -> Path:
    tree = Path(path).resolve()
    if not (tree / "src" / "cvmigrate").is_dir() or not (tree / "sql" / "sqlite").is_dir():
        raise SystemExit(f"{tree} is not a cvmigrate source tree (no src/cvmigrate or sql/sqlite)")
    return tree


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


async def _trials(bench: Bench, phase: str, trials: int) -> dict[str, dict[str, list[Any]]]:
    results: dict[str, dict[str, list[Any]]] = {side: {} for side in _SIDES}
    async with open_session(64) as session:
        if phase in ("mix", "both"):
            for side in _SIDES:  # not recorded, as in Bench.mix_vs_bare
                await bench._mix(side, session, seconds=MIX_WARM_UP_S)
        for trial in range(trials):
            order = _SIDES if trial % 2 == 0 else tuple(reversed(_SIDES))
            # The same Runs for both sides (separate databases): first reports on each.
            verified = None
            if phase in ("bursts", "both"):
                verified = bench.verified_requests(bench.scenario.burst_count)
            for side in order:
                server = bench.servers[side]
                if phase in ("bursts", "both"):
                    client = bench.client(session, side)
                    for method in ("FetchRunStatus", "ReportVerifiedRun"):
                        result = await bench.measured_burst(
                            client, server, method, bench.scenario.burst_concurrency, verified
                        )
                        results[side].setdefault(method, []).append(
                            (result["rpc_per_s"], result["server_cpu_us_per_call"])
                        )
                if phase in ("mix", "both"):
                    result = await bench._mix(side, session)
                    results[side].setdefault("mix", []).append(
                        (
                            result["rpc_per_s"],
                            result["server_cpu_us_per_call"],
                            result["server_loop_cpu_us_per_call"],
                            result["server_loop_util"],
                        )
                    )
            log(f"trial {trial + 1}/{trials} done")
    return results


def _print(results: dict[str, dict[str, list[Any]]], bench: Bench) -> None:
    for side in _SIDES:
        print(f"{side}:")
        for name, values in results[side].items():
            rates = [v[0] for v in values]
            cpu = [v[1] for v in values]
            loop = ""
            if len(values[0]) > 2:  # the mix: the event loop's own share too
                loop_cpu = _median([v[2] for v in values])
                loop = f", event loop {loop_cpu} us (busy {_median([v[3] for v in values])})"
            print(
                f"  {name:18s} rpc/s {rates} median {_median(rates)};"
                f" server CPU/call median {_median(cpu)} us{loop}"
            )
        reads = results[side].get("FetchRunStatus")
        writes = results[side].get("ReportVerifiedRun")
        if reads and writes:
            ratios = [w[0] / r[0] for w, r in zip(writes, reads, strict=True)]
            of_medians = _median([w[0] for w in writes]) / _median([r[0] for r in reads])
            print(
                f"  ReportVerifiedRun / FetchRunStatus: median of pairs {_median(ratios)},"
                f" of medians {of_medians:.3f}"
            )
        stats = bench.daemon_stats.get(side)
        if stats is not None and stats.pool_exhausted:
            print(f"  POOL EXHAUSTED in {stats.pool_exhausted} iterations: another mix")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("--a", required=True, help="source tree A (src/ and sql/)")
    parser.add_argument("--b", default=str(ROOT), help="source tree B (default: this tree)")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--phase", choices=("bursts", "mix", "both"), default="both")
    parser.add_argument("--a-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    trees = {"A": _tree(args.a), "B": _tree(args.b)}
    envs = {"A": _env_pairs(args.a_env), "B": _env_pairs(args.b_env)}
    # Bursts of 500: every trial uses fresh Runs on both sides, and the seed has 4,000.
    scenario = dataclasses.replace(SCENARIOS["default"], burst_count=500, mix_s=4.0)
    if args.phase != "mix" and args.trials * scenario.burst_count > scenario.plan.burst_runs:
        raise SystemExit(f"at most {scenario.plan.burst_runs // scenario.burst_count} trials")
    with tempfile.TemporaryDirectory(prefix="cvmigrate-ab-") as tmp:
        workdir = Path(tmp)
        bench = Bench(scenario, workdir)
        bench.prepare()
        try:
            for side in _SIDES:
                db = workdir / f"{side}.db"
                shutil.copyfile(workdir / "pristine.db", db)
                config = write_config(workdir / f"{side}.toml", db, bench.dataset.token_digests())
                env = {"PYTHONPATH": str(trees[side] / "src"), **envs[side]}
                bench.servers[side] = start_cvmigrate(side, workdir, config, env=env)
                stats = bench.daemon_stats[side] = DaemonStats()
                bench.daemons[side] = [
                    Daemon(p, bench.pb, bench.dataset.pools[p], bench.dataset.host, stats)
                    for p in bench.dataset.mix_projects
                ]
            flush_to_disk()  # the two copies, before any trial (bench/run.py)
            log(f"A = {trees['A']} {envs['A'] or ''}; B = {trees['B']} {envs['B'] or ''}")
            results = asyncio.run(_trials(bench, args.phase, args.trials))
        finally:
            bench.stop_servers()
        _print(results, bench)


if __name__ == "__main__":
    main()
