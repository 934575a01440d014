"""The codec side by side, in this process: the same FetchActiveRuns response encoded by
cvmigrate's splicing (`ActiveRunsResponse.to_binary`), by the official protobuf runtime
(upb, the codec's limit) and by betterproto2 (what splicing avoids).

Also the whole answer as the server builds it (read the Runs from SQLite, then encode)
next to the way the connectrpc peer builds it (read, parse each stored RunCL with upb,
serialize); the store read with every stored encoding vs only the one answered; decoding a
ReportRuns request (betterproto2 vs upb); and betterproto2's JSON encoding with and without
a cache for its type hints (a dependency cost: `Message._type_hints` calls
`typing.get_type_hints` on every `to_dict`, compiling the forward references each time).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import betterproto2

from bench.stats import median
from cvmigrate.migration.fetch_active_runs import ActiveRunsResponse, EncodedActiveRun
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.migration import migration_pb2
from cvmigrate.rpc.codec import JsonStyle, decode_binary
from cvmigrate.rpc.upb_codec import decode_binary_upb
from cvmigrate.store import runs as runs_store

__all__ = ["compare_codecs", "load_response"]


def _time(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of `repeats` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return median(samples)


def load_response(conn: sqlite3.Connection, project: str) -> ActiveRunsResponse:
    """The project's binary FetchActiveRuns answer as the handler builds it (no fyi_deps
    here: the far-* projects have no dependencies outside their Runs)."""
    rows = runs_store.load_active_runs(conn, project, encoding="pb")
    active = []
    for row in rows:
        own = {cl.cl_id for cl in row.cls}
        if any(dep not in own for dep in row.dep_ids):
            raise ValueError(f"{project}: fyi deps are not supported by this measurement")
        active.append(EncodedActiveRun(run_id=row.run_id, cls=row.cls, fyi_deps=()))
    return ActiveRunsResponse(tuple(active))


def _peer_build(conn: sqlite3.Connection, project: str, pb: SimpleNamespace) -> bytes:
    response = pb.migration.FetchActiveRunsResponse()
    for row in runs_store.load_active_runs(conn, project, encoding="pb"):
        run = response.active_runs.add(id=row.run_id)
        for cl in row.cls:
            run.cls.add().MergeFromString(cl.pb)
    return response.SerializeToString()  # type: ignore[no-any-return]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def _store_reads(conn: sqlite3.Connection, project: str, repeats: int) -> dict[str, Any]:
    """`load_active_runs` reading every stored encoding (as before issue 8's fix) vs only
    the binary one that a pRPC answer needs."""
    every_s = _time(lambda: runs_store.load_active_runs(conn, project), repeats)
    try:
        one_s = _time(lambda: runs_store.load_active_runs(conn, project, encoding="pb"), repeats)
    except TypeError:  # a build without the `encoding` parameter
        return {"all_encodings_ms": _ms(every_s)}
    return {
        "all_encodings_ms": _ms(every_s),
        "binary_only_ms": _ms(one_s),
        "speed_up": round(every_s / one_s, 2),
    }


def _report_runs_decode(pb: SimpleNamespace, runs: int, repeats: int) -> dict[str, Any]:
    """Decoding a ReportRunsRequest of `runs` attempts (2 CLs each): what cvmigrate pays
    (rpc/upb_codec.py: upb plus the checks that keep betterproto2's verdicts), the strict
    betterproto2 decode it replaced, and upb alone."""
    changes = [
        pb.bigquery.GerritChange(
            host="chromium-review.googlesource.com",
            project="chromium/src",
            change=4_000_000 + i,
            patchset=3,
            earliest_equivalent_patchset=2,
            mode=1,
        )
        for i in range(2)
    ]
    body = pb.migration.ReportRunsRequest(
        runs=[
            pb.migration.ReportedRun(
                id=f"chromium/9042331396{i:03d}-1-{i:016x}",
                attempt=pb.bigquery.Attempt(
                    key=f"{i:016x}", luci_project="chromium", status=1, gerrit_changes=changes
                ),
            )
            for i in range(runs)
        ]
    ).SerializeToString()
    ours_s = _time(
        lambda: decode_binary_upb(
            migration_pb.ReportRunsRequest, migration_pb2.ReportRunsRequest, body
        ),
        repeats,
    )
    betterproto2_s = _time(lambda: decode_binary(migration_pb.ReportRunsRequest, body), repeats)
    upb_s = _time(lambda: pb.migration.ReportRunsRequest.FromString(body), repeats)
    return {
        "runs": runs,
        "request_bytes": len(body),
        "cvmigrate_decode_ms": _ms(ours_s),
        "betterproto2_decode_ms": _ms(betterproto2_s),
        "official_upb_ms": _ms(upb_s),
        "ratio": round(ours_s / upb_s, 1),
    }


def compare_codecs(
    db_path: Path, project: str, pb: SimpleNamespace, repeats: int
) -> dict[str, Any]:
    """Encode times (ms, median of `repeats`) and their ratios for `project`'s answer."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        spliced = load_response(conn, project)
        binary = spliced.to_binary()
        official = pb.migration.FetchActiveRunsResponse.FromString(binary)
        again = official.SerializeToString()  # map entries may come in another order
        if len(again) != len(binary) or type(official).FromString(again) != official:
            raise AssertionError("upb does not read the spliced response back as it was")
        parsed = migration_pb.FetchActiveRunsResponse.parse(binary)
        splice_s = _time(spliced.to_binary, repeats)
        official_s = _time(official.SerializeToString, repeats)
        betterproto_s = _time(lambda: bytes(parsed), max(1, repeats // 20))
        splice_json_s = _time(lambda: spliced.to_json(JsonStyle.PROTO3), repeats)
        server_side_s = _time(lambda: load_response(conn, project).to_binary(), repeats)
        peer_side_s = _time(lambda: _peer_build(conn, project, pb), repeats)
        cls = sum(len(run.cls) for run in spliced.active_runs)
        info = parsed.active_runs[0].cls[0].info
        hints_cold_s = _time(info.to_dict, repeats)
        hints_cached_s = _with_cached_type_hints(lambda: _time(info.to_dict, repeats))
        store_reads = _store_reads(conn, project, repeats)
    finally:
        conn.close()
    return {
        "project": project,
        "runs": len(spliced.active_runs),
        "cls": cls,
        "response_bytes": len(binary),
        "encode_ms": {
            "cvmigrate_splice": _ms(splice_s),
            "official_upb": _ms(official_s),
            "betterproto2": _ms(betterproto_s),
            "cvmigrate_splice_json": _ms(splice_json_s),
        },
        "splice_vs_official": round(splice_s / official_s, 3),
        "betterproto2_vs_official": round(betterproto_s / official_s, 1),
        "read_and_encode_ms": {
            "cvmigrate (SQLite rows + splice)": _ms(server_side_s),
            "peer style (SQLite rows + upb parse + serialize)": _ms(peer_side_s),
        },
        "read_and_encode_vs_peer": round(server_side_s / peer_side_s, 3),
        "store_read": store_reads,
        "report_runs_decode": _report_runs_decode(pb, 50, repeats),
        "betterproto2_to_dict_ms": {
            "ChangeInfo, as released": _ms(hints_cold_s),
            "ChangeInfo, _type_hints cached": _ms(hints_cached_s),
        },
    }


def _with_cached_type_hints(measure: Callable[[], float]) -> float:
    """Run `measure` with betterproto2's `Message._type_hints` memoised per class."""
    original = betterproto2.Message.__dict__["_type_hints"]
    cache: dict[type, dict[str, type]] = {}

    def cached(cls: type[betterproto2.Message]) -> dict[str, type]:
        found = cache.get(cls)
        if found is None:
            found = cache[cls] = original.__func__(cls)
        return found

    betterproto2.Message._type_hints = classmethod(cached)  # type: ignore[method-assign,assignment]
    try:
        return measure()
    finally:
        betterproto2.Message._type_hints = original  # type: ignore[method-assign]
