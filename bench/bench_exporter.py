"""Exporter throughput against the local BigQuery emulator's raw insert rate, in one run.

    make bench-exporter                      # or: .venv/bin/python bench/bench_exporter.py
    make bench-exporter ARGS="--rows 20000 --rounds 5"

Starts the emulator (tests/bq_emulator.py: 127.0.0.1, free ports, a temporary data dir) and
alternates, round by round, two ways of streaming the same number of realistic rows
(2 CLs, 3 builds, ~1.3 KB of JSON each) in requests of `--batch-rows`:

- raw: `BigQuerySink.insert_rows` in a loop, rows already in memory (the emulator's rate);
- exporter: `run_once` over rows waiting in a SQLite outbox, i.e. reading batches, parsing
  row_json, inserting off the event loop and marking rows sent in committed transactions.

Each round uses fresh tables and fresh insertIds, so nothing is de-duplicated away. The two
runs of a round are back to back, so the per-round ratio exporter/raw cancels most of the
machine's load swings; the median of those ratios is the result. Prints it with the median
rates and writes everything to bench/results/bench_exporter-<UTC time>.json. Bounded: no
round starts after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the emulator launcher lives with the tests

from bq_emulator import LocalBigQuery  # noqa: E402

from cvmigrate.config import BigQuerySettings  # noqa: E402
from cvmigrate.export.exporter import run_once  # noqa: E402
from cvmigrate.export.rows import attempt_to_row  # noqa: E402
from cvmigrate.export.sink import BigQuerySink  # noqa: E402
from cvmigrate.proto import bigquery as bigquery_pb  # noqa: E402
from cvmigrate.store import outbox  # noqa: E402
from cvmigrate.store.db import Database  # noqa: E402

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_row(n: int, prefix: str) -> dict[str, Any]:
    """A realistic row: 2 CLs, 3 builds, every column set."""
    start = T0 + timedelta(seconds=n)
    attempt = bigquery_pb.Attempt(
        key=f"{n:016x}",
        luci_project="chromium",
        cl_group_key=f"{n * 7:016x}",
        equivalent_cl_group_key=f"{n * 11:016x}",
        start_time=start,
        end_time=start + timedelta(minutes=40),
        gerrit_changes=[
            bigquery_pb.GerritChange(
                host="chromium-review.googlesource.com",
                project="chromium/src",
                change=5_000_000 + n * 2 + i,
                patchset=3,
                earliest_equivalent_patchset=2,
                trigger_time=start,
                mode=bigquery_pb.Mode.FULL_RUN,
                submit_status=bigquery_pb.GerritChangeSubmitStatus.SUCCESS,
            )
            for i in range(2)
        ],
        builds=[
            bigquery_pb.Build(
                id=8_700_000_000_000_000_000 + n * 3 + i,
                host="cr-buildbucket.appspot.com",
                origin=bigquery_pb.BuildOrigin.NOT_REUSED,
                critical=True,
            )
            for i in range(3)
        ],
        status=bigquery_pb.AttemptStatus.SUCCESS,
        substatus=bigquery_pb.AttemptSubstatus.NO_SUBSTATUS,
        config_group="main",
    )
    return attempt_to_row(attempt, insert_id=f"{prefix}-{n:016x}")


def new_table(emulator: LocalBigQuery, name: str, batch_rows: int) -> BigQuerySink:
    settings = BigQuerySettings(
        enabled=True,
        project=emulator.project,
        dataset="bench",
        table=name,
        api_endpoint=emulator.endpoint,
        batch_rows=batch_rows,
        retry_deadline_s=30,
        request_timeout_s=30,
    )
    sink = BigQuerySink(settings)
    sink.create_table()
    return sink


def bench_raw(sink: BigQuerySink, rows: list[dict[str, Any]], batch_rows: int) -> float:
    """Seconds to stream `rows` with the sink directly."""
    started = time.perf_counter()
    for first in range(0, len(rows), batch_rows):
        batch = rows[first : first + batch_rows]
        errors = sink.insert_rows(batch, [row["insert_id"] for row in batch])
        if errors:
            raise RuntimeError(f"raw insert failed: {errors[:1]}")
    return time.perf_counter() - started


async def bench_exporter(sink: BigQuerySink, rows: list[dict[str, Any]], workdir: Path) -> float:
    """Seconds for `run_once` to send `rows` from a SQLite outbox (enqueueing not timed)."""
    db = await Database.open(workdir / "outbox.db")
    try:

        def enqueue(conn: Any) -> None:
            for row in rows:
                outbox.enqueue_row(conn, row["insert_id"], json.dumps(row, sort_keys=True), T0)

        await db.write(enqueue)
        started = time.perf_counter()
        result = await run_once(db, sink, sink.settings, clock=lambda: datetime.now(UTC))
        elapsed = time.perf_counter() - started
        if result.sent != len(rows):
            raise RuntimeError(f"exporter sent {result.sent} of {len(rows)}: {result.error}")
        return elapsed
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per measurement")
    parser.add_argument("--batch-rows", type=int, default=500, help="rows per insert request")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each kind")
    parser.add_argument("--max-seconds", type=float, default=120, help="start no round after")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    started = time.monotonic()
    raw_rates: list[float] = []
    exporter_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-exporter-") as tmp:
        workdir = Path(tmp)
        emulator = LocalBigQuery(workdir / "bq", log_path=workdir / "bq.log").start()
        try:
            for round_number in range(args.rounds):
                if time.monotonic() - started > args.max_seconds:
                    print(f"time budget spent after {round_number} round(s)")
                    break
                rows = [make_row(n, f"raw{round_number}") for n in range(args.rows)]
                sink = new_table(emulator, f"raw_{round_number}", args.batch_rows)
                raw_rates.append(args.rows / bench_raw(sink, rows, args.batch_rows))
                sink.close()

                rows = [make_row(n, f"exp{round_number}") for n in range(args.rows)]
                sink = new_table(emulator, f"exporter_{round_number}", args.batch_rows)
                round_dir = workdir / f"round{round_number}"
                round_dir.mkdir()
                seconds = asyncio.run(bench_exporter(sink, rows, round_dir))
                exporter_rates.append(args.rows / seconds)
                sink.close()
                print(
                    f"round {round_number + 1}: raw {raw_rates[-1]:,.0f} rows/s, "
                    f"exporter {exporter_rates[-1]:,.0f} rows/s, "
                    f"ratio {exporter_rates[-1] / raw_rates[-1]:.2f}"
                )
        finally:
            emulator.stop()
    if not raw_rates or not exporter_rates:
        print("no complete round")
        return 1

    raw = statistics.median(raw_rates)
    exporter = statistics.median(exporter_rates)
    ratios = [e / r for e, r in zip(exporter_rates, raw_rates, strict=True)]
    ratio = statistics.median(ratios)
    row_bytes = len(json.dumps(make_row(0, "size"), sort_keys=True))
    report = {
        "benchmark": "bench_exporter",
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows_per_round": args.rows,
        "batch_rows": args.batch_rows,
        "row_json_bytes": row_bytes,
        "rounds": len(exporter_rates),
        "raw_rows_per_s": [round(rate) for rate in raw_rates],
        "exporter_rows_per_s": [round(rate) for rate in exporter_rates],
        "raw_median_rows_per_s": round(raw),
        "exporter_median_rows_per_s": round(exporter),
        "ratio_per_round": [round(value, 3) for value in ratios],
        "exporter_to_raw_ratio_median": round(ratio, 3),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }
    print(
        f"median of {len(exporter_rates)} round(s), {args.rows} rows of {row_bytes} B, "
        f"{args.batch_rows} per request: raw {raw:,.0f} rows/s, exporter {exporter:,.0f} rows/s, "
        f"ratio (median per round) {ratio:.2f}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"bench_exporter-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
