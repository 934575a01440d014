"""The codec side by side, in this process: the same FetchActiveRuns response encoded by
cvmigrate's splicing (`ActiveRunsResponse.to_binary`), by the official protobuf runtime
(upb, the codec's limit) and by betterproto2 (what splicing avoids).

Also the whole answer as the server builds it (read the Runs from SQLite, then encode)
next to the way the connectrpc peer builds it (read, parse each stored RunCL with upb,
serialize), and betterproto2's JSON encoding with and without a cache for its type hints
(a dependency cost: `Message._type_hints` calls `typing.get_type_hints` on every
`to_dict`, compiling the forward references each time).
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
from cvmigrate.rpc.codec import JsonStyle
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
    """The project's FetchActiveRuns answer as the handler builds it (no fyi_deps here:
    the far-* projects have no dependencies outside their Runs)."""
    rows = runs_store.load_active_runs(conn, project)
    active = []
    for row in rows:
        own = {cl.cl_id for cl in row.cls}
        if any(dep not in own for dep in row.dep_ids):
            raise ValueError(f"{project}: fyi deps are not supported by this measurement")
        active.append(EncodedActiveRun(run_id=row.run_id, cls=row.cls, fyi_deps=()))
    return ActiveRunsResponse(tuple(active))


def _peer_build(conn: sqlite3.Connection, project: str, pb: SimpleNamespace) -> bytes:
    response = pb.migration.FetchActiveRunsResponse()
    for row in runs_store.load_active_runs(conn, project):
        run = response.active_runs.add(id=row.run_id)
        for cl in row.cls:
            run.cls.add().MergeFromString(cl.pb)
    return response.SerializeToString()  # type: ignore[no-any-return]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


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
