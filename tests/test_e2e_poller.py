"""End to end: `cvmigrate serve` polling the fake Gerrit while a player runs CQDaemon's loop.

Both modes of spec §8: CV in charge (votes → FetchActiveRuns → PostGerritMessage →
ReportRuns → ReportVerifiedRun → CV acts in Gerrit → FetchRunStatus → BigQuery outbox row)
and CQDaemon in charge (FetchExcludedCLs → ReportFinishedRun → CV's shadow run finalized),
plus cancellation by vote removal and by a new patch set.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cqdaemon_player import CQDaemonPlayer, Status, attempt_key_of
from fakes.gerrit import FakeGerrit, fake_gerrit
from harness import ServerProcess, async_wait_for

from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status as RunStatus
from cvmigrate.store import outbox
from cvmigrate.store import runs as runs_store

__all__ = ["fake_gerrit"]

T = TypeVar("T")
HOST = "chromium-review.googlesource.com"
PROJECT = "e2e"
CV, OWNER, VOTER = 1000, 1001, 1002
DRY_RUN_OK = "Dry run: This CL passed the CQ dry run."


@pytest.fixture
async def fake(fake_gerrit: FakeGerrit) -> FakeGerrit:
    fake_gerrit.host = HOST
    fake_gerrit.add_account(CV, username="cv", label_as={"Commit-Queue"}, submit=True)
    fake_gerrit.allow_bearer("cv-token", CV)
    fake_gerrit.add_account(OWNER, username="alice")
    fake_gerrit.add_account(VOTER, username="bob")
    return fake_gerrit


@pytest.fixture
async def start(
    fake: FakeGerrit, server_factory: Callable[..., ServerProcess]
) -> AsyncIterator[Callable[[str], Any]]:
    async def start_server(in_charge: str) -> ServerProcess:
        config = {
            "gerrit.hosts": [
                {
                    "host": HOST,
                    "base_url": fake.base_url,
                    "auth": "bearer",
                    "token_env": "E2E_GERRIT_TOKEN",
                }
            ],
            "projects": [
                {
                    "name": PROJECT,
                    "in_charge": in_charge,
                    "poll_interval_s": 0.05,
                    "config_groups": [
                        {
                            "name": "main",
                            "host": HOST,
                            "repos": ["chromium/src"],
                            "refs": ["refs/heads/main"],
                        }
                    ],
                }
            ],
        }
        env = {"E2E_GERRIT_TOKEN": "cv-token"}
        # Started from a thread: the fake Gerrit lives on this loop and must keep answering.
        return await asyncio.to_thread(server_factory, config, env)

    yield start_server


def read(server: ServerProcess, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run a store read on the server's database (read-only connection)."""
    path = Path(server.config["database"]["path"])
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return fn(conn)
    finally:
        conn.close()


def project_runs(server: ServerProcess) -> list[Run]:
    return read(server, lambda conn: runs_store.list_runs(conn, project=PROJECT))


def outbox_keys(server: ServerProcess) -> list[str]:
    return [row.dedup_key for row in read(server, lambda conn: outbox.list_rows(conn))]


def voted_change(fake: FakeGerrit, value: int = 1) -> int:
    change = fake.add_change(owner=OWNER)
    fake.vote(change.number, "Commit-Queue", VOTER, value)
    return change.number


async def until(condition: Callable[[], Any], within: float = 20.0) -> Any:
    async def check() -> Any:
        return condition()

    return await async_wait_for(check, within=within)


async def active_runs(player: CQDaemonPlayer) -> list[migration_pb.ActiveRun]:
    response = await player.ok(
        "FetchActiveRuns", migration_pb.FetchActiveRunsRequest(luci_project=PROJECT)
    )
    return response.active_runs


async def wait_active(player: CQDaemonPlayer, count: int) -> list[migration_pb.ActiveRun]:
    found: list[migration_pb.ActiveRun] = []

    async def check() -> bool:
        found[:] = await active_runs(player)
        return len(found) == count

    await async_wait_for(check, within=20)
    return found


def posted(fake: FakeGerrit, number: int, text: str) -> bool:
    """Whether a message containing `text` is on the change (Gerrit prefixes "Patch Set N:")."""
    return any(text in message.message for message in fake.change(number).messages)


def cq_votes(fake: FakeGerrit, number: int) -> dict[int, Any]:
    return dict(fake.change(number).current.votes.get("Commit-Queue", {}))


