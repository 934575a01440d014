"""kill -9 of `cvmigrate serve` under mixed load, then a restart on the same database.

CQDaemon's calls (ReportVerifiedRun, ReportFinishedRun, PostGerritMessage, FetchActiveRuns,
FetchRunStatus) come from several threads while the run manager submits, posts and removes
votes in the fake Gerrit; the kill lands while a submission is in flight in Gerrit and
calls are in flight to CV. After the restart: no acknowledged write is lost, no outbox row
is lost or duplicated, no change is submitted twice, and the background work finishes.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_world import VOTER, Action, World, change, open_world
from fake_runs import FakeChanges, fake_changes, store_run
from harness import async_wait_for
from support import call, finished_request

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status

PROJECTS = ("p0", "p1", "p2")
WORKERS = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    kind: str
    """verified | finished | unmatched | post | read: what an OK answer commits us to."""
    method: str
    request: Any
    key: str = ""


@pytest.fixture
async def world(server_factory, tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(server_factory, tmp_path) as world:
        yield world


def _unmatched(key: str) -> migration_pb.ReportFinishedRunRequest:
    return migration_pb.ReportFinishedRunRequest(
        run=migration_pb.ReportedRun(
            attempt=bigquery_pb.Attempt(
                key=key,
                luci_project="p0",
                status=bigquery_pb.AttemptStatus.FAILURE,
                gerrit_changes=[bigquery_pb.GerritChange(host="h", change=1)],
            )
        )
    )


def _verified(run: Run, action: Action) -> migration_pb.ReportVerifiedRunRequest:
    return migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(id=run.id, attempt=bigquery_pb.Attempt(key=run.attempt_key)),
        action=action,
        final_message="Failed builds: linux-rel" if action is Action.FAIL else "",
    )


class Load:
    """The tasks, handed out to worker threads: an endless stream of unmatched finished
    attempts, Gerrit messages and reads; `first` at once, then, from `release`, the
    `finite` reports interleaved with the stream."""

    def __init__(
        self, world: World, first: Task, finite: list[Task], posting: list[tuple[Run, int]]
    ):
        self._url = world.server.base_url if world.server else ""
        self._world = world
        self._lock = threading.Lock()
        self._tasks = self._stream(first, finite, posting)
        self.acked: dict[str, list[Task]] = defaultdict(list)
        self.refused: list[tuple[Task, Any]] = []
        self.release = threading.Event()
        self.stop = threading.Event()

    def _stream(
        self, first: Task, finite: list[Task], posting: list[tuple[Run, int]]
    ) -> Iterator[Task]:
        yield first
        finite_left = iter(finite)
        for n in itertools.count():
            task = next(finite_left, None) if self.release.is_set() else None
            if task is not None and n % 2 == 0:
                yield task
                continue
            if task is not None:
                finite_left = itertools.chain([task], finite_left)
            filler = n % 4
            if filler == 0:
                key = f"ff{n:014x}"
                yield Task(kind="unmatched", method="ReportFinishedRun",
                           request=_unmatched(key), key=key)  # fmt: skip
            elif filler == 1:
                run, number = posting[n % len(posting)]
                comment = f"CQ progress note #{n}."
                request = migration_pb.PostGerritMessageRequest(
                    project=run.project, run_id=run.id, attempt_key=run.attempt_key,
                    host=self._world.fake.host, change=number,
                    revision=self._world.fake.change(number).current.revision, comment=comment,
                )  # fmt: skip
                yield Task(kind="post", method="PostGerritMessage", request=request, key=comment)
            else:
                project = PROJECTS[n % len(PROJECTS)]
                request = migration_pb.FetchActiveRunsRequest(luci_project=project)
                yield Task(kind="read", method="FetchActiveRuns", request=request)

    def _next(self) -> Task:
        with self._lock:
            return next(self._tasks)

    def work(self) -> None:
        while not self.stop.is_set():
            task = self._next()
            try:
                reply = call(self._url, task.method, task.request, timeout=20)
            except httpx.TransportError:
                return  # the server is gone
            with self._lock:
                if reply.code is Code.OK:
                    self.acked[task.kind].append(task)
                else:
                    self.refused.append((task, reply))

    def count(self, kind: str) -> int:
        with self._lock:
            return len(self.acked[kind])


def _store_runs(
    conn: sqlite3.Connection, groups: dict[str, list[tuple[int, FakeChanges, str]]]
) -> dict[str, list[tuple[Run, int]]]:
    """One Run per (change number, its snapshot, project) of each group, in one transaction:
    each group's Runs with their change numbers."""
    return {
        name: [(store_run(conn, changes, project=project), n) for n, changes, project in runs]
        for name, runs in groups.items()
    }


