"""One poller task per project, started and stopped the way app.py does it."""

from __future__ import annotations

from fakes.gerrit import FakeGerrit
from harness import async_wait_for
from poller_support import HOST, OWNER, VOTER, all_runs
from support import Clock

from cvmigrate.config import ProjectSettings
from cvmigrate.gerrit.client import GerritClient
from cvmigrate.poller.tasks import start_pollers
from cvmigrate.store.db import Database


def project(name: str, repo: str) -> ProjectSettings:
    return ProjectSettings(
        name=name,
        in_charge="cv",
        poll_interval_s=0.01,
        config_groups=[
            {"name": "main", "host": HOST, "repos": [repo], "refs": ["refs/heads/main"]}
        ],
    )


async def test_pollers_run_until_stopped(
    fake: FakeGerrit, db: Database, client: GerritClient, clock: Clock
) -> None:
    change = fake.add_change(owner=OWNER)
    fake.vote(change.number, "Commit-Queue", VOTER, 1)

    tasks = start_pollers(
        [project("chromium", "chromium/src"), project("v8", "v8/v8")],
        db=db,
        gerrit_client=client,
        clock=clock,
    )
    assert [poller.name for poller in tasks.pollers] == ["chromium", "v8"]

    async def created() -> bool:
        return len(await all_runs(db)) == 1

    await async_wait_for(created, within=10)
    await tasks.stop()
    queries = len(fake.requests_matching("GET", "/changes/"))
    await tasks.stop()  # idempotent
    assert len(fake.requests_matching("GET", "/changes/")) == queries


async def test_no_projects_no_pollers(db: Database, client: GerritClient, clock: Clock) -> None:
    tasks = start_pollers([], db=db, gerrit_client=client, clock=clock)
    assert tasks.pollers == ()
    await tasks.stop()