async def test_cv_in_charge_dry_run_end_to_end(fake: FakeGerrit, start) -> None:
    server = await start("cv")
    player = CQDaemonPlayer(server.base_url, PROJECT, cv_in_charge=True, fake=fake)
    number = voted_change(fake)

    (run,) = await wait_active(player, 1)
    key, mode = attempt_key_of(fake, number)
    assert run.id.startswith(f"{PROJECT}/") and run.id.endswith(f"-1-{key}")
    (cl,) = run.cls
    assert (cl.gc.host, cl.gc.change, cl.gc.patchset, cl.gc.mode) == (HOST, number, 1, mode)
    assert (cl.trigger.account_id, cl.info.number) == (VOTER, number)

    await player.loop_once()  # FetchActiveRuns → PostGerritMessage (start) → ReportRuns
    start_message = f'Run "{run.id}" | Attempt "{key}": CQ is trying da patch'
    assert posted(fake, number, start_message)
    review = fake.requests_matching("POST", "/review")[0]
    assert review.json["tag"] == "autogenerated:cq:dry-run"

    player.verdicts[key] = Status.SUCCESS
    await player.loop_once()  # → ReportVerifiedRun(ACTION_DRY_RUN_OK)
    assert await active_runs(player) == []  # verified runs leave FetchActiveRuns (§4.7)

    # CV acts in Gerrit: the vote goes, with the dry-run message (§5.3); the Run succeeds.
    await until(lambda: posted(fake, number, DRY_RUN_OK) and not cq_votes(fake, number))
    await until(lambda: project_runs(server)[0].status is RunStatus.SUCCEEDED)
    await until(lambda: f"run-{run.id}" in outbox_keys(server))
    status = await player.ok(
        "FetchRunStatus",
        migration_pb.FetchRunStatusRequest(attempt_key=key, cv_id=run.id, luci_project=PROJECT),
    )
    assert (status.event, status.extra) == ("patch_ready_to_commit", "")
    # The poller saw the vote go but left the verified run to the run manager: it
    # SUCCEEDED (not CANCELLED), and the removed vote started nothing new.
    assert len(project_runs(server)) == 1


async def test_cv_in_charge_cancels_on_vote_removal_and_new_patchset(
    fake: FakeGerrit, start
) -> None:
    server = await start("cv")
    player = CQDaemonPlayer(server.base_url, PROJECT, cv_in_charge=True, fake=fake)
    unvoted, reuploaded = voted_change(fake), voted_change(fake)
    await wait_active(player, 2)
    await player.loop_once()  # both attempts started
    assert len(player.active) == 2
    posts_before = len(fake.requests_matching("POST"))

    fake.vote(unvoted, "Commit-Queue", VOTER, 0)
    fake.new_patchset(reuploaded)
    await wait_active(player, 0)

    # The next loops find the runs gone, ask FetchRunStatus, and finish them (§8.3).
    async def finished() -> bool:
        await player.loop_once()
        return not player.active

    await async_wait_for(finished, within=20)
    assert {(s.event, s.extra) for s in player.statuses.values()} == {
        ("patch_failed", "CQ bit was unchecked.")
    }
    runs = project_runs(server)
    assert sorted(r.status for r in runs) == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    reasons = sorted(r.end_message for r in runs)
    assert "has been removed" in reasons[1] and "patchset" in reasons[0]
    assert {f"run-{r.id}" for r in runs} <= set(outbox_keys(server))
    # Cancelling while CV is in charge writes nothing to Gerrit (§5.6).
    assert len(fake.requests_matching("POST")) == posts_before


async def test_cqdaemon_in_charge_report_finalizes_the_shadow_run(fake: FakeGerrit, start) -> None:
    server = await start("cqdaemon")
    player = CQDaemonPlayer(server.base_url, PROJECT, cv_in_charge=False, fake=fake)
    number = voted_change(fake)
    key, _ = attempt_key_of(fake, number)

    # CV keeps a shadow run with the attempt key CQDaemon computes on its own (§3.4).
    (shadow,) = await until(lambda: project_runs(server) or None)
    assert shadow.attempt_key == key and shadow.status is RunStatus.RUNNING

    await player.loop_once()  # FetchExcludedCLs → start message in Gerrit → ReportRuns
    assert key in player.active
    player.verdicts[key] = Status.SUCCESS
    await player.loop_once()  # CQDaemon removes the vote itself → ReportFinishedRun

    def finalized() -> Run | None:
        (run,) = project_runs(server)
        return run if run.is_ended else None

    run = await until(finalized)
    assert (run.status, run.finalized_by_cqd) == (RunStatus.SUCCEEDED, True)
    assert f"run-{run.id}" in outbox_keys(server)
    assert not posted(fake, number, DRY_RUN_OK)  # CV wrote nothing to Gerrit


async def test_cqdaemon_in_charge_vote_removal_delays_the_cancel(fake: FakeGerrit, start) -> None:
    server = await start("cqdaemon")
    player = CQDaemonPlayer(server.base_url, PROJECT, cv_in_charge=False, fake=fake)
    unvoted, reuploaded = voted_change(fake), voted_change(fake)
    await until(lambda: len(project_runs(server)) == 2)
    await player.loop_once()
    assert len(player.active) == 2

    fake.vote(unvoted, "Commit-Queue", VOTER, 0)
    fake.new_patchset(reuploaded)

    # Hidden from FetchActiveRuns but still RUNNING, for 20 minutes (§5.6).
    delayed = await until(
        lambda: all(r.delay_cancel_until for r in project_runs(server)) and project_runs(server)
    )
    assert {r.status for r in delayed} == {RunStatus.RUNNING}
    assert await active_runs(player) == []

    # CQDaemon sees its candidates gone, aborts them and reports: the shadow runs end.
    await player.loop_once()
    runs = await until(
        lambda: all(r.is_ended for r in project_runs(server)) and project_runs(server)
    )
    assert {(r.status, r.finalized_by_cqd) for r in runs} == {(RunStatus.CANCELLED, True)}
