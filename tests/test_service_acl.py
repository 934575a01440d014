"""Who may call what, over the real server, in all three protocols (the ACL matrix)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support import HOST, PROTOCOLS, call, change_info, create_run, put_cl, set_status

from cvmigrate.auth import token_digest
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.status import Status
from cvmigrate.secretbox import new_secret_key
from cvmigrate.store.db import Database

CHROMIUM = "cvm_chromium-token"
V8 = "cvm_v8-token"
CQDAEMON = "cvm_cqdaemon-token"


def _seed(path: Path) -> tuple[str, str]:
    async def go():
        db = await Database.open(path)
        try:
            running = await db.write(create_run, changes=[change_info(1)])
            ended = await db.write(create_run, changes=[change_info(2)])
            await db.write(set_status, ended.id, Status.SUCCEEDED)
            await db.write(put_cl, change_info(1))
            return running.attempt_key, ended.attempt_key
        finally:
            await db.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory):
    from harness import ServerProcess

    workdir = tmp_path_factory.mktemp("acl")
    running_key, ended_key = _seed(workdir / "cvmigrate.db")
    config = {
        "auth": {
            "tokens": [
                {"identity": "project:chromium", "sha256": token_digest(CHROMIUM)},
                {"identity": "project:v8", "sha256": token_digest(V8)},
                {"identity": "service:cqdaemon", "sha256": token_digest(CQDAEMON)},
            ],
            "trusted_services": ["service:cqdaemon"],
        }
    }
    server = ServerProcess(workdir, config, env={"CVMIGRATE_SECRET_KEY": new_secret_key()}).start()
    yield server, running_key, ended_key
    server.stop()


def _requests(running_key: str, ended_key: str) -> dict[str, tuple[object, Code]]:
    """A valid chromium request per method, and what an allowed caller gets."""
    attempt = bigquery_pb.Attempt(
        key=running_key,
        luci_project="chromium",
        gerrit_changes=[bigquery_pb.GerritChange(host=HOST, change=1)],
    )
    return {
        "ReportRuns": (
            migration_pb.ReportRunsRequest(runs=[migration_pb.ReportedRun(attempt=attempt)]),
            Code.OK,
        ),
        "ReportFinishedRun": (
            migration_pb.ReportFinishedRunRequest(run=migration_pb.ReportedRun(attempt=attempt)),
            Code.OK,
        ),
        "ReportVerifiedRun": (
            migration_pb.ReportVerifiedRunRequest(
                run=migration_pb.ReportedRun(attempt=attempt),
                action=migration_pb.ReportVerifiedRunRequestAction.DRY_RUN_OK,
            ),
            Code.OK,
        ),
        "FetchRunStatus": (
            migration_pb.FetchRunStatusRequest(luci_project="chromium", attempt_key=ended_key),
            Code.OK,
        ),
        "PostGerritMessage": (
            migration_pb.PostGerritMessageRequest(
                project="chromium",
                attempt_key=running_key,
                host=HOST,
                change=1,
                revision="rev-000001-001",
                comment="hello",
            ),
            Code.INTERNAL,  # validated and authorized; no Gerrit host is configured
        ),
        "FetchActiveRuns": (migration_pb.FetchActiveRunsRequest(luci_project="chromium"), Code.OK),
        "FetchExcludedCLs": (
            migration_pb.FetchExcludedCLsRequest(luci_project="chromium"),
            Code.OK,
        ),
        "ReportUsedNetrc": (
            migration_pb.ReportUsedNetrcRequest(gerrit_host=HOST, access_token="u:p"),
            Code.OK,
        ),
    }


METHODS = list(_requests("k", "k"))


def _allowed_headers(method: str) -> tuple[str, dict[str, str]]:
    # ReportUsedNetrc is for trusted services; CQDaemon calls as a service acting for a project.
    if method == "ReportUsedNetrc":
        return CQDAEMON, {"X-Luci-Project": "chromium"}
    return CHROMIUM, {}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", METHODS)
def test_acl_allowed_caller(acl_server, method, protocol):
    server, running_key, ended_key = acl_server
    request, expected = _requests(running_key, ended_key)[method]
    token, headers = _allowed_headers(method)
    reply = call(server.base_url, method, request, protocol=protocol, token=token, headers=headers)
    assert reply.code is expected, reply


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", METHODS)
def test_acl_other_project_is_denied(acl_server, method, protocol):
    server, running_key, ended_key = acl_server
    request, _ = _requests(running_key, ended_key)[method]
    reply = call(server.base_url, method, request, protocol=protocol, token=V8)
    assert reply.code is Code.PERMISSION_DENIED, reply


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("token", [None, "cvm_not-a-token"], ids=["no-token", "bad-token"])
def test_acl_unauthenticated(acl_server, method, protocol, token):
    server, running_key, ended_key = acl_server
    request, _ = _requests(running_key, ended_key)[method]
    reply = call(server.base_url, method, request, protocol=protocol, token=token)
    assert reply.code is Code.UNAUTHENTICATED, reply
    assert "cvm_not-a-token" not in reply.error


def test_acl_untrusted_caller_cannot_claim_a_project(acl_server):
    server, *_ = acl_server
    reply = call(
        server.base_url,
        "FetchActiveRuns",
        migration_pb.FetchActiveRunsRequest(luci_project="v8"),
        token=CHROMIUM,
        headers={"X-Luci-Project": "v8"},
    )
    assert reply.code is Code.PERMISSION_DENIED


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", ["FetchRunStatus", "ReportRuns", "ReportVerifiedRun"])
def test_json_answers_carry_the_same_message_as_binary(acl_server, method, protocol):
    """These handlers answer with official-runtime messages (encoded by upb in binary); a
    JSON caller gets the same message through the server's JSON encoder."""
    server, running_key, ended_key = acl_server
    request, expected = _requests(running_key, ended_key)[method]
    token, headers = _allowed_headers(method)
    binary = call(server.base_url, method, request, protocol=protocol, token=token, headers=headers)
    json_reply = call(
        server.base_url,
        method,
        request,
        protocol=protocol,
        token=token,
        headers=headers,
        json_body=True,
    )
    assert binary.code is expected is json_reply.code, (binary, json_reply)
    assert json_reply.message == binary.message
    if method == "FetchRunStatus":
        assert json_reply.message.event == "patch_ready_to_commit"  # a succeeded dry run
