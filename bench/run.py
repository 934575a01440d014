"""The default benchmark: every phase, each comparison interleaved in the same run.

Phases (this process is the load client; every server is a subprocess on 127.0.0.1):
seed → start-up time → CQDaemon mix, cvmigrate vs the bare endpoint (closed loop) →
open-loop sweep (latency against offered load) → write vs read bursts → the connectrpc
peer → FetchActiveRuns growth → codec comparison → memory → event-loop stall probe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench import pbgen
from bench.client import Recorder, RpcClient, open_session
from bench.codec import compare_codecs
from bench.cqdaemon import Daemon, DaemonStats, reported_run
from bench.load import burst, closed_loop, open_loop
from bench.scenario import Scenario
from bench.seed import Dataset, TargetRun, seed_database
from bench.servers import Server, start_app, start_cvmigrate, write_config
from bench.stats import CpuWindow, latency_summary, median, summarize

__all__ = ["BURST_METHODS", "MIX_WARM_UP_S", "Bench", "flush_to_disk"]

_STARTED = 1
_SUCCESS = 2
_ACTION_SUBMIT = 1
_ACTION_DRY_RUN_OK = 2
_MIB = 1024 * 1024
MIX_WARM_UP_S = 1.0
"""Unrecorded mix before the trials (Bench.mix_vs_bare)."""
COLD_ENV = {"CVMIGRATE_SERVER_FETCH_ACTIVE_RUNS_CACHE": "false"}
"""A cvmigrate server that rebuilds every FetchActiveRuns answer ([server] setting)."""
BURST_METHODS = ("FetchActiveRuns", "FetchRunStatus", "ReportRuns", "ReportVerifiedRun")


def log(message: str) -> None:
    """Progress on stderr (results go to the JSON file and the final table), with the
    machine's 1-minute load average: other work on it shows up there."""
    load = os.getloadavg()[0]
    print(
        f"[bench {time.strftime('%H:%M:%S')} load {load:.1f}] {message}",
        file=sys.stderr,
        flush=True,
    )


class Targets:
    """Hands out seeded Runs; burst targets are used once each (first reports only)."""

    def __init__(self, dataset: Dataset) -> None:
        self._burst = list(reversed(dataset.burst))
        self.ended = dataset.ended_runs()

    def take_burst(self, count: int) -> list[TargetRun]:
        taken = [self._burst.pop() for _ in range(min(count, len(self._burst)))]
        if len(taken) < count:
            raise RuntimeError(f"out of burst targets: wanted {count}, had {len(taken)}")
        return taken


def flush_to_disk() -> None:
    """Write the seeded files out now. Left to the kernel, their ~2 GB of dirty pages were
    flushed in one go ~30 s later, in the middle of a mix trial (/proc/meminfo: Dirty 1.5 GB
    → 0 within a trial), slowing that trial's fsyncs and writes by up to ~370 ms."""
    started = time.perf_counter()
    os.sync()
    log(f"seeded files written to disk in {time.perf_counter() - started:.1f} s")


