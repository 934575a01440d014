"""Run-manager fixtures: a real database, the loopback fake Gerrit and tree status, a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from fake_runs import fake_changes, store_run
from fakes.gerrit import DEFAULT_LABELS, FakeGerrit
from fakes.tree_status import FakeTreeStatus
from runs_helpers import CV, OTHER, OWNER, QUICK_RUN, TOKEN, VOTER, Clock

from cvmigrate.config import GerritHost
from cvmigrate.gerrit.client import EnvCredentials, GerritClient
from cvmigrate.runs.handler_context import HandlerContext
from cvmigrate.runs.manager import ManagerSettings, RunManager
from cvmigrate.runs.model import Run
from cvmigrate.runs.submit_queue import SubmitOptions
from cvmigrate.runs.tree import HttpTreeStatus
from cvmigrate.store.db import Database


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeGerrit]:
    async with FakeGerrit(labels=(*DEFAULT_LABELS, QUICK_RUN)) as gerrit:
        gerrit.add_account(CV, username="cv", label_as={"Commit-Queue", "Quick-Run"}, submit=True)
        for account in (OWNER, VOTER, OTHER):
            gerrit.add_account(account)
        gerrit.allow_bearer(TOKEN, CV)
        yield gerrit
    assert not gerrit.server_errors, gerrit.server_errors


@pytest.fixture
async def tree() -> AsyncIterator[FakeTreeStatus]:
    async with FakeTreeStatus() as status:
        yield status


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def gerrit(fake: FakeGerrit, session: aiohttp.ClientSession) -> GerritClient:
    host = GerritHost(host=fake.host, base_url=fake.base_url, auth="bearer", token_env="T")
    return GerritClient(
        session,
        [host],
        EnvCredentials(environ={"T": TOKEN}),
        max_retries=2,
        sleep=no_sleep,
        rand=lambda: 0.5,
    )


@pytest.fixture
def submit_options() -> dict[str, SubmitOptions]:
    """Per-project submit options tests may change; default: no limit, no tree."""
    return {}


@pytest.fixture
def ctx(
    db: Database,
    gerrit: GerritClient,
    clock: Clock,
    session: aiohttp.ClientSession,
    submit_options: dict[str, SubmitOptions],
) -> HandlerContext:
    return HandlerContext(
        db=db,
        gerrit=gerrit,
        clock=clock,
        tree=HttpTreeStatus(session),
        submit_options=lambda project, group: submit_options.get(
            project, SubmitOptions(max_burst=0)
        ),
    )


@pytest.fixture
def manager(ctx: HandlerContext) -> RunManager:
    return RunManager(ctx, ManagerSettings(retry_base_s=1, retry_cap_s=8), rand=lambda: 1.0)


@pytest.fixture
def make_run(db: Database, fake: FakeGerrit) -> Callable[..., Any]:
    async def make(numbers: list[int], **kwargs: Any) -> Run:
        return await db.write(store_run, fake_changes(fake, numbers), **kwargs)

    return make
