"""`python -m bench [--scenario default|quick|hypercorn|tracing] [--protocol prpc|twirp|connect]`,
or `python -m bench --burst METHOD [--count N] [--concurrency C]` for one RPC alone.

Runs the scenario against real servers on 127.0.0.1 and writes
`bench/results/<scenario>-<timestamp>.json` (and `latest-<scenario>.json`), the chart
`bench/results/<scenario>-<timestamp>.png`, and prints the targets table.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.hypercorn_study import run_hypercorn_study
from bench.pbgen import ROOT
from bench.report import evaluate, render_table, write_chart, write_json
from bench.run import BURST_METHODS, Bench, log
from bench.scenario import SCENARIOS
from bench.tracing_study import run_tracing_study

__all__ = ["main"]

RESULTS = ROOT / "bench" / "results"


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("cvmigrate", "hypercorn", "starlette", "betterproto2", "aiosqlite", "protobuf")
    found = {name: version(name) for name in names}
    for optional in ("connectrpc", "aiohttp", "uvloop"):
        try:
            found[optional] = version(optional)
        except Exception:  # an optional extra that is not installed
            found[optional] = "absent"
    return found


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' + uncommitted src changes' if dirty else ''}"


async def _phases(bench: Bench) -> None:
    await bench.mix_vs_bare()
    if bench.scenario.open_fractions:
        await bench.open_sweep()
    await bench.bursts()
    await bench.peer()
    await bench.growth()
    bench.codec()
    bench.memory()


def run_default(scenario_name: str, protocol: str, workdir: Path) -> dict[str, Any]:
    """Every phase of bench/run.py; returns the results (targets included)."""
    scenario = dataclasses.replace(SCENARIOS[scenario_name], protocol=protocol)
    bench = Bench(scenario, workdir)
    bench.prepare()
    bench.startup()
    try:
        bench.start_servers()
        asyncio.run(_phases(bench))
    finally:
        bench.stop_servers()
    # Last, alone on the machine (the other servers stopped): the event-loop stall probe.
    asyncio.run(bench.stall())
    bench.daemon_summary()
    results = bench.results
    results["targets"] = [t.to_json() for t in evaluate(results)]
    return results


def run_burst(
    scenario_name: str, protocol: str, workdir: Path, method: str, count: int, concurrency: int
) -> dict[str, Any]:
    """Burst mode: seed, start `cvmigrate serve`, and call one RPC `count` times from
    `concurrency` workers (at most `mix_s * 4` seconds); returns the summary."""
    scenario = dataclasses.replace(SCENARIOS[scenario_name], protocol=protocol)
    bench = Bench(scenario, workdir)
    bench.prepare()
    try:
        bench.start_servers(only_cvmigrate=True)
        result = asyncio.run(bench.single_burst(method, count, concurrency))
    finally:
        bench.stop_servers()
    return {"burst": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
    parser.add_argument("--protocol", default="prpc", choices=("prpc", "twirp", "connect"))
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch folder (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument(
        "--burst",
        metavar="METHOD",
        choices=BURST_METHODS,
        help="burst mode: only this RPC, closed loop (see --count, --concurrency)",
    )
    parser.add_argument("--count", type=int, default=2000, help="burst mode: calls")
    parser.add_argument("--concurrency", type=int, default=8, help="burst mode: workers")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="cvbench-") as temp:
        workdir = args.workdir or Path(temp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.burst:
            results = run_burst(
                args.scenario, args.protocol, workdir, args.burst, args.count, args.concurrency
            )
        elif args.scenario == "hypercorn":
            results = run_hypercorn_study(SCENARIOS["hypercorn"], args.protocol, workdir)
        elif args.scenario == "tracing":
            results = run_tracing_study(SCENARIOS["tracing"], args.protocol, workdir)
        else:
            results = run_default(args.scenario, args.protocol, workdir)
    results["meta"] = {
        "command": shlex.join(
            [
                Path(sys.executable).name,
                "-m",
                "bench",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "scenario": args.scenario,
        "protocol": args.protocol,
        "date": stamp,
        "git": _git_revision(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_cpu_count()} cores",
        "versions": _versions(),
        "wall_s": round(time.perf_counter() - started, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    results["title"] = (
        f"cvmigrate {args.scenario} ({args.protocol}), {stamp}, git {results['meta']['git']}"
    )
    base = args.out / f"{f'burst-{args.burst}' if args.burst else args.scenario}-{stamp}"
    write_json(base.with_suffix(".json"), results)
    write_json(args.out / f"latest-{args.scenario}.json", results)
    chart = base.with_suffix(".png")
    if write_chart(chart, results):
        log(f"chart: {chart}")
    log(f"results: {base.with_suffix('.json')} ({results['meta']['wall_s']} s)")
    if results.get("targets"):
        from bench.report import Target

        print(render_table([Target(**t) for t in results["targets"]]))
    for study in ("hypercorn", "tracing"):
        if study in results:
            print(json.dumps(results[study]["summary"], indent=1))
    if "burst" in results:
        burst = results["burst"]
        print(json.dumps({k: v for k, v in burst.items() if k != "methods"}, indent=1))
    return 0


def _cpu_count() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
