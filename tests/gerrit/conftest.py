"""Fixtures for the Gerrit tests: the loopback fake Gerrit, populated, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest
from fakes.gerrit import Change, FakeGerrit, fake_gerrit
from gerrit_client_support import (
    BASIC_VALUE,
    BEARER_TOKEN,
    CV,
    ENV,
    NETRC_TOKEN,
    OWNER,
    TOKEN_ENV,
    VOTER,
    MakeClient,
    RecordingSleep,
    netrc_lookup,
)

from cvmigrate.config import GerritHost
from cvmigrate.gerrit.client import EnvCredentials, GerritClient

__all__ = ["change", "client", "fake", "fake_gerrit", "make_client", "session", "sleep"]


@pytest.fixture
async def fake(fake_gerrit: FakeGerrit) -> FakeGerrit:
    fake_gerrit.add_account(CV, username="cv", label_as={"Commit-Queue"}, submit=True)
    fake_gerrit.add_account(OWNER, username="alice")
    fake_gerrit.add_account(VOTER, username="bob")
    fake_gerrit.allow_bearer(BEARER_TOKEN, CV)
    fake_gerrit.allow_basic(BASIC_VALUE, CV)
    fake_gerrit.allow_basic(NETRC_TOKEN, CV)
    return fake_gerrit


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_client(
    fake: FakeGerrit, session: aiohttp.ClientSession, sleep: RecordingSleep
) -> MakeClient:
    def make(
        auth: str = "bearer",
        *,
        environ: Mapping[str, str] = ENV,
        max_retries: int = 3,
        timeouts: Mapping[str, float] | None = None,
        base_url: str | None = None,
    ) -> GerritClient:
        host = GerritHost(
            host=fake.host,
            base_url=fake.base_url if base_url is None else base_url,
            auth=auth,
            token_env=TOKEN_ENV[auth],
        )
        credentials = EnvCredentials(environ=environ, netrc_lookup=netrc_lookup)
        return GerritClient(
            session,
            [host],
            credentials,
            max_retries=max_retries,
            timeouts=timeouts,
            sleep=sleep,
            rand=lambda: 0.5,
        )

    return make


@pytest.fixture
def client(make_client: MakeClient) -> GerritClient:
    return make_client()


@pytest.fixture
def change(fake: FakeGerrit) -> Change:
    created = fake.add_change(owner=OWNER, project="chromium/src", subject="Speed up")
    fake.vote(created.number, "Commit-Queue", VOTER, 2, tag="cq")
    return created
