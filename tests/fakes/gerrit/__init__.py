"""A faithful fake Gerrit REST server (aiohttp.web on 127.0.0.1) for tests and manual runs.

    async with FakeGerrit() as fake:
        fake.add_account(1000, label_as={"Commit-Queue"}, submit=True)   # CV's account
        fake.allow_bearer("secret", 1000)
        change = fake.add_change(owner=1001, project="chromium/src")
        fake.vote(change.number, "Commit-Queue", 1001, 2)
        host = fake.gerrit_host(auth="bearer", token_env="GERRIT_TOKEN")

Behaviour, codes and texts follow spec/gerrit.md; see server.FakeGerrit for fault injection
(`fail_next`, `timeout_next`, `lock_failure_next`, `error_after_merge_next`) and the request
log (`requests`, `requests_matching`). `python -m tests.fakes.gerrit --seed demo` serves a
demo state by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .entities import (
    DEFAULT_LABELS,
    Account,
    Change,
    FileSpec,
    HttpError,
    LabelType,
    Message,
    PatchSet,
    Permissions,
    Vote,
)
from .seed import seed_demo
from .server import FakeGerrit, RecordedRequest, SubmitHold
from .state import GerritState

__all__ = [
    "DEFAULT_LABELS",
    "Account",
    "Change",
    "FakeGerrit",
    "FileSpec",
    "GerritState",
    "HttpError",
    "LabelType",
    "Message",
    "PatchSet",
    "Permissions",
    "RecordedRequest",
    "SubmitHold",
    "Vote",
    "fake_gerrit",
    "seed_demo",
]


@pytest.fixture
async def fake_gerrit() -> AsyncIterator[FakeGerrit]:
    """A started FakeGerrit on 127.0.0.1 (OS-chosen port), closed after the test.

    Other test packages can use it with `from fakes.gerrit import fake_gerrit` in their
    conftest.py (tests/ is on sys.path under pytest).
    """
    async with FakeGerrit() as fake:
        yield fake
    # A handler that crashed is a bug in the fake; fail loudly instead of passing by luck.
    assert not fake.server_errors, f"fake Gerrit crashed: {fake.server_errors!r}"
