"""The report: issue 8's targets checked against one run's results, a table on stdout, the
JSON result file and the PNG chart of latency against offered load."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["Target", "evaluate", "render_table", "write_chart", "write_json"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One target: what was measured against what was asked."""

    name: str
    measured: str
    ratio: float | None
    """The ratio the target is stated in (e.g. cvmigrate / bare), None if not measured."""
    limit: str
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _open_point(results: dict[str, Any], fraction: float) -> dict[str, Any] | None:
    for point in results.get("open_loop", []):
        if point["server"] == "cvmigrate" and math.isclose(point["fraction"], fraction):
            return point  # type: ignore[no-any-return]
    return None


def evaluate(results: dict[str, Any]) -> list[Target]:
    """The targets of issue 8, each as a ratio measured in this run."""
    targets = []
    mix = results.get("mix")
    if mix:
        measured = f"{mix['cvmigrate_rpc_per_s']} vs {mix['bare_rpc_per_s']} rpc/s"
        if "cpu_per_call_ratio" in mix:
            measured += (
                f"; server CPU/call {mix['cvmigrate_cpu_us_per_call']} vs "
                f"{mix['bare_cpu_us_per_call']} us (ratio {mix['cpu_per_call_ratio']});"
                f" bare server busy {mix['bare_server_cpu_util']}"
            )
        if "cvmigrate_loop_util" in mix:
            measured += f"; event loop busy {mix['cvmigrate_loop_util']} vs {mix['bare_loop_util']}"
        if "cvmigrate_loop_cpu_us_per_call" in mix:
            measured += (
                f", its CPU/call {mix['cvmigrate_loop_cpu_us_per_call']} vs"
                f" {mix['bare_loop_cpu_us_per_call']} us"
            )
        exhausted = results.get("daemons", {}).get("cvmigrate", {}).get("pool_exhausted", 0)
        if exhausted:
            measured += f"; POOL EXHAUSTED in {exhausted} iterations: another mix, not comparable"
        targets.append(
            Target(
                name="CQDaemon mix throughput vs bare endpoint",
                measured=measured,
                ratio=mix["ratio"],
                limit=">= 0.60",
                met=mix["ratio"] >= 0.60,
            )
        )
    half = _open_point(results, 0.5)
    if half:
        p99 = half["all"]["p99_ms"]
        targets.append(
            Target(
                name="p99 at half the max load (open loop)",
                measured=f"{p99} ms at {half['offered_rpc_per_s']} rpc/s",
                ratio=round(p99 / 25.0, 3),
                limit="<= 25 ms (ratio <= 1)",
                met=p99 <= 25.0,
            )
        )
    codec = results.get("codec")
    if codec:
        encode = codec["encode_ms"]
        shape = f"{codec['runs']} runs x {codec['cls'] // max(codec['runs'], 1)} CLs"
        targets.append(
            Target(
                name=f"FetchActiveRuns encode ({shape}) vs official runtime",
                measured=f"{encode['cvmigrate_splice']} vs {encode['official_upb']} ms",
                ratio=codec["splice_vs_official"],
                limit="<= 5",
                met=codec["splice_vs_official"] <= 5.0,
            )
        )
    lags = {
        label: _get(results, "stall", label, "loop_lag")
        for label in ("with_fetch_active_runs", "cqdaemon_mix")
    }
    if all(lags.values()):
        worst = max(lag["max_ms"] for lag in lags.values())
        targets.append(
            Target(
                name="event-loop stall: FetchActiveRuns alongside other calls, and the mix",
                measured=", ".join(
                    f"{label}: max {lag['max_ms']} ms (p99 {lag['p99_ms']} ms)"
                    for label, lag in lags.items()
                ),
                ratio=round(worst / 50.0, 3),
                limit="max <= 50 ms (ratio <= 1)",
                met=worst <= 50.0,
            )
        )
    bursts = results.get("bursts")
    if bursts:
        writes, reads = bursts["report_verified_run_per_s"], bursts["fetch_run_status_per_s"]
        targets.append(
            Target(
                name="ReportVerifiedRun (durable) vs FetchRunStatus throughput",
                measured=f"{writes} vs {reads} rpc/s",
                ratio=bursts["ratio"],
                limit=">= 0.75",
                met=bursts["ratio"] >= 0.75,
            )
        )
    growth = results.get("growth")
    if growth and growth.get("per_run_growth") is not None:
        sizes = growth["sizes"]
        measured = ", ".join(f"{n} runs: {row['latency_ms']} ms" for n, row in sizes.items())
        stack = growth.get("bare", {}).get("per_run_growth")
        if stack is not None:
            measured += f" (bare endpoint sending the same answers: {stack})"
        last, before = list(sizes)[-1], list(sizes)[-2]
        targets.append(
            Target(
                name=f"FetchActiveRuns time linear in runs, rebuilt each call ({last} vs {before})",
                measured=measured,
                ratio=growth["per_run_growth"],
                limit="<= 1.25 (1.0 = linear)",
                met=growth["per_run_growth"] <= 1.25,
            )
        )
    memory = results.get("memory")
    if memory:
        peak = memory["peak_rss_mib"]
        targets.append(
            Target(
                name=f"server RSS with {memory['runs_in_store']} runs in the store (peak)",
                measured=f"{peak} MiB (now {memory['rss_after_load_mib']} MiB)",
                ratio=round(peak / 200.0, 3),
                limit="<= 200 MiB (ratio <= 1)",
                met=peak <= 200.0,
            )
        )
    startup = results.get("startup")
    if startup:
        targets.append(
            Target(
                name="start-up (exec to /healthz 200)",
                measured=f"{startup['median_s']} s",
                ratio=round(startup["median_s"] / 1.0, 3),
                limit="<= 1 s (ratio <= 1)",
                met=startup["median_s"] <= 1.0,
            )
        )
    return targets


