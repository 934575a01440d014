"""Poller integration fixtures: the loopback fake Gerrit, a real on-disk database, a clock
the test moves, and a GerritClient whose retries do not wait."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from fakes.gerrit import FakeGerrit, fake_gerrit
from poller_support import CV, HOST, OWNER, VOTER
from support import Clock

from cvmigrate.config import ProjectSettings
from cvmigrate.gerrit.client import EnvCredentials, GerritClient
from cvmigrate.poller.poller import ProjectPoller
from cvmigrate.store.db import Database

__all__ = ["client", "clock", "fake", "fake_gerrit", "make_poller"]


@pytest.fixture
async def fake(fake_gerrit: FakeGerrit) -> FakeGerrit:
    fake_gerrit.host = HOST
    fake_gerrit.add_account(CV, username="cv", label_as={"Commit-Queue"}, submit=True)
    fake_gerrit.allow_bearer("cv-token", CV)
    fake_gerrit.add_account(OWNER, username="alice")
    fake_gerrit.add_account(VOTER, username="bob")
    return fake_gerrit


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def client(fake: FakeGerrit) -> AsyncIterator[GerritClient]:
    async with aiohttp.ClientSession() as session:
        yield GerritClient(
            session,
            [fake.gerrit_host(auth="bearer", token_env="GERRIT_TOKEN")],
            EnvCredentials(environ={"GERRIT_TOKEN": "cv-token"}),
            max_retries=1,
            sleep=_no_wait,
        )


@pytest.fixture
def make_poller(db: Database, client: GerritClient, clock: Clock) -> Callable[..., ProjectPoller]:
    def make(in_charge: str = "cv", **kwargs: Any) -> ProjectPoller:
        groups = kwargs.pop(
            "config_groups",
            [
                {
                    "name": "main",
                    "host": HOST,
                    "repos": ["chromium/src"],
                    "refs": ["refs/heads/main"],
                }
            ],
        )
        project = ProjectSettings(
            name="chromium", in_charge=in_charge, poll_interval_s=1, config_groups=groups
        )
        return ProjectPoller(project, db=db, gerrit_client=client, clock=clock, **kwargs)

    return make
