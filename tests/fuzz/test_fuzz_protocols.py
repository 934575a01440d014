"""Property-based fuzzing of every method in all three protocols.

Random and mutated bodies, content types, encodings and headers go to a real server on
loopback. Every answer must be a documented protocol answer (a valid response or the
protocol's error shape), never an unexpected 5xx, never a traceback, and an error must
leave the database unchanged. `make fuzz` runs many more examples (FUZZ_EXAMPLES).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import ServerProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import change_info, create_run, mutate

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.methods import MIGRATION_METHODS
from cvmigrate.store.db import Database

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
METHODS = sorted(MIGRATION_METHODS)
PROTOCOLS = ("prpc", "twirp", "connect")
CONTENT_TYPES = (
    "application/prpc; encoding=binary",
    "application/prpc; encoding=text",
    "application/prpc; encoding=json",
    "application/json",
    "application/json; charset=utf-8",
    "application/protobuf",
    "application/proto",
    "application/grpc",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
    "*/*",
)
# 5xx answers the protocols document for deliberate conditions: unimplemented methods (501),
# oversize pRPC bodies (503), deadlines (504). Anything else (500) would be a crash.
DELIBERATE_5XX = {501, 503, 504}


def _valid_bodies(attempt_key: str) -> dict[str, bytes]:
    attempt = bigquery_pb.Attempt(
        key=attempt_key,
        luci_project="chromium",
        gerrit_changes=[bigquery_pb.GerritChange(host="h", change=1)],
    )
    messages = {
        "ReportRuns": migration_pb.ReportRunsRequest(
            runs=[migration_pb.ReportedRun(attempt=attempt)]
        ),
        "ReportFinishedRun": migration_pb.ReportFinishedRunRequest(
            run=migration_pb.ReportedRun(attempt=attempt)
        ),
        "ReportVerifiedRun": migration_pb.ReportVerifiedRunRequest(
            run=migration_pb.ReportedRun(attempt=attempt)
        ),
        "FetchRunStatus": migration_pb.FetchRunStatusRequest(
            luci_project="chromium", attempt_key=attempt_key
        ),
        "PostGerritMessage": migration_pb.PostGerritMessageRequest(
            project="chromium",
            attempt_key=attempt_key,
            host="h",
            change=1,
            revision="r",
            comment="c",
        ),
        "FetchActiveRuns": migration_pb.FetchActiveRunsRequest(luci_project="chromium"),
        "FetchExcludedCLs": migration_pb.FetchExcludedCLsRequest(luci_project="chromium"),
        "ReportUsedNetrc": migration_pb.ReportUsedNetrcRequest(gerrit_host="h", access_token="t"),
    }
    return {name: bytes(message) for name, message in messages.items()}


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[tuple[str, Path, dict[str, bytes]]]:
    # The server runs in its own process: its background tasks use `random` (jitter), which
    # hypothesis forbids while it draws in this process.
    workdir = tmp_path_factory.mktemp("fuzz")
    db_path = workdir / "cvmigrate.db"

    async def seed():
        db = await Database.open(db_path)
        try:
            return await db.write(create_run, changes=[change_info(1)])
        finally:
            await db.close()

    run = asyncio.run(seed())
    # The run manager sleeps: its retries of events queued by earlier accepted inputs would
    # change the database between an error answer's two fingerprints (seen in `make fuzz`).
    config = {
        "server": {"bind": "127.0.0.1:0", "max_body_bytes": 65536},
        "run_manager": {"poll_interval_s": 1_000_000},
    }
    server = ServerProcess(workdir, config)
    server.start()
    try:
        yield server.base_url, db_path, _valid_bodies(run.attempt_key)
    finally:
        server.stop()


def _fingerprint(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        digest = hashlib.sha256()
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY 1")
        ]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):  # noqa: S608 (table names from sqlite_master)
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def _path(protocol: str, method: str) -> str:
    return {
        "prpc": f"/prpc/migration.Migration/{method}",
        "twirp": f"/twirp/migration.Migration/{method}",
        "connect": f"/migration.Migration/{method}",
    }[protocol]


def _check_answer(protocol: str, response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code in DELIBERATE_5XX, (
        response.status_code,
        response.text[:300],
    )
    assert b"Traceback" not in response.content
    if protocol == "prpc":
        assert response.headers["x-prpc-grpc-code"].isdigit()
        assert response.headers["x-content-type-options"] == "nosniff"
    elif response.status_code != 200 and response.content:
        error = json.loads(response.content)
        assert isinstance(error["code"], str) and error["code"]
        if protocol == "twirp":
            assert "msg" in error
    elif response.status_code == 200:
        assert response.headers["content-type"].startswith(
            ("application/json", "application/proto")
        )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_every_method_every_protocol(target, fuzz_tally, data):
    url, db_path, valid = target
    protocol = data.draw(st.sampled_from(PROTOCOLS))
    method = data.draw(st.sampled_from([*METHODS, "NoSuchMethod", "fetchActiveRuns"]))
    body = mutate(valid.get(method, b""), data)
    if data.draw(st.booleans()):
        body = json.dumps(
            data.draw(
                st.recursive(
                    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: (
                        st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=12), children, max_size=4)
                    ),
                    max_leaves=10,
                )
            )
        ).encode()
    headers = {"Content-Type": data.draw(st.sampled_from(CONTENT_TYPES))}
    if data.draw(st.booleans()):
        headers["Accept"] = data.draw(
            st.sampled_from([*CONTENT_TYPES, "application/json;q=0.5, */*;q=0.1", "x/y"])
        )
    compression = data.draw(st.sampled_from(["none", "gzip", "corrupt-gzip", "unknown"]))
    if compression == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    elif compression == "corrupt-gzip":
        body, headers["Content-Encoding"] = gzip.compress(body)[:-5] + b"xxxxx", "gzip"
    elif compression == "unknown":
        headers["Content-Encoding"] = "br"
    if data.draw(st.booleans()):
        headers[
            data.draw(
                st.sampled_from(
                    ["X-Prpc-Grpc-Timeout", "Connect-Timeout-Ms", "Connect-Protocol-Version"]
                )
            )
        ] = data.draw(st.sampled_from(["1S", "0", "-1", "99999999999", "5m", "x", "1", "2", ""]))
    verb = data.draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE"]))
    params = None
    if verb == "GET" and protocol == "connect":
        params = {
            "encoding": data.draw(st.sampled_from(["proto", "json", "xml"])),
            "message": data.draw(st.text(max_size=40)),
            "base64": data.draw(st.sampled_from(["1", "0", ""])),
        }
        body = b""
    before = _fingerprint(db_path)
    response = httpx.request(
        verb,
        url + _path(protocol, method),
        content=body,
        headers=headers,
        params=params,
        timeout=30,
    )
    fuzz_tally["inputs"] += 1
    _check_answer(protocol, response)
    ok = response.status_code == 200 and response.headers.get("x-prpc-grpc-code", "0") == "0"
    if not ok:
        assert _fingerprint(db_path) == before, "an error answer changed the database"