def render_table(targets: list[Target]) -> str:
    """A plain-text table: target, measured, ratio, limit, met."""
    header = ("target", "measured", "ratio", "limit", "met")
    rows = [
        (
            t.name,
            t.measured,
            "-" if t.ratio is None else f"{t.ratio:g}",
            t.limit,
            "-" if t.met is None else ("MET" if t.met else "MISSED"),
        )
        for t in targets
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def write_chart(path: Path, results: dict[str, Any]) -> bool:
    """Latency (p50, p99) against offered load for cvmigrate and the bare endpoint, and
    cvmigrate's p99 per method; False if there is no open-loop data."""
    points = results.get("open_loop") or []
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for server, color in (("cvmigrate", "tab:blue"), ("bare", "tab:gray")):
        mine = sorted(
            (p for p in points if p["server"] == server), key=lambda p: p["offered_rpc_per_s"]
        )
        xs = [p["offered_rpc_per_s"] for p in mine]
        left.plot(xs, [p["all"]["p50_ms"] for p in mine], "o--", color=color, label=f"{server} p50")
        left.plot(xs, [p["all"]["p99_ms"] for p in mine], "o-", color=color, label=f"{server} p99")
    mix = results.get("mix", {})
    if mix.get("cvmigrate_rpc_per_s"):
        left.axvline(
            mix["cvmigrate_rpc_per_s"],
            color="tab:blue",
            linestyle=":",
            label="cvmigrate max (closed loop)",
        )
    left.axhline(25, color="tab:red", linestyle=":", label="p99 target 25 ms")
    left.set_xlabel("offered load (RPC/s, CQDaemon mix, open loop)")
    left.set_ylabel("latency (ms)")
    left.set_yscale("log")
    left.set_title("CQDaemon mix: latency vs offered load")
    left.legend(fontsize=8)
    ours = sorted(
        (p for p in points if p["server"] == "cvmigrate"), key=lambda p: p["offered_rpc_per_s"]
    )
    methods = sorted({m for p in ours for m in p["methods"]})
    for method in methods:
        xs = [p["offered_rpc_per_s"] for p in ours if method in p["methods"]]
        ys = [p["methods"][method]["p99_ms"] for p in ours if method in p["methods"]]
        right.plot(xs, ys, "o-", label=method)
    right.set_xlabel("offered load (RPC/s)")
    right.set_ylabel("p99 latency (ms)")
    right.set_yscale("log")
    right.set_title("cvmigrate p99 per method")
    right.legend(fontsize=8)
    figure.suptitle(results.get("title", "cvmigrate benchmark"), fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