class Bench:
    """State shared by the phases of one benchmark run."""

    def __init__(self, scenario: Scenario, workdir: Path) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self.results: dict[str, Any] = {}
        self.servers: dict[str, Server] = {}
        self.pb: SimpleNamespace
        self.dataset: Dataset
        self.config_path: Path
        self.pristine_config: Path
        self.cold_config: Path
        self.targets: Targets
        self.daemons: dict[str, list[Daemon]] = {}
        self.daemon_stats: dict[str, DaemonStats] = {}

    async def measured_burst(
        self,
        client: Any,
        server: Server,
        method: str,
        concurrency: int,
        verified: Callable[[int], tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """A FetchRunStatus or ReportVerifiedRun burst against `server`, with its CPU.
        ReportVerifiedRun reports `verified` (default: Runs not reported before)."""
        scenario = self.scenario
        if method == "FetchRunStatus":
            request: Any = self.fetch_status_request
        else:
            request = verified or self.verified_requests(scenario.burst_count)
        cpu = CpuWindow([server])
        with cpu.measure():
            recorder = await burst(
                client,
                method,
                request,
                count=scenario.burst_count,
                concurrency=concurrency,
                seconds=scenario.burst_s,
            )
        return summarize(recorder, cpu)

    # ---- set-up ----

    def prepare(self) -> None:
        """Generate the official runtime's modules, seed the database, write the config."""
        started = time.perf_counter()
        self.pb = pbgen.load(pbgen.generate(self.workdir / "pb"))
        log(f"seeding {self.scenario.plan.run_count} runs ...")
        self.dataset = seed_database(self.workdir / "cvmigrate.db", self.scenario.plan)
        (self.workdir / "dataset.json").write_text(json.dumps(self.dataset.to_json()))
        self.config_path = write_config(
            self.workdir / "cvmigrate.toml",
            Path(self.dataset.db_path),
            self.dataset.token_digests(),
        )
        # An untouched copy for the server started last (stall probe): the earlier phases'
        # writes leave thousands of run-manager events that a new server would work through
        # at start-up (the manager polls once when it starts).
        pristine = self.workdir / "pristine.db"
        shutil.copyfile(self.dataset.db_path, pristine)
        self.pristine_config = write_config(
            self.workdir / "pristine.toml", pristine, self.dataset.token_digests()
        )
        # The cold server (FetchActiveRuns cache off) reads its own untouched copy.
        cold = self.workdir / "cold.db"
        shutil.copyfile(self.dataset.db_path, cold)
        self.cold_config = write_config(
            self.workdir / "cold.toml", cold, self.dataset.token_digests()
        )
        self.targets = Targets(self.dataset)
        flush_to_disk()
        db_bytes = Path(self.dataset.db_path).stat().st_size
        self.results["dataset"] = {
            "runs": self.dataset.total_runs,
            "cls": self.dataset.total_cls,
            "db_mib": round(db_bytes / _MIB, 1),
            "mix_projects": len(self.dataset.mix_projects),
            "mix_running_runs_per_project": self.scenario.plan.mix_runs,
            "seed_s": round(time.perf_counter() - started, 1),
        }
        log(f"seeded in {self.results['dataset']['seed_s']} s")

    def start_servers(self, *, only_cvmigrate: bool = False) -> None:
        """cvmigrate, the bare endpoint (answers captured from cvmigrate) and the peer."""
        self.servers["cvmigrate"] = start_cvmigrate("cvmigrate", self.workdir, self.config_path)
        self.results["rss_idle_mib"] = round(self.servers["cvmigrate"].rss_bytes() / _MIB, 1)
        if only_cvmigrate:
            return
        canned = self.workdir / "canned.json"
        asyncio.run(self._capture_canned(canned))
        self.servers["bare"] = start_app(
            "bare", self.workdir, "bare", env={"BENCH_CANNED": str(canned)}
        )
        self.servers["peer"] = start_app(
            "peer",
            self.workdir,
            "peer",
            env={
                "BENCH_PB_DIR": str(self.workdir / "pb"),
                "BENCH_DATASET": str(self.workdir / "dataset.json"),
            },
        )
        # cvmigrate with FetchActiveRuns answers rebuilt on every call: the cost-growth target
        # and the peer comparison read the work itself, not the kept answer.
        self.servers["cold"] = start_cvmigrate(
            "cold", self.workdir, self.cold_config, env=dict(COLD_ENV)
        )
        for kind in ("cvmigrate", "bare"):
            stats = self.daemon_stats[kind] = DaemonStats()
            self.daemons[kind] = [
                Daemon(
                    project,
                    self.pb,
                    self.dataset.pools[project],
                    self.dataset.host,
                    stats,
                    recycle=kind == "bare",
                )
                for project in self.dataset.mix_projects
            ]

    def stop_servers(self) -> None:
        for server in self.servers.values():
            server.stop()

    def client(self, session: Any, kind: str, protocol: str | None = None) -> RpcClient:
        return RpcClient(
            session,
            self.servers[kind].base_url,
            protocol or self.scenario.protocol,
            self.dataset.tokens,
        )

    # ---- request builders ----

    def fetch_status_request(self, index: int) -> tuple[str, bytes]:
        target = self.targets.ended[index % len(self.targets.ended)]
        message = self.pb.migration.FetchRunStatusRequest(
            luci_project=target.project, cv_id=target.run_id, attempt_key=target.attempt_key
        )
        return target.project, message.SerializeToString()

    def verified_request(self, target: TargetRun) -> tuple[str, bytes]:
        run = reported_run(self.pb, target, self.dataset.host, _SUCCESS)
        action = _ACTION_SUBMIT if target.mode == "FULL_RUN" else _ACTION_DRY_RUN_OK
        message = self.pb.migration.ReportVerifiedRunRequest(
            run=run, action=action, final_message=f'Run "{target.run_id}" passed.'
        )
        return target.project, message.SerializeToString()

    def verified_requests(self, count: int) -> Callable[[int], tuple[str, bytes]]:
        bodies = [self.verified_request(t) for t in self.targets.take_burst(count)]
        return lambda index: bodies[index]

    def far_request(self, project: str) -> Callable[[int], tuple[str, bytes]]:
        body = self.pb.migration.FetchActiveRunsRequest(luci_project=project).SerializeToString()
        return lambda index: (project, body)

    async def _capture_canned(self, path: Path) -> None:
        """One real answer per method from cvmigrate, for the bare endpoint to replay."""
        pb = self.pb.migration
        project = self.dataset.mix_projects[0]
        pool = self.dataset.pools[project]
        async with open_session(4) as session:
            client = self.client(session, "cvmigrate")
            requests = {
                "FetchActiveRuns": (project, self.far_request(project)(0)[1]),
                "ReportRuns": (
                    project,
                    pb.ReportRunsRequest(
                        runs=[reported_run(self.pb, t, self.dataset.host, _STARTED) for t in pool]
                    ).SerializeToString(),
                ),
                "FetchRunStatus": self.fetch_status_request(0),
                "ReportVerifiedRun": self.verified_request(self.targets.take_burst(1)[0]),
            }
            calls = [(method, who, body, False) for method, (who, body) in requests.items()]
            # Per request too: FetchActiveRuns of each CQDaemon project and of each far-*
            # project (the growth phase). Each mix project gets its own answer, as from
            # cvmigrate: one ~0.5 MB answer replayed for all of them stays in the CPU's
            # cache, and copying it to the socket cost the bare endpoint half as much as
            # copying eight different ones (perf, bench/README.md).
            for project in (*self.dataset.mix_projects, *self.dataset.far_projects.values()):
                calls.append(("FetchActiveRuns", project, self.far_request(project)(0)[1], True))
            canned = []
            for index, (method, who, body, per_request) in enumerate(calls):
                async with session.post(
                    f"{self.servers['cvmigrate'].base_url}{client.path(method)}",
                    data=body,
                    headers=client.headers(who),
                ) as response:
                    payload = await response.read()
                    code = response.headers.get("X-Prpc-Grpc-Code")
                    if response.status != 200:
                        raise RuntimeError(
                            f"capturing {method}: HTTP {response.status} {payload!r}"
                        )
                    body_file = f"canned-{index}.bin"
                    (path.parent / body_file).write_bytes(payload)
                    canned.append(
                        {
                            "path": client.path(method),
                            "request_sha1": hashlib.sha1(body).hexdigest() if per_request else None,  # noqa: S324
                            "status": response.status,
                            "content_type": response.headers["Content-Type"],
                            "body_file": body_file,
                            "grpc_code": int(code) if code is not None else None,
                        }
                    )
        path.write_text(json.dumps(canned), encoding="utf-8")  # noqa: ASYNC240 (once, small)

    # ---- phases ----

    async def _mix(self, kind: str, session: Any, **kw: Any) -> dict[str, Any]:
        server = self.servers[kind]
        client = self.client(session, kind)
        cpu = CpuWindow([server])
        with cpu.measure():
            if "rate" in kw:
                recorder = await open_loop(
                    self.daemons[kind], client, rate=kw["rate"], seconds=kw["seconds"]
                )
            else:
                recorder = await closed_loop(
                    self.daemons[kind],
                    client,
                    seconds=kw.get("seconds", self.scenario.mix_s),
                    max_iterations=self.scenario.max_iterations,
                )
        return summarize(recorder, cpu)

    async def mix_vs_bare(self) -> None:
        """Closed-loop CQDaemon mix on cvmigrate and on the bare endpoint, interleaved."""
        trials: dict[str, list[dict[str, Any]]] = {"cvmigrate": [], "bare": []}
        async with open_session(64) as session:
            # Not recorded: a second of the mix on each server first, so that no trial pays
            # for filling cvmigrate's FetchActiveRuns answers and page cache, or the pool.
            for kind in ("cvmigrate", "bare"):
                await self._mix(kind, session, seconds=MIX_WARM_UP_S)
            for trial in range(self.scenario.trials):
                for kind in ("cvmigrate", "bare"):
                    result = await self._mix(kind, session)
                    trials[kind].append(result)
                    log(
                        f"mix trial {trial + 1} {kind}: {result['rpc_per_s']} rpc/s, "
                        f"p99 {result['all']['p99_ms']} ms, server cpu {result['server_cpu_util']}"
                        f" (event loop {result['server_loop_util']})"
                    )
        ours = median([t["rpc_per_s"] for t in trials["cvmigrate"]])
        bare = median([t["rpc_per_s"] for t in trials["bare"]])
        per_iteration = median(
            [t["calls"] / max(t.get("iterations", 1), 1) for t in trials["cvmigrate"]]
        )
        self.results["mix"] = {
            "trials": trials,
            "cvmigrate_rpc_per_s": ours,
            "bare_rpc_per_s": bare,
            "ratio": round(ours / bare, 3),
            "rpcs_per_iteration": round(per_iteration, 2),
            "cvmigrate_cpu_us_per_call": median(
                [t["server_cpu_us_per_call"] for t in trials["cvmigrate"]]
            ),
            "bare_cpu_us_per_call": median([t["server_cpu_us_per_call"] for t in trials["bare"]]),
            # One load process drives both: if the bare server is not busy, the client was the
            # limit and the bare number (hence the ratio's denominator) is a lower bound.
            "bare_server_cpu_util": median([t["server_cpu_util"] for t in trials["bare"]]),
            # The event-loop thread's share of the wall time: near 1.0, it was the limit;
            # well below, it waited (for requests, for the GIL, or for a core).
            "cvmigrate_loop_util": median([t["server_loop_util"] for t in trials["cvmigrate"]]),
            "bare_loop_util": median([t["server_loop_util"] for t in trials["bare"]]),
            # The throughput ratio is about (our busy / bare's busy) x (bare's / our CPU per
            # call on the event-loop thread): which of the two falls short.
            "cvmigrate_loop_cpu_us_per_call": median(
                [t["server_loop_cpu_us_per_call"] for t in trials["cvmigrate"]]
            ),
            "bare_loop_cpu_us_per_call": median(
                [t["server_loop_cpu_us_per_call"] for t in trials["bare"]]
            ),
            "bare_client_cpu_util": median([t["client_cpu_util"] for t in trials["bare"]]),
        }
        mix = self.results["mix"]
        mix["cpu_per_call_ratio"] = round(
            mix["bare_cpu_us_per_call"] / mix["cvmigrate_cpu_us_per_call"], 3
        )

    async def open_sweep(self) -> None:
        """Open loop at fractions of cvmigrate's maximum, each rate on both servers in turn."""
        mix = self.results["mix"]
        max_iterations_per_s = mix["cvmigrate_rpc_per_s"] / mix["rpcs_per_iteration"]
        points: list[dict[str, Any]] = []
        async with open_session(64) as session:
            for fraction in self.scenario.open_fractions:
                rate = fraction * max_iterations_per_s
                seconds = self.scenario.half_load_s if fraction == 0.5 else self.scenario.open_s
                for kind in ("cvmigrate", "bare"):
                    result = await self._mix(kind, session, rate=rate, seconds=seconds)
                    offered = result.get("offered_iterations_per_s", rate)
                    result.update(
                        server=kind,
                        fraction=fraction,
                        offered_rpc_per_s=round(offered * mix["rpcs_per_iteration"], 1),
                    )
                    points.append(result)
                    log(
                        f"open loop {fraction:.0%} {kind}: offered {result['offered_rpc_per_s']}"
                        f" rpc/s, p50 {result['all']['p50_ms']} p99 {result['all']['p99_ms']} ms"
                    )
        self.results["open_loop"] = points

    async def bursts(self) -> None:
        """FetchRunStatus (read) and ReportVerifiedRun (durable write) bursts, interleaved;
        at the scenario's concurrency (the target) and at 4x that (group commit grows)."""
        scenario = self.scenario
        server = self.servers["cvmigrate"]
        levels = (scenario.burst_concurrency, scenario.burst_concurrency * 4)
        trials: dict[int, dict[str, list[dict[str, Any]]]] = {
            level: {"FetchRunStatus": [], "ReportVerifiedRun": []} for level in levels
        }
        async with open_session(max(levels)) as session:
            client = self.client(session, "cvmigrate")
            for trial in range(scenario.burst_trials):
                for level in levels if trial == 0 else levels[:1]:
                    for method in trials[level]:
                        result = await self.measured_burst(client, server, method, level)
                        trials[level][method].append(result)
                        log(f"burst {method} x{level}: {result['rpc_per_s']} rpc/s")
        summary: dict[str, Any] = {"concurrency": scenario.burst_concurrency}
        for level in levels:
            reads = median([t["rpc_per_s"] for t in trials[level]["FetchRunStatus"]])
            writes = median([t["rpc_per_s"] for t in trials[level]["ReportVerifiedRun"]])
            summary[f"x{level}"] = {
                "trials": trials[level],
                "fetch_run_status_per_s": reads,
                "report_verified_run_per_s": writes,
                "ratio": round(writes / reads, 3),
            }
        base = summary[f"x{scenario.burst_concurrency}"]
        summary.update(
            {k: base[k] for k in ("fetch_run_status_per_s", "report_verified_run_per_s", "ratio")}
        )
        self.results["bursts"] = summary

    async def peer(self) -> None:
        """FetchActiveRuns (100 runs × 3 CLs) and ReportVerifiedRun over Connect:
        cvmigrate vs connectrpc 0.13 + upb, interleaved; FetchActiveRuns also on the cold
        server (answers rebuilt each call, as the peer does)."""
        scenario = self.scenario
        project = self.dataset.far_projects[max(p for p in self.dataset.far_projects if p <= 100)]
        methods = {"FetchActiveRuns": scenario.peer_far_count, "ReportVerifiedRun": 0}
        methods["ReportVerifiedRun"] = scenario.peer_rvr_count
        kinds = {
            "FetchActiveRuns": ("cvmigrate", "cold", "peer"),
            "ReportVerifiedRun": ("cvmigrate", "peer"),
        }
        trials: dict[str, dict[str, list[dict[str, Any]]]] = {
            method: {kind: [] for kind in kinds[method]} for method in methods
        }
        async with open_session(4) as session:
            for _ in range(scenario.trials):
                for method, count in methods.items():
                    for kind in kinds[method]:
                        client = self.client(session, kind, "connect")
                        if method == "FetchActiveRuns":
                            request = self.far_request(project)
                        else:
                            request = self.verified_requests(count)
                        cpu = CpuWindow([self.servers[kind]])
                        with cpu.measure():
                            recorder = await burst(
                                client,
                                method,
                                request,
                                count=count,
                                concurrency=4,
                                seconds=scenario.burst_s,
                            )
                        result = summarize(recorder, cpu)
                        trials[method][kind].append(result)
                        log(f"peer {method} {kind}: {result['rpc_per_s']} rpc/s")
        summary: dict[str, Any] = {"trials": trials, "project": project, "protocol": "connect"}
        for method in methods:
            ours = median([t["rpc_per_s"] for t in trials[method]["cvmigrate"]])
            peer = median([t["rpc_per_s"] for t in trials[method]["peer"]])
            summary[method] = {
                "cvmigrate_per_s": ours,
                "peer_per_s": peer,
                "ratio": round(ours / peer, 3),
                "cvmigrate_cpu_us_per_call": median(
                    [t["server_cpu_us_per_call"] for t in trials[method]["cvmigrate"]]
                ),
                "peer_cpu_us_per_call": median(
                    [t["server_cpu_us_per_call"] for t in trials[method]["peer"]]
                ),
            }
            if "cold" in trials[method]:
                cold = median([t["rpc_per_s"] for t in trials[method]["cold"]])
                summary[method].update(
                    cold_per_s=cold,
                    cold_ratio=round(cold / peer, 3),
                    cold_cpu_us_per_call=median(
                        [t["server_cpu_us_per_call"] for t in trials[method]["cold"]]
                    ),
                )
        self.results["peer"] = summary

    async def growth(self) -> None:
        """FetchActiveRuns latency for 10, 100, 1000 runs (x 3 CLs), sizes interleaved, on
        cvmigrate with every answer rebuilt (the cold server: the cost of the work, not of
        a kept answer) and on the bare endpoint replaying the same answers (what sending
        them costs the stack alone)."""
        sizes = sorted(self.dataset.far_projects)
        kinds = ("cold", "bare")
        samples: dict[tuple[str, int], list[float]] = {(k, n): [] for k in kinds for n in sizes}
        cpu_samples: dict[tuple[str, int], list[float]] = {(k, n): [] for k in kinds for n in sizes}
        nbytes: dict[int, int] = {}
        async with open_session(2) as session:
            clients = {kind: self.client(session, kind) for kind in kinds}
            for _ in range(self.scenario.linear_repeats + 1):  # the first round warms up
                for size in sizes:
                    project = self.dataset.far_projects[size]
                    for kind in kinds:
                        server = self.servers[kind]
                        # Several calls per round (about as many runs at each size, and at
                        # least two), their median: one call of the largest size swung the
                        # per-run ratio by ±20% from run to run.
                        latencies = []
                        before = server.cpu_seconds()
                        for _ in range(max(2, 1000 // size)):
                            result = await clients[kind].call(
                                "FetchActiveRuns", project, self.far_request(project)(0)[1]
                            )
                            if result.code != 0:
                                raise RuntimeError(f"FetchActiveRuns({project}): {result.code}")
                            latencies.append(result.latency)
                            nbytes[size] = len(result.body)
                        cpu_samples[(kind, size)].append(
                            (server.cpu_seconds() - before) / len(latencies)
                        )
                        samples[(kind, size)].append(median(latencies))
        result: dict[str, Any] = {}
        for kind in kinds:
            rows = {
                size: {
                    "latency_ms": round(median(samples[(kind, size)][1:]) * 1000, 2),
                    # psutil's CPU times tick every 10 ms: the mean over the repeats
                    "server_cpu_ms": round(
                        sum(cpu_samples[(kind, size)][1:])
                        / len(cpu_samples[(kind, size)][1:])
                        * 1000,
                        2,
                    ),
                    "response_mib": round(nbytes[size] / _MIB, 2),
                }
                for size in sizes
            }
            entry: dict[str, Any] = {"sizes": rows}
            if len(sizes) >= 3:
                small, middle, large = sizes[0], sizes[len(sizes) // 2], sizes[-1]
                first = (rows[middle]["latency_ms"] - rows[small]["latency_ms"]) / (middle - small)
                second = (rows[large]["latency_ms"] - rows[middle]["latency_ms"]) / (large - middle)
                entry.update(
                    marginal_ms_per_run={
                        f"{small}-{middle}": round(first, 4),
                        f"{middle}-{large}": round(second, 4),
                    },
                    marginal_ratio=round(second / first, 3) if first > 0 else None,
                )
            if len(sizes) >= 2:
                # Time per Run at the largest size over time per Run at the one before: 1.0
                # is linear; the smallest size is mostly per-call overhead, so not this test.
                before_last, last = sizes[-2], sizes[-1]
                entry["per_run_growth"] = round(
                    (rows[last]["latency_ms"] / last)
                    / (rows[before_last]["latency_ms"] / before_last),
                    3,
                )
            result[kind] = entry
            log(f"growth {kind}: {rows}")
        # The target reads the top level: cvmigrate's own numbers (every answer rebuilt).
        self.results["growth"] = {**result["cold"], "bare": result["bare"]}

    def codec(self) -> None:
        project = self.dataset.far_projects[max(p for p in self.dataset.far_projects if p <= 100)]
        self.results["codec"] = compare_codecs(
            Path(self.dataset.db_path), project, self.pb, self.scenario.codec_repeats
        )
        log(f"codec: {self.results['codec']['encode_ms']}")

    def memory(self) -> None:
        server = self.servers["cvmigrate"]
        self.results["memory"] = {
            "runs_in_store": self.dataset.total_runs,
            "rss_idle_mib": self.results.get("rss_idle_mib"),
            "rss_after_load_mib": round(server.rss_bytes() / _MIB, 1),
            "peak_rss_mib": round(server.peak_rss_bytes() / _MIB, 1),
        }
        log(f"memory: {self.results['memory']}")

    def startup(self) -> None:
        """`cvmigrate serve` from exec to a 200 on /healthz, with the seeded store."""
        times = []
        for index in range(self.scenario.startup_repeats):
            server = start_cvmigrate(f"startup{index}", self.workdir, self.config_path)
            times.append(server.startup_s)
            server.stop()
        self.results["startup"] = {
            "samples_s": [round(t, 3) for t in times],
            "median_s": round(median(times), 3),
        }
        log(f"start-up: {self.results['startup']}")

    async def stall(self) -> None:
        """Event-loop lag inside cvmigrate (CVMIGRATE_DEBUG_LOOP_LAG=1, a server of its own)
        with FetchRunStatus alone, alongside FetchActiveRuns (100 runs × 3 CLs) at
        concurrency 2, and under the CQDaemon mix at full speed; plus the light calls'
        latency in each case."""
        # Cache off: FetchActiveRuns alongside is the full build each time (the worst case).
        server = start_cvmigrate(
            "stall",
            self.workdir,
            self.pristine_config,
            env={"CVMIGRATE_DEBUG_LOOP_LAG": "1", **COLD_ENV},
        )
        project = self.dataset.far_projects[max(p for p in self.dataset.far_projects if p <= 100)]
        self.servers["stall"] = server
        seconds = self.scenario.stall_s
        stats = DaemonStats()
        # Pool Runs from the other end than the main server's daemons take them.
        daemons = [
            Daemon(p, self.pb, self.dataset.pools[p][:60][::-1], self.dataset.host, stats)
            for p in self.dataset.mix_projects
        ]
        phases: dict[str, Any] = {}
        try:
            async with open_session(16) as session:
                client = self.client(session, "stall")
                for label in ("alone", "with_fetch_active_runs", "cqdaemon_mix"):
                    _lag(server, reset=True)
                    jobs = []
                    if label != "cqdaemon_mix":
                        jobs.append(
                            burst(
                                client,
                                "FetchRunStatus",
                                self.fetch_status_request,
                                count=1_000_000,
                                concurrency=1,
                                seconds=seconds,
                            )
                        )
                    if label == "with_fetch_active_runs":
                        jobs.append(
                            burst(
                                client,
                                "FetchActiveRuns",
                                self.far_request(project),
                                count=1_000_000,
                                concurrency=2,
                                seconds=seconds,
                            )
                        )
                    if label == "cqdaemon_mix":
                        jobs.append(
                            closed_loop(daemons, client, seconds=seconds, max_iterations=20_000)
                        )
                    recorders: list[Recorder] = await asyncio.gather(*jobs)
                    phases[label] = {
                        "loop_lag": _lag(server, reset=True),
                        **{
                            method: latency_summary(values)
                            for recorder in recorders
                            for method, values in sorted(recorder.latencies.items())
                        },
                    }
                    log(f"stall {label}: {phases[label]['loop_lag']}")
        finally:
            server.stop()
            del self.servers["stall"]
        self.results["stall"] = {"project": project, **phases}

    async def single_burst(self, method: str, count: int, concurrency: int) -> dict[str, Any]:
        """Burst mode: `count` calls of one RPC by `concurrency` workers, closed loop."""
        project = self.dataset.mix_projects[0]
        requests: dict[str, Callable[[int], tuple[str, bytes]]] = {
            "FetchActiveRuns": self.far_request(project),
            "FetchRunStatus": self.fetch_status_request,
            "ReportRuns": self.report_runs_request(project),
        }
        if method == "ReportVerifiedRun":
            available = len(self.dataset.burst) - 1
            count = min(count, available)
            requests[method] = self.verified_requests(count)
        server = self.servers["cvmigrate"]
        async with open_session(concurrency) as session:
            client = self.client(session, "cvmigrate")
            cpu = CpuWindow([server])
            with cpu.measure():
                recorder = await burst(
                    client,
                    method,
                    requests[method],
                    count=count,
                    concurrency=concurrency,
                    seconds=self.scenario.mix_s * 4,
                )
        result = {"method": method, "concurrency": concurrency, **summarize(recorder, cpu)}
        p99 = result["all"]["p99_ms"]
        log(f"burst {method} x{concurrency}: {result['rpc_per_s']} rpc/s, p99 {p99} ms")
        return result

    def report_runs_request(self, project: str) -> Callable[[int], tuple[str, bytes]]:
        """ReportRuns of `mix_runs` attempts of `project` (the size a daemon sends)."""
        pool = self.dataset.pools[project][: self.scenario.plan.mix_runs]
        body = self.pb.migration.ReportRunsRequest(
            runs=[reported_run(self.pb, t, self.dataset.host, _STARTED) for t in pool]
        ).SerializeToString()
        return lambda index: (project, body)

    def daemon_summary(self) -> None:
        self.results["daemons"] = {kind: vars(stats) for kind, stats in self.daemon_stats.items()}


def _lag(server: Server, *, reset: bool) -> dict[str, Any]:
    url = f"{server.base_url}/debug/loop-lag{'?reset=1' if reset else ''}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (127.0.0.1 only)
        return json.loads(response.read())  # type: ignore[no-any-return]
