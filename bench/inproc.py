"""The RPC path's own CPU per call, without HTTP: cvmigrate's ASGI app driven in-process.

    python -m bench.inproc [--calls N] [--concurrency C] [--rounds R] [--profile SORT]
                           [--methods FetchRunStatus,...]

Seeds the default dataset once, builds the app from a config on a copy of it, and calls each
method `--calls` times (in `--rounds` rounds, `--concurrency` at a time) with realistic
requests (bench/data.py): FetchActiveRuns (kept answer), FetchRunStatus, a 50-attempt
ReportRuns and first ReportVerifiedRuns. It prints the process CPU per call of the cheapest
and the median round: hypercorn's share is left out, so this shows what a change to the RPC
path saves, where the HTTP benchmark's noise would hide a few microseconds. The writer
process's CPU counts (the event loop's own share is shown too); the load's own work
(building requests) is done before timing.
`--profile tottime` (or `cumulative`) prints cProfile's top functions per method as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.cqdaemon import reported_run
from bench.run import Bench
from bench.scenario import SCENARIOS

__all__ = ["main"]

METHODS = ("FetchActiveRuns", "FetchRunStatus", "ReportRuns", "ReportVerifiedRun")
_STARTED = 1


def _cpu_seconds(children: list[psutil.Process]) -> tuple[float, float]:
    """CPU time of this process (the event loop) and of `children` (the database writer
    process; found once, since listing them scans every process on the machine)."""
    total = 0.0
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            total += times.user + times.system
    return time.process_time(), total


def _requests(bench: Bench, method: str, count: int) -> list[tuple[str, bytes]]:
    """(project, body) per call, built as the benchmark builds them (bench/run.py);
    ReportVerifiedRun names a different ended Run each time (first reports)."""
    project = bench.dataset.mix_projects[0]
    if method == "FetchActiveRuns":
        return [bench.far_request(project)(0)]
    if method == "FetchRunStatus":
        return [bench.fetch_status_request(index) for index in range(50)]
    if method == "ReportRuns":
        runs = [
            reported_run(bench.pb, t, bench.dataset.host, _STARTED)
            for t in bench.dataset.pools[project][:50]
        ]
        return [(project, bench.pb.migration.ReportRunsRequest(runs=runs).SerializeToString())]
    verified = bench.verified_requests(count)
    return [verified(index) for index in range(count)]


class _App:
    """The ASGI app with its lifespan started; `call` makes one pRPC binary request."""

    def __init__(self, app: Any, tokens: dict[str, str]) -> None:
        self.app = app
        self.tokens = tokens
        self._lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup"):
                started.set()

        await self._lifespan.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
        self._task = asyncio.create_task(self.app(scope, self._lifespan.get, send))
        await asyncio.wait_for(started.wait(), 30)

    async def stop(self) -> None:
        await self._lifespan.put({"type": "lifespan.shutdown"})
        if self._task is not None:
            await self._task

    async def call(self, method: str, project: str, body: bytes) -> int:
        media = b"application/prpc; encoding=binary"
        headers = [
            (b"host", b"bench"),
            (b"content-type", media),
            (b"accept", media),
            (b"authorization", f"Bearer {self.tokens[project]}".encode()),
            (b"content-length", b"%d" % len(body)),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": f"/prpc/migration.Migration/{method}",
            "raw_path": b"",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        code = dict(sent[0]["headers"]).get(b"x-prpc-grpc-code", b"-1")
        return int(code)


async def _measure(app: _App, method: str, bodies: list[tuple[str, bytes]], args: Any) -> None:
    per_round = args.calls // args.rounds
    codes: dict[int, int] = {}
    rounds: list[float] = []
    loop_rounds: list[float] = []
    profile = cProfile.Profile() if args.profile else None
    position = 0
    children = psutil.Process().children(recursive=True)
    for _ in range(args.rounds):
        todo = iter(range(position, position + per_round))
        position += per_round

        async def worker(todo: Any = todo) -> None:
            for index in todo:
                project, body = bodies[index % len(bodies)]
                code = await app.call(method, project, body)
                codes[code] = codes.get(code, 0) + 1

        if profile is not None:
            profile.enable()
        loop_cpu, writer_cpu = _cpu_seconds(children)
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        loop_after, writer_after = _cpu_seconds(children)
        loop_rounds.append((loop_after - loop_cpu) / per_round * 1e6)
        rounds.append(loop_rounds[-1] + (writer_after - writer_cpu) / per_round * 1e6)
        if profile is not None:
            profile.disable()
    print(
        f"{method:18s} CPU per call: min {min(rounds):6.1f} µs, median"
        f" {statistics.median(rounds):6.1f} µs (event loop alone: min {min(loop_rounds):6.1f},"
        f" median {statistics.median(loop_rounds):6.1f}) over {args.rounds} rounds; codes {codes}"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.profile).print_stats(25)


async def _run(args: Any, workdir: Path) -> None:
    from cvmigrate.app import create_app
    from cvmigrate.config import load_settings

    plan = dataclasses.replace(SCENARIOS["default"].plan, mix_pool=200)
    bench = Bench(dataclasses.replace(SCENARIOS["default"], plan=plan), workdir)
    bench.prepare()
    settings = load_settings(bench.config_path, environ={})
    app = _App(create_app(settings, environ={}), bench.dataset.tokens)
    await app.start()
    try:
        for method in args.methods.split(","):
            if method not in METHODS:
                raise SystemExit(f"--methods: {method!r} is not one of {', '.join(METHODS)}")
            await _measure(app, method, _requests(bench, method, args.calls), args)
    finally:
        await app.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.inproc", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", default="", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cvmigrate-inproc-") as tmp:
        asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    main()
