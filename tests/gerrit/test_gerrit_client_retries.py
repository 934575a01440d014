"""gerrit/client.py retries: which failures are retried, how often, how long it waits."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from fakes.gerrit import Change, FakeGerrit
from gerrit_client_support import (
    MakeClient,
    RecordingSleep,
)

from cvmigrate.config import GerritHost
from cvmigrate.gerrit.client import EnvCredentials, GerritClient
from cvmigrate.gerrit.errors import (
    GerritConflict,
    GerritQuotaExceeded,
    GerritTimeout,
    GerritTransientError,
)
from cvmigrate.proto import gerrit
from cvmigrate.rpc.codes import Code


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_transient_errors_are_retried_with_jittered_backoff(
    client: GerritClient, fake: FakeGerrit, sleep: RecordingSleep, change: Change, status: int
) -> None:
    fake.fail_next(2, status)
    info = await client.get_change(fake.host, change.number)
    assert info.number == change.number
    assert [r.status for r in fake.requests] == [status, status, 200]
    # rand() is 0.5: half of base 0.5 s × 2^n.
    assert sleep.delays == [0.25, 0.5]


async def test_retries_are_bounded(
    make_client: MakeClient, fake: FakeGerrit, sleep: RecordingSleep, change: Change
) -> None:
    client = make_client(max_retries=2)
    fake.fail_next(10, 429)
    with pytest.raises(GerritQuotaExceeded) as caught:
        await client.get_change(fake.host, change.number)
    assert caught.value.code is Code.RESOURCE_EXHAUSTED
    assert len(fake.requests) == 3
    assert len(sleep.delays) == 2


async def test_backoff_is_capped(
    fake: FakeGerrit, session: aiohttp.ClientSession, sleep: RecordingSleep, change: Change
) -> None:
    host = GerritHost(host=fake.host, base_url=fake.base_url, auth="none")
    client = GerritClient(
        session,
        [host],
        EnvCredentials(environ={}),
        max_retries=6,
        backoff_base=1.0,
        backoff_cap=4.0,
        sleep=sleep,
        rand=lambda: 1.0,
    )
    fake.fail_next(6, 503)
    await client.get_change(fake.host, change.number)
    assert sleep.delays == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


async def test_timeouts_are_retried(
    make_client: MakeClient, fake: FakeGerrit, sleep: RecordingSleep, change: Change
) -> None:
    client = make_client(timeouts={"get_change": 0.2})
    fake.timeout_next(1, delay=30.0)
    info = await client.get_change(fake.host, change.number)
    assert info.number == change.number
    assert len(fake.requests) == 2
    assert len(sleep.delays) == 1


async def test_timeouts_are_bounded_and_reported_as_deadline_exceeded(
    make_client: MakeClient, fake: FakeGerrit, change: Change
) -> None:
    client = make_client(max_retries=1, timeouts={"query_changes": 0.1})
    fake.timeout_next(5, delay=30.0)
    with pytest.raises(GerritTimeout) as caught:
        await client.query_changes(fake.host, "status:NEW")
    assert caught.value.code is Code.DEADLINE_EXCEEDED
    assert len(fake.requests) == 2


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_transient_and_retried(
    make_client: MakeClient, sleep: RecordingSleep, fake: FakeGerrit
) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{_unused_port()}")
    with pytest.raises(GerritTransientError, match="cannot reach Gerrit") as caught:
        await client.get_change(fake.host, 1)
    assert caught.value.code is Code.INTERNAL
    assert len(sleep.delays) == 3


async def test_submit_lock_failure_is_retried(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    fake.lock_failure_next(1)
    request = gerrit.SubmitRevisionRequest(
        number=change.number, project="chromium/src", revision_id=change.current.revision
    )
    info = await client.submit_revision(fake.host, request)
    assert info.status is gerrit.ChangeStatus.MERGED
    assert [r.status for r in fake.requests_matching("POST")] == [503, 200]


async def test_submit_that_errors_after_merging_answers_merged_on_retry(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    # The documented caller contract: after a submit error, re-read; MERGED is success.
    fake.error_after_merge_next(1)
    request = gerrit.SubmitRevisionRequest(
        number=change.number, project="chromium/src", revision_id=change.current.revision
    )
    with pytest.raises(GerritConflict, match="change is merged"):
        await client.submit_revision(fake.host, request)
    assert [r.status for r in fake.requests_matching("POST")] == [500, 409]
    reread = await client.get_change(fake.host, change.number, project="chromium/src")
    assert reread.status is gerrit.ChangeStatus.MERGED
