"""FetchActiveRuns keeps its answer per project and encoding until a write changes it.

Each change that can alter an answer must be seen on the next call (the answer equals
one built without the cache); writes that cannot alter it must not cost a rebuild.
"""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from conftest_helpers import ctx_for
from support import (
    T0,
    Dep,
    DepKind,
    as_upb,
    change_info,
    create_run,
    execute_sql,
    put_cl,
    set_status,
)

from cvmigrate.migration.fetch_active_runs import ActiveRunsCache, fetch_active_runs
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import JsonStyle, encode_binary, encode_json
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import reports
from cvmigrate.store import runs as runs_store

REQUEST = as_upb(migration_pb.FetchActiveRunsRequest(luci_project="chromium"))
ENCODERS = {
    "pb": encode_binary,
    "json": lambda answer: encode_json(answer, JsonStyle.PROTO3),
    "twirp_json": lambda answer: encode_json(answer, JsonStyle.TWIRP),
}


@pytest.fixture
def cached(deps):
    return dataclasses.replace(deps, active_runs_cache=ActiveRunsCache())


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """Projects whose answer was built from the Runs (not taken from the cache)."""
    calls: list[str] = []
    real = runs_store.load_active_runs

    def counting(conn, project, **kw):
        calls.append(project)
        return real(conn, project, **kw)

    monkeypatch.setattr(runs_store, "load_active_runs", counting)
    return calls


async def _answer(deps, encoding: str = "pb", request=REQUEST) -> bytes:
    ctx = ctx_for()
    ctx.response_encoding = encoding
    return ENCODERS[encoding](await fetch_active_runs(request, ctx, deps))


async def _fresh(deps, encoding: str = "pb") -> bytes:
    """The answer built without any cache."""
    return await _answer(dataclasses.replace(deps, active_runs_cache=None), encoding)


def _run_ids(body: bytes) -> list[str]:
    return [run.id for run in migration_pb.FetchActiveRunsResponse.parse(body).active_runs]


async def test_an_unchanged_answer_is_not_built_again(db, cached, builds):
    run = await db.write(create_run, changes=[change_info(1)])
    for encoding in ENCODERS:
        first = await _answer(cached, encoding)
        again = await _answer(cached, encoding)
        assert again == first == await _fresh(cached, encoding)
    assert _run_ids(await _answer(cached)) == [run.id]
    # One build per encoding for the cached handler, plus the three uncached ones.
    assert builds == ["chromium"] * 6


async def test_each_project_is_kept_apart(db, make_deps, builds):
    await db.write(create_run, changes=[change_info(1)])
    await db.write(create_run, project="v8", changes=[change_info(2)])
    v8 = as_upb(migration_pb.FetchActiveRunsRequest(luci_project="v8"))
    wide = dataclasses.replace(make_deps(cross_project=True), active_runs_cache=ActiveRunsCache())
    await _answer(wide)
    await _answer(wide, request=v8)
    # A new chromium Run changes chromium's answer only.
    await db.write(create_run, changes=[change_info(3)])
    builds.clear()
    await _answer(wide, request=v8)
    assert builds == []
    assert len(_run_ids(await _answer(wide))) == 2
    assert builds == ["chromium"]


# Each change is a module-level function (conn, run, dep), as Database.write requires.


def _new_run(c: sqlite3.Connection, run: Run, dep: int) -> None:
    create_run(c, changes=[change_info(9)])


def _run_ended(c: sqlite3.Connection, run: Run, dep: int) -> None:
    set_status(c, run.id, Status.SUCCEEDED)


def _run_reported_verified(c: sqlite3.Connection, run: Run, dep: int) -> None:
    reports.insert_verified_if_absent(c, run.id, b"", T0)


def _delayed_cancel(c: sqlite3.Connection, run: Run, dep: int) -> None:
    c.execute("UPDATE runs SET delay_cancel_until = 1 WHERE id = ?", (run.id,))


def _dep_snapshot_changed(c: sqlite3.Connection, run: Run, dep: int) -> None:
    put_cl(c, change_info(dep, patchset=2))


CHANGES = {
    "a new Run": _new_run,
    "the Run ended": _run_ended,
    "the Run was reported verified": _run_reported_verified,
    "a delayed cancel": _delayed_cancel,
    "a dependency's snapshot changed": _dep_snapshot_changed,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("encoding", sorted(ENCODERS))
async def test_a_change_is_seen_on_the_next_call(db, cached, change, encoding):
    dep_id, _ = await db.write(put_cl, change_info(100))
    run = await db.write(
        create_run, changes=[change_info(101)], deps={101: [Dep(cl_id=dep_id, kind=DepKind.SOFT)]}
    )
    before = await _answer(cached, encoding)
    await db.write(CHANGES[change], run, 100)
    after = await _answer(cached, encoding)
    assert after == await _fresh(cached, encoding)
    assert after != before


async def test_a_write_by_another_process_is_seen(db, cached, tmp_path):
    run = await db.write(create_run, changes=[change_info(1)])
    assert _run_ids(await _answer(cached)) == [run.id]
    # Another connection to the file, as `cvmigrate` commands or a second process would.
    path = await db.read(lambda c: c.execute("PRAGMA database_list").fetchone()[2])
    other = sqlite3.connect(path, isolation_level=None)
    try:
        set_status(other, run.id, Status.CANCELLED)
    finally:
        other.close()
    assert _run_ids(await _answer(cached)) == []


async def test_writes_that_cannot_change_the_answer_cost_no_rebuild(db, cached, builds):
    running = await db.write(create_run, changes=[change_info(1)])
    ended = await db.write(create_run, changes=[change_info(2)], status=Status.SUCCEEDED)
    await _answer(cached)
    builds.clear()
    await db.write(reports.insert_verified_if_absent, ended.id, b"", T0)
    await db.write(
        execute_sql,
        "UPDATE runs SET update_time = 5, end_message = 'x' WHERE id = ?",
        (running.id,),
    )
    await db.write(reports.put_reported_runs, "chromium", ["k"], b"", T0)
    assert _run_ids(await _answer(cached)) == [running.id]
    assert builds == []


def test_the_triggers_running_status_is_status_running():
    # sql/sqlite/0003 writes RUNNING as the number 2.
    assert int(Status.RUNNING) == 2


def test_the_cache_keeps_at_most_max_entries():
    from cvmigrate.migration.fetch_active_runs import EncodedAnswer

    cache = ActiveRunsCache(max_entries=2)
    for project in ("a", "b", "c"):
        cache.put(project, "pb", (1, 1), EncodedAnswer("pb", project.encode()))
    assert cache.get("a", "pb", (1, 1)) is None  # the oldest went first
    assert cache.get("c", "pb", (1, 1)) == EncodedAnswer("pb", b"c")
    assert cache.get("c", "pb", (2, 1)) is None  # another version: not this answer


async def test_a_failed_answer_is_not_kept(db, cached):
    from conftest_helpers import expect_error

    from cvmigrate.rpc.codes import Code
    from cvmigrate.store import cls as cls_store

    # A dependency known by ID only (no snapshot yet): the call fails, nothing is kept.
    dep_id = await db.write(cls_store.get_or_create_clid, "h", 200, T0)
    await db.write(
        create_run, changes=[change_info(201)], deps={201: [Dep(cl_id=dep_id, kind=DepKind.HARD)]}
    )
    await expect_error(Code.INTERNAL, _answer(cached))
    # Its first snapshot (no version bump: see sql/sqlite/0003) makes the next call work.
    await db.write(put_cl, change_info(200), host="h")
    assert await _answer(cached) == await _fresh(cached)
