"""End to end: `cvmigrate serve` as a subprocess, CQDaemon's calls over HTTP, and the fake
Gerrit (in this process, on loopback) receiving what CV does: the run manager's actions
after ReportVerifiedRun, PostGerritMessage, and a kill -9 in the middle of a submission.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fake_runs import store_run
from fakes.gerrit import FakeGerrit
from harness import ServerProcess, async_wait_for
from support import Reply, call

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.secretbox import new_secret_key
from cvmigrate.store import outbox
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import Database

CV, OWNER, VOTER, OTHER = 1000, 1001, 1002, 1003
TOKEN = "e2e-gerrit-s3cret"
NETRC_TOKEN = "git-cv:netrc-s3cret"
Action = migration_pb.ReportVerifiedRunRequestAction


class World:
    """The fake Gerrit, the server subprocess and a handle on its database."""

    def __init__(self, fake: FakeGerrit, workdir: Path, start: Callable[..., ServerProcess]):
        self.fake = fake
        self.workdir = workdir
        self._start = start
        self.server: ServerProcess | None = None
        self.db_path = workdir / "cvmigrate.db"

    def config(self, **gerrit_host: Any) -> dict[str, Any]:
        host = {
            "host": self.fake.host,
            "base_url": self.fake.base_url,
            "auth": "bearer",
            "token_env": "GERRIT_TOKEN",
            **gerrit_host,
        }
        return {
            "gerrit": {
                "hosts": [host],
                "max_retries": 2,
                "retry_base_s": 0.01,
                "retry_cap_s": 0.05,
            },
            "run_manager": {"poll_interval_s": 0.05, "retry_base_s": 0.05, "retry_cap_s": 0.2},
        }

    async def start(self, **gerrit_host: Any) -> ServerProcess:
        env = {"GERRIT_TOKEN": TOKEN, "CVMIGRATE_SECRET_KEY": KEY}
        self.server = await asyncio.to_thread(
            self._start, self.config(**gerrit_host), env=env, workdir=self.workdir
        )
        return self.server

    async def restart(self) -> None:
        assert self.server is not None
        await asyncio.to_thread(self.server.start)

    async def call(self, method: str, request: Any, protocol: str = "prpc") -> Reply:
        assert self.server is not None
        return await asyncio.to_thread(
            call, self.server.base_url, method, request, protocol=protocol
        )

    async def write(self, fn: Callable[..., Any]) -> Any:
        db = await Database.open(self.db_path)
        try:
            return await db.write(fn)
        finally:
            await db.close()

    async def read(self, fn: Callable[..., Any]) -> Any:
        db = await Database.open(self.db_path)
        try:
            return await db.read(fn)
        finally:
            await db.close()

    async def make_run(self, numbers: list[int], **kwargs: Any) -> Run:
        return await self.make_run_on(self.fake, numbers, **kwargs)

    async def make_run_on(self, fake: FakeGerrit, numbers: list[int], **kwargs: Any) -> Run:
        return await self.write(lambda conn: store_run(conn, fake, numbers, **kwargs))

    async def run(self, run_id: str) -> Run:
        run = await self.read(lambda conn: runs_store.get_run(conn, run_id))
        assert run is not None
        return run

    async def wait_ended(self, run_id: str, within: float = 20) -> Run:
        async def ended() -> Run | None:
            run = await self.run(run_id)
            return run if run.is_ended else None

        try:
            return await async_wait_for(ended, within=within)
        except AssertionError:
            log = self.server.log() if self.server else ""
            raise AssertionError(f"Run {run_id} did not end; server log:\n{log}") from None

    async def verify(self, run: Run, action: Action, final_message: str = "") -> None:
        request = migration_pb.ReportVerifiedRunRequest(
            run=migration_pb.ReportedRun(
                id=run.id, attempt=bigquery_pb.Attempt(key=run.attempt_key)
            ),
            action=action,
            final_message=final_message,
        )
        reply = await self.call("ReportVerifiedRun", request)
        assert reply.code is Code.OK, reply


KEY = new_secret_key()


@pytest.fixture
async def world(server_factory, tmp_path: Path) -> AsyncIterator[World]:
    async with FakeGerrit() as fake:
        fake.add_account(CV, username="cv", label_as={"Commit-Queue"}, submit=True)
        for account in (OWNER, VOTER, OTHER):
            fake.add_account(account)
        fake.allow_bearer(TOKEN, CV)
        fake.allow_basic(NETRC_TOKEN, CV)
        workdir = tmp_path / "e2e"
        workdir.mkdir()
        world = World(fake, workdir, server_factory)
        yield world
        if world.server is not None:
            # Stop the server while the fake still answers, so its manager ends cleanly.
            await asyncio.to_thread(world.server.stop)
            assert TOKEN not in world.server.log() and "netrc-s3cret" not in world.server.log()
    assert not fake.server_errors, fake.server_errors


def change(fake: FakeGerrit, value: int, *, voters=(VOTER,), parent: int | None = None) -> int:
    parents = [fake.change(parent).current.revision] if parent else None
    number = fake.add_change(owner=OWNER, parents=parents).number
    for account in voters:
        fake.vote(number, "Commit-Queue", account, value)
    return number


async def test_final_actions_reach_gerrit_and_end_runs(world: World):
    fake = world.fake
    dry = await world.make_run([change(fake, 1, voters=(VOTER, OTHER))])
    failed = await world.make_run([change(fake, 1)])
    full = await world.make_run([change(fake, 2)])
    await world.start()
    # Gerrit fails the first 4 reviews of the dry run's change: the client's 3 attempts, then
    # the run manager's retry of the event (whose client call succeeds on its 2nd attempt).
    fake.fail_next(4, 503, path_contains="~1/revisions/")

    await world.verify(dry, Action.DRY_RUN_OK)
    await world.verify(failed, Action.FAIL, "Build failed: linux-rel")
    await world.verify(full, Action.SUBMIT)
    assert (await world.wait_ended(dry.id)).status is Status.SUCCEEDED
    assert (await world.wait_ended(failed.id)).status is Status.FAILED
    assert (await world.wait_ended(full.id)).status is Status.SUCCEEDED

    reviews = [r for r in fake.requests_matching("POST", "/review") if r.status == 200]
    assert len(fake.requests_matching("POST", "/review")) == len(reviews) + 4
    by_change = {}
    for request in reviews:
        by_change.setdefault(int(request.path.split("~")[1].split("/")[0]), []).append(request)
    dry_number, failed_number, full_number = 1, 2, 3
    assert [r.json for r in by_change[dry_number]] == [
        {"labels": {"Commit-Queue": 0}, "ignore_automatic_attention_set_rules": True,
         "tag": "autogenerated:cq:dry-run", "notify": "NONE", "on_behalf_of": OTHER},
        {"message": "Dry run: This CL passed the CQ dry run.",
         "labels": {"Commit-Queue": 0}, "ignore_automatic_attention_set_rules": True,
         "tag": "autogenerated:cq:dry-run", "notify": "OWNER",
         "notify_details": {"TO": {"accounts": [VOTER, OTHER]}}, "on_behalf_of": VOTER},
    ]  # fmt: skip
    (fail_review,) = by_change[failed_number]
    assert fail_review.json["message"] == "Build failed: linux-rel"
    assert full_number not in by_change  # a successful submission posts nothing
    (submit,) = fake.requests_matching("POST", "/submit")
    assert submit.path == (
        f"/a/changes/chromium/src~{full_number}/revisions/"
        f"{fake.change(full_number).current.revision}/submit"
    )
    assert submit.headers["Authorization"] == f"Bearer {TOKEN}"
    assert fake.change(full_number).status == "MERGED"

    rows = await world.read(lambda conn: outbox.list_rows(conn))
    assert sorted(row.dedup_key for row in rows) == sorted(
        f"run-{run.id}" for run in (dry, failed, full)
    )
    for run, event in ((dry, "patch_ready_to_commit"), (failed, "patch_failed"),
                       (full, "patch_committed")):  # fmt: skip
        reply = await world.call(
            "FetchRunStatus",
            migration_pb.FetchRunStatusRequest(
                luci_project="chromium", cv_id=run.id, attempt_key=run.attempt_key
            ),
        )
        assert (reply.code, reply.message.event) == (Code.OK, event)


def _post(run: Run, number: int, fake: FakeGerrit, **fields: Any):
    request = dict(
        project="chromium",
        run_id=run.id,
        attempt_key=run.attempt_key,
        host=fake.host,
        change=number,
        revision=fake.change(number).current.revision,
        comment="CQ is trying the patch.",
        send_email=True,
    )
    request.update(fields)
    return migration_pb.PostGerritMessageRequest(**request)


async def test_post_gerrit_message_dedup_truncation_faults_and_errors(world: World):
    fake = world.fake
    number = change(fake, 2, voters=(VOTER, OTHER))
    run = await world.make_run([number])
    await world.start()

    for _ in range(2):  # the repeat is recognised from Gerrit's messages: posted once
        assert (await world.call("PostGerritMessage", _post(run, number, fake))).code is Code.OK
    (first,) = fake.requests_matching("POST", "/review")
    assert first.json == {
        "message": "CQ is trying the patch.",
        "tag": "autogenerated:cq:full-run",
        "notify": "OWNER_REVIEWERS",
        "notify_details": {"TO": {"accounts": [VOTER, OTHER]}},
    }

    huge = "Lint output:\n" + "ø" * 500_000  # 1 MB of UTF-8
    fake.fail_next(2, 503, path_contains="/review")  # retried by the client, then posted
    for _ in range(2):
        reply = await world.call("PostGerritMessage", _post(run, number, fake, comment=huge))
        assert reply.code is Code.OK, reply
    posted = [r for r in fake.requests_matching("POST", "/review") if r.status == 200]
    assert len(posted) == 2
    message = posted[-1].json["message"]
    assert len(message.encode()) <= 16384
    assert message.endswith("\n...[truncated too long message]")

    cases = [(403, 1, Code.PERMISSION_DENIED), (404, 1, Code.NOT_FOUND),
             (409, 1, Code.FAILED_PRECONDITION), (412, 1, Code.FAILED_PRECONDITION),
             (429, 3, Code.RESOURCE_EXHAUSTED), (500, 3, Code.INTERNAL)]  # fmt: skip
    for status, times, code in cases:
        fake.fail_next(times, status, path_contains="/review")
        # Twirp shows INTERNAL's message (pRPC replaces it with a generic text, as luci-go).
        reply = await world.call(
            "PostGerritMessage", _post(run, number, fake, comment=f"#{status}"), "twirp"
        )
        assert reply.code is code, (status, reply)
        assert f"Gerrit HTTP {status}" in reply.error

    # A CL on a host CV has no configuration for: no Gerrit client.
    async with FakeGerrit(host="elsewhere-review.example.com") as elsewhere:
        stray = change(elsewhere, 1)
        stray_run = await world.make_run_on(elsewhere, [stray])
        reply = await world.call("PostGerritMessage", _post(stray_run, stray, elsewhere), "twirp")
    assert reply.code is Code.INTERNAL
    assert reply.error == (
        "failed to obtain Gerrit client: no Gerrit host configured for elsewhere-review.example.com"
    )
    assert elsewhere.requests == []


async def test_post_gerrit_message_with_netrc_credentials(world: World):
    fake = world.fake
    number = change(fake, 1)
    run = await world.make_run([number])
    await world.start(auth="netrc", token_env="")

    reply = await world.call("PostGerritMessage", _post(run, number, fake), "twirp")
    assert reply.code is Code.INTERNAL
    assert reply.error.startswith("failed to obtain Gerrit client: no netrc token")

    netrc = migration_pb.ReportUsedNetrcRequest(gerrit_host=fake.host, access_token=NETRC_TOKEN)
    assert (await world.call("ReportUsedNetrc", netrc)).code is Code.OK
    assert (await world.call("PostGerritMessage", _post(run, number, fake))).code is Code.OK
    (post,) = fake.requests_matching("POST", "/review")
    expected = "Basic " + base64.b64encode(NETRC_TOKEN.encode()).decode()
    assert post.headers["Authorization"] == expected


async def test_kill_9_during_multi_cl_submission_submits_each_cl_exactly_once(world: World):
    fake = world.fake
    base = change(fake, 2)
    middle = change(fake, 2, parent=base)
    top = change(fake, 2, parent=middle)
    run = await world.make_run([top, middle, base], hard_deps={top: [middle], middle: [base]})
    hold = fake.hold_next_submit(middle)
    await world.start()
    await world.verify(run, Action.SUBMIT)

    await asyncio.wait_for(hold.reached.wait(), timeout=20)
    assert world.server is not None
    await asyncio.to_thread(world.server.kill)
    mid = await world.run(run.id)
    assert mid.status is Status.SUBMITTING
    assert mid.submission is not None
    base_id, middle_id, top_id = mid.submission.cls
    assert mid.submission.submitted_cls == (base_id,)
    assert mid.submission.attempted_cls == (base_id, middle_id)

    hold.released.set()  # Gerrit merges the change whose answer CV never received
    await async_wait_for(lambda: _merged(fake, middle), within=10)
    await world.restart()
    ended = await world.wait_ended(run.id)

    assert ended.status is Status.SUCCEEDED
    assert set(ended.submission.submitted_cls) == {base_id, middle_id, top_id}
    for number in (base, middle, top):
        assert fake.change(number).status == "MERGED"
        assert len(fake.requests_matching("POST", f"~{number}/revisions/")) == 1, number
    rows = await world.read(lambda conn: outbox.list_rows(conn))
    assert [row.dedup_key for row in rows] == [f"run-{run.id}"]


async def _merged(fake: FakeGerrit, number: int) -> bool:
    return fake.change(number).status == "MERGED"
