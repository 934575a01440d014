"""Known secrets go through a whole scenario; none comes out anywhere it could be read.

The secrets: an API token (the caller's bearer token), a Gerrit token (bearer, from the
environment) and a netrc token (ReportUsedNetrc, then CV's Basic credential for a second
Gerrit host). The scenario: the netrc report, calls that succeed and calls that fail (bad
tokens, bad bodies, Gerrit refusing), the run manager acting on both hosts, BigQuery rows.
Scanned: the server log, every response body, the outbox rows and the database files
(netrc token there only as ciphertext that decrypts to it).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_world import KEY, NETRC_TOKEN, TOKEN, Action, World, add_accounts, change, open_world
from fakes.gerrit import FakeGerrit
from support import Reply, call

from cvmigrate.auth import token_digest
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.model import Run
from cvmigrate.secretbox import SecretBox
from cvmigrate.store import outbox

API_TOKEN = "cvm_api-s3cret-token-for-cqdaemon"
CALLER = "user:cqdaemon@example.com"


def _forms(secret: str) -> list[bytes]:
    """The secret as it could leak: itself, a distinctive half, and base64 (Basic auth)."""
    raw = secret.encode()
    return [raw, raw[len(raw) // 2 :], base64.b64encode(raw), base64.b64encode(b"x:" + raw)]


SECRETS = {"API token": API_TOKEN, "Gerrit token": TOKEN, "netrc token": NETRC_TOKEN}


def _leaks(data: bytes) -> list[str]:
    return [
        f"{name} ({form!r})"
        for name, secret in SECRETS.items()
        for form in _forms(secret)
        if form in data
    ]


@pytest.fixture
async def world(server_factory, tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(server_factory, tmp_path) as world:
        yield world


class Caller:
    """CQDaemon with its API token; keeps every response for the scan."""

    def __init__(self, world: World) -> None:
        assert world.server is not None
        self._url = world.server.base_url
        self.responses: list[httpx.Response] = []

    async def __call__(self, method: str, request: Any, **kwargs: Any) -> Reply:
        kwargs.setdefault("token", API_TOKEN)
        reply = await asyncio.to_thread(call, self._url, method, request, **kwargs)
        self.responses.append(reply.raw)
        return reply

    async def raw(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        response = await asyncio.to_thread(
            httpx.post, self._url + path, content=body, headers=headers, timeout=30
        )
        self.responses.append(response)
        return response


def _verified(run: Run, action: Action, message: str = "") -> migration_pb.ReportVerifiedRunRequest:
    return migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(id=run.id, attempt=bigquery_pb.Attempt(key=run.attempt_key)),
        action=action,
        final_message=message,
    )


def _post(run: Run, fake: FakeGerrit, number: int) -> migration_pb.PostGerritMessageRequest:
    return migration_pb.PostGerritMessageRequest(
        project=run.project,
        run_id=run.id,
        host=fake.host,
        change=number,
        revision=fake.change(number).current.revision,
        comment=f"CQ is trying change {number}.",
    )


async def test_secrets_appear_in_no_log_body_row_or_database_file(world: World):
    fake = world.fake
    async with FakeGerrit(host="netrc-review.example.com") as netrc_fake:
        add_accounts(netrc_fake)
        submitted = await world.make_run([change(fake, 2)])
        failed = await world.make_run([change(fake, 1)])
        via_netrc = await world.make_run_on(netrc_fake, [change(netrc_fake, 1)])
        posted_number = change(netrc_fake, 1)
        posting = await world.make_run_on(netrc_fake, [posted_number])
        await world.start(
            extra_hosts=[
                {"host": netrc_fake.host, "base_url": netrc_fake.base_url, "auth": "netrc"}
            ],
            sections={
                "auth": {
                    "tokens": [{"identity": CALLER, "sha256": token_digest(API_TOKEN)}],
                    "allow_group": [CALLER],
                }
            },
        )
        cqdaemon = Caller(world)

        netrc = migration_pb.ReportUsedNetrcRequest(
            gerrit_host=netrc_fake.host, access_token=NETRC_TOKEN
        )
        assert (await cqdaemon("ReportUsedNetrc", netrc)).code is Code.OK
        assert (await cqdaemon("ReportUsedNetrc", netrc, protocol="connect")).code is Code.OK

        # Failures, in every protocol, each answered with a body the scan reads.
        for protocol in ("prpc", "twirp", "connect"):
            wrong = await cqdaemon("ReportUsedNetrc", netrc, protocol=protocol,
                                   token=API_TOKEN + "-wrong")  # fmt: skip
            assert wrong.code is Code.UNAUTHENTICATED, wrong
            anonymous = await cqdaemon("FetchActiveRuns", migration_pb.FetchActiveRunsRequest(
                luci_project="chromium"), protocol=protocol, token=None)  # fmt: skip
            assert anonymous.code is Code.UNAUTHENTICATED, anonymous
            empty = migration_pb.ReportUsedNetrcRequest(access_token=NETRC_TOKEN)
            bad = await cqdaemon("ReportUsedNetrc", empty, protocol=protocol)
            assert bad.code is Code.INVALID_ARGUMENT, bad
        garbled = json.dumps({"gerritHost": 7, "accessToken": NETRC_TOKEN}).encode()
        for path in ("/prpc", "/twirp", ""):
            response = await cqdaemon.raw(
                f"{path}/migration.Migration/ReportUsedNetrc",
                garbled,
                {"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"},
            )
            assert response.status_code == 400, response.text
        fake.fail_next(1, 403, path_contains="/review")
        refused = await cqdaemon("PostGerritMessage", _post(failed, fake, 2), protocol="twirp")
        assert refused.code is Code.PERMISSION_DENIED, refused
        netrc_fake.fail_next(3, 401, path_contains="/changes/")
        unauthorized = await cqdaemon(
            "PostGerritMessage", _post(posting, netrc_fake, posted_number), protocol="twirp"
        )
        assert unauthorized.code is not Code.OK
        reply = await cqdaemon("PostGerritMessage", _post(posting, netrc_fake, posted_number))
        assert reply.code is Code.OK, reply

        # The run manager acts on both hosts with both credentials; the runs end in BigQuery
        # rows, as does an attempt CQDaemon finished on its own.
        assert (
            await cqdaemon("ReportVerifiedRun", _verified(submitted, Action.SUBMIT))
        ).code is Code.OK
        assert (await cqdaemon("ReportVerifiedRun", _verified(
            failed, Action.FAIL, "Build failed"))).code is Code.OK  # fmt: skip
        assert (await cqdaemon("ReportVerifiedRun", _verified(
            via_netrc, Action.DRY_RUN_OK))).code is Code.OK  # fmt: skip
        unmatched = migration_pb.ReportFinishedRunRequest(
            run=migration_pb.ReportedRun(
                attempt=bigquery_pb.Attempt(
                    key="5ec7e75ec7e75ec7",
                    luci_project="chromium",
                    gerrit_changes=[bigquery_pb.GerritChange(host=fake.host, change=1)],
                )
            )
        )
        assert (await cqdaemon("ReportFinishedRun", unmatched)).code is Code.OK
        for run in (submitted, failed, via_netrc):
            assert (await world.wait_ended(run.id)).is_ended
        assert netrc_fake.requests_matching("POST", "/review"), "the netrc host was used"
        authorizations = {r.headers.get("Authorization") for r in netrc_fake.requests}
        assert "Basic " + base64.b64encode(NETRC_TOKEN.encode()).decode() in authorizations

        rows = await world.read(lambda conn: outbox.list_rows(conn))
        assert len(rows) == 4
        assert world.server is not None
        await asyncio.to_thread(world.server.stop)  # flush the log; the fixture stops nothing

    leaks = {
        "server log": _leaks(world.server.log().encode()),
        **{f"response {n}": _leaks(r.content) for n, r in enumerate(cqdaemon.responses)},
        **{f"outbox row {row.dedup_key}": _leaks(row.row_json.encode()) for row in rows},
        **{f"{p.name}": _leaks(p.read_bytes()) for p in world.workdir.glob("cvmigrate.db*")},
    }
    assert {where: found for where, found in leaks.items() if found} == {}
    # The netrc token is in the database, encrypted: the ciphertext opens to it.
    (ciphertext,) = await world.read(
        lambda conn: conn.execute("SELECT ciphertext FROM netrc_tokens").fetchone()
    )
    assert SecretBox(KEY).decrypt(ciphertext) == NETRC_TOKEN
