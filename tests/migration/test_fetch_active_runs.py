"""FetchActiveRuns: RUNNING Runs newest first, frozen snapshots, fyi_deps, exclusions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest_helpers import ctx_for, expect_error
from support import (
    HOST,
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

from cvmigrate.migration.fetch_active_runs import _load as load_answer
from cvmigrate.migration.fetch_active_runs import fetch_active_runs as handler
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import JsonStyle, decode_json, encode_binary, encode_json
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.status import Status
from cvmigrate.store import reports

REQUEST = migration_pb.FetchActiveRunsRequest(luci_project="chromium")


def fetch_active_runs(request, ctx, deps):
    """The handler as the server calls it: the request parsed by upb (support.as_upb)."""
    return handler(as_upb(request), ctx, deps)


async def _fetch(deps, request=REQUEST) -> migration_pb.FetchActiveRunsResponse:
    response = await fetch_active_runs(request, ctx_for(), deps)
    return migration_pb.FetchActiveRunsResponse.parse(encode_binary(response))


async def test_fetch_active_runs_returns_running_runs_newest_first(db, deps):
    older = await db.write(create_run, changes=[change_info(1)], created_at=T0)
    newer = await db.write(
        create_run, changes=[change_info(2)], created_at=T0 + timedelta(minutes=1)
    )
    await db.write(create_run, changes=[change_info(3)], status=Status.PENDING)
    ended = await db.write(create_run, changes=[change_info(4)])
    await db.write(set_status, ended.id, Status.SUCCEEDED)
    await db.write(create_run, project="chromium-m100", changes=[change_info(5)])

    response = await _fetch(deps)
    assert [run.id for run in response.active_runs] == [newer.id, older.id]


async def test_fetch_active_runs_lists_cls_in_the_runs_order_not_by_clid(db, deps):
    # Change 20 is known first (lower CLID) but comes second in the Run.
    await db.write(put_cl, change_info(20))
    await db.write(create_run, changes=[change_info(10), change_info(20)])
    for encoding in ("pb", "json", "twirp_json"):
        ctx = ctx_for()
        ctx.response_encoding = encoding
        answer = await fetch_active_runs(REQUEST, ctx, deps)
        body = {
            "pb": encode_binary,
            "json": lambda a: encode_json(a, JsonStyle.PROTO3),
            "twirp_json": lambda a: encode_json(a, JsonStyle.TWIRP),
        }[encoding](answer)
        if encoding == "pb":
            (run,) = migration_pb.FetchActiveRunsResponse.parse(body).active_runs
            assert [cl.gc.change for cl in run.cls] == [10, 20]
        else:
            (run,) = json.loads(body)["activeRuns" if encoding == "json" else "active_runs"]
            assert [int(cl["gc"]["change"]) for cl in run["cls"]] == [10, 20]


async def test_fetch_active_runs_cl_fields_come_from_the_frozen_snapshot(db, deps):
    run = await db.write(create_run, changes=[change_info(7, voter=42)], mode="FULL_RUN")
    # A later snapshot of the CL must not change what the Run shows.
    await db.write(put_cl, change_info(7, patchset=2))

    (active,) = (await _fetch(deps)).active_runs
    (cl,) = active.cls
    assert cl.id == run.cl_ids[0]
    assert cl.gc == bigquery_pb.GerritChange(
        host=HOST,
        project="chromium/src",
        change=7,
        patchset=1,
        earliest_equivalent_patchset=1,
        mode=bigquery_pb.Mode.FULL_RUN,
    )
    assert cl.info.current_revision == "rev-000007-001"
    assert cl.files == ["a.txt"]
    assert (cl.trigger.time, cl.trigger.account_id, cl.trigger.email) == (T0, 42, "u42@example.com")
    assert active.fyi_deps == []


async def test_fetch_active_runs_hides_verified_and_delayed_cancel_runs(db, deps):
    verified = await db.write(create_run, changes=[change_info(1)])
    delayed = await db.write(create_run, changes=[change_info(2)])
    await db.write(reports.insert_verified_if_absent, verified.id, b"", T0)
    await db.write(
        execute_sql, "UPDATE runs SET delay_cancel_until = 1 WHERE id = ?", (delayed.id,)
    )
    assert (await _fetch(deps)).active_runs == []


async def test_fetch_active_runs_fyi_deps_use_current_snapshot(db, deps):
    dep_id, _ = await db.write(put_cl, change_info(100))
    run = await db.write(
        create_run, changes=[change_info(101)], deps={101: [Dep(cl_id=dep_id, kind=DepKind.HARD)]}
    )
    await db.write(put_cl, change_info(100, patchset=3))  # dep moved on

    (active,) = (await _fetch(deps)).active_runs
    assert active.id == run.id
    assert [(d.id, d.hard) for d in active.cls[0].deps] == [(dep_id, True)]
    (fyi,) = active.fyi_deps
    assert fyi.id == dep_id
    assert fyi.gc.patchset == 3 and fyi.gc.mode == bigquery_pb.Mode.MODE_UNSPECIFIED
    assert fyi.trigger is None and fyi.deps == []
    # The clients' guarantee: every dep is among cls ∪ fyi_deps.
    known = {cl.id for cl in active.cls} | {d.id for d in active.fyi_deps}
    assert all(d.id in known for cl in active.cls for d in cl.deps)


async def test_fetch_active_runs_dep_inside_the_run_is_not_fyi(db, deps):
    parent_id, _ = await db.write(put_cl, change_info(200))
    await db.write(
        create_run,
        changes=[change_info(200), change_info(201)],
        deps={201: [Dep(cl_id=parent_id, kind=DepKind.SOFT)]},
    )
    (active,) = (await _fetch(deps)).active_runs
    assert active.fyi_deps == []
    assert [(d.id, d.hard) for d in active.cls[1].deps] == [(parent_id, False)]


async def test_fetch_active_runs_spliced_encodings_equal_betterproto(db, deps):
    dep_id, _ = await db.write(put_cl, change_info(300))
    for n in (301, 302):
        await db.write(
            create_run,
            changes=[change_info(n)],
            deps={n: [Dep(cl_id=dep_id, kind=DepKind.SOFT)]},
            created_at=T0 + timedelta(seconds=n),
        )
    spliced = await fetch_active_runs(REQUEST, ctx_for(), deps)
    message = migration_pb.FetchActiveRunsResponse.parse(encode_binary(spliced))
    assert len(message.active_runs) == 2
    assert bytes(message) == encode_binary(spliced)
    for style in JsonStyle:
        assert json.loads(encode_json(spliced, style)) == json.loads(encode_json(message, style))
        assert (
            decode_json(migration_pb.FetchActiveRunsResponse, encode_json(spliced, style))
            == message
        )


async def test_fetch_active_runs_empty_encodings(db, deps):
    empty = await fetch_active_runs(REQUEST, ctx_for(), deps)
    assert encode_binary(empty) == b""
    assert encode_json(empty, JsonStyle.PROTO3) == b"{}"
    assert json.loads(encode_json(empty, JsonStyle.TWIRP)) == {"active_runs": []}


async def test_fetch_active_runs_errors(db, deps):
    await expect_error(
        Code.INVALID_ARGUMENT,
        fetch_active_runs(migration_pb.FetchActiveRunsRequest(), ctx_for(), deps),
    )
    await expect_error(
        Code.PERMISSION_DENIED,
        fetch_active_runs(migration_pb.FetchActiveRunsRequest(luci_project="v8"), ctx_for(), deps),
    )
    await expect_error(
        Code.PERMISSION_DENIED, fetch_active_runs(REQUEST, ctx_for("user:a@b.c"), deps)
    )


async def test_fetch_active_runs_reads_only_the_encoding_it_answers_in(db, deps):
    dep_id, _ = await db.write(put_cl, change_info(400))
    await db.write(
        create_run,
        changes=[change_info(401), change_info(402)],
        deps={401: [Dep(cl_id=dep_id, kind=DepKind.SOFT)]},
    )
    encoders = {
        "pb": encode_binary,
        "json": lambda response: encode_json(response, JsonStyle.PROTO3),
        "twirp_json": lambda response: encode_json(response, JsonStyle.TWIRP),
    }
    every = await fetch_active_runs(REQUEST, ctx_for(), deps)
    for encoding, encode in encoders.items():
        ctx = ctx_for()
        ctx.response_encoding = encoding
        answer = await fetch_active_runs(REQUEST, ctx, deps)
        assert encode(answer) == encode(every)
        for other, wrong in encoders.items():
            if other != encoding:
                with pytest.raises(ValueError, match="asked for"):
                    wrong(answer)
        # What it was built from: the Run's own CLs read in that encoding only.
        loaded = await db.read(lambda c, encoding=encoding: load_answer(c, "chromium", encoding))
        (run,) = loaded.active_runs
        for cl in run.cls:
            assert [name for name in encoders if getattr(cl, name)] == [encoding]
        assert encode(loaded) == encode(every)