async def test_kill_9_under_mixed_load_loses_nothing_and_repeats_nothing(world: World):
    fake = world.fake
    full = {project: [change(fake, 2) for _ in range(2)] for project in PROJECTS}
    dry = [change(fake, 1) for _ in range(9)]
    failing = [change(fake, 1) for _ in range(4)]
    cqd_finished = [change(fake, 1) for _ in range(6)]
    posting = [change(fake, 1, voters=(VOTER,)) for _ in range(3)]

    def runs(numbers: list[int], project: str = "p0") -> list[tuple[int, FakeChanges, str]]:
        return [(n, fake_changes(fake, [n]), project) for n in numbers]

    groups = {
        "full": [one for project in PROJECTS for one in runs(full[project], project)],
        "dry": runs(dry, "p1"),
        "fail": runs(failing, "p2"),
        "cqd": runs(cqd_finished, "p0"),
        "posting": runs(posting, "p2"),
    }
    seeded = await world.write(_store_runs, groups)
    _, held_change = seeded["full"][0]
    hold = fake.hold_next_submit(held_change)
    first, *finite = [
        *(Task(kind="verified", method="ReportVerifiedRun", request=_verified(r, Action.SUBMIT),
               key=r.id) for r, _ in seeded["full"]),
        *(Task(kind="verified", method="ReportVerifiedRun",
               request=_verified(r, Action.DRY_RUN_OK), key=r.id) for r, _ in seeded["dry"]),
        *(Task(kind="verified", method="ReportVerifiedRun", request=_verified(r, Action.FAIL),
               key=r.id) for r, _ in seeded["fail"]),
        *(Task(kind="finished", method="ReportFinishedRun", request=finished_request(r), key=r.id)
          for r, _ in seeded["cqd"]),
    ]  # fmt: skip
    random.Random(9).shuffle(finite)  # noqa: S311 (a fixed mix of report kinds)
    await world.start()
    load = Load(world, first, finite, seeded["posting"])
    threads = [threading.Thread(target=load.work, name=f"cqdaemon-{n}") for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    try:
        # The first report's submission is held in Gerrit; then the other reports stream
        # in, and the kill lands when about half of them are acknowledged: calls of every
        # kind are in flight and the run manager is acting on the ones already in.
        await async_wait_for(_set(hold.reached), within=20)
        load.release.set()

        async def loaded() -> bool:
            return (
                load.count("verified") >= 8
                and min(load.count(k) for k in ("finished", "unmatched", "post", "read")) >= 2
            )

        await async_wait_for(loaded, within=20)
        assert world.server is not None
        await asyncio.to_thread(world.server.kill)
    finally:
        load.stop.set()
        for thread in threads:
            await asyncio.to_thread(thread.join, 30)
    assert load.refused == [], load.refused
    hold.released.set()  # Gerrit merges the change whose answer CV never received
    await async_wait_for(lambda: _merged(fake, held_change), within=10)

    await world.restart()
    acked = {kind: {task.key for task in tasks} for kind, tasks in load.acked.items()}
    stored_verified = set(await world.read(lambda c: _column(c, "verified_runs", "run_id")))
    stored_finished = set(await world.read(lambda c: _column(c, "finished_runs", "attempt_key")))
    assert acked["verified"] <= stored_verified, "lost acknowledged ReportVerifiedRun"
    cqd_keys = {r.id: r.attempt_key for r, _ in seeded["cqd"]}
    assert {cqd_keys[i] for i in acked["finished"]} <= stored_finished
    assert acked["unmatched"] <= stored_finished, "lost acknowledged ReportFinishedRun"

    # Background work resumes: every stored report is acted on and its Run ends.
    must_end = stored_verified | {i for i, key in cqd_keys.items() if key in stored_finished}
    for run_id in sorted(must_end):
        await world.wait_ended(run_id, within=20)

    all_runs = [r for pairs in seeded.values() for r, _ in pairs]
    final = {r.id: await world.run(r.id) for r in all_runs}
    for run, number in seeded["full"]:
        if run.id in stored_verified:
            assert final[run.id].status is Status.SUCCEEDED, final[run.id]
            assert fake.change(number).status == "MERGED"
    submits: dict[str, int] = defaultdict(int)
    for request in fake.requests_matching("POST", "/submit"):
        if request.status == 200:
            submits[request.path.split("/revisions/")[0]] += 1
    assert submits and max(submits.values()) == 1, f"a change was submitted twice: {submits}"
    for run, _ in seeded["posting"]:
        assert not final[run.id].is_ended
    for comment in acked["post"]:  # each posted once (Gerrit prefixes "Patch Set 1:")
        number = seeded["posting"][int(comment.rsplit("#", 1)[1][:-1]) % len(seeded["posting"])][1]
        posted = [m for m in fake.change(number).messages if m.message.endswith(comment)]
        assert len(posted) == 1, (comment, posted)

    rows = await world.read(lambda c: c.execute("SELECT dedup_key FROM outbox").fetchall())
    keys = [key for (key,) in rows]
    assert len(keys) == len(set(keys)), "duplicate outbox rows"
    ended = {run_id for run_id, run in final.items() if run.is_ended}
    assert {k for k in keys if k.startswith("run-")} == {f"run-{i}" for i in ended}
    assert {f"attempt-{key}" for key in acked["unmatched"]} <= set(keys)
    assert await world.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"


def _column(conn: sqlite3.Connection, table: str, column: str) -> list[str]:
    return [row[0] for row in conn.execute(f"SELECT {column} FROM {table}")]  # noqa: S608 (constants)


def _set(event: asyncio.Event) -> Any:
    async def is_set() -> bool:
        return event.is_set()

    return is_set


async def _merged(fake: Any, number: int) -> bool:
    return fake.change(number).status == "MERGED"
