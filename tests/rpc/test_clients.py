"""Real, independent clients against our server: buf curl and connectrpc (Connect), the
twirp package (Twirp) and LUCI's JavaScript client @chopsui/prpc-client (pRPC)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import twirp.context
import twirp.exceptions
from connectrpc.code import Code as ConnectCode
from connectrpc.compat import google_protobuf_json_codec
from connectrpc.errors import ConnectError
from twirp.client import TwirpClient
from twirp.errors import Errors as TwirpErrors

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".venv" / "bin" / "buf"
JS_DIR = ROOT / "tests" / "js"
STATUS_PATH = "/migration.Migration/FetchRunStatus"


def buf_curl(url: str, data: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUF_CACHE_DIR": str(tmp_path / "buf-cache")}
    command = [str(BUF), "curl", "--schema", str(ROOT / "schemas"), "--protocol", "connect"]
    command += ["--data", json.dumps(data), "-H", "Authorization: Bearer buf", url + STATUS_PATH]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_buf_curl_success(rpc_url: str, tmp_path: Path) -> None:
    result = buf_curl(rpc_url, {"luciProject": "from-buf"}, tmp_path)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["event"] == "from-buf"
    assert response["extra"].split()[:2] == ["connect", "user:buf"]


def test_buf_curl_error(rpc_url: str, tmp_path: Path) -> None:
    result = buf_curl(rpc_url, {"attemptKey": "code:9"}, tmp_path)
    assert result.returncode == 9 * 8  # buf curl exits with the gRPC code shifted left by 3
    error = json.loads(result.stderr)
    assert error == {"code": "failed_precondition", "message": "failed with FAILED_PRECONDITION"}


def connect_client(google_pb: SimpleNamespace, url: str, **options: Any) -> Any:
    return google_pb.connect.MigrationClientSync(url, **options)


@pytest.mark.parametrize("codec", ["proto", "json"])
@pytest.mark.parametrize("use_get", [False, True], ids=["post", "get"])
def test_connectrpc_client(
    rpc_url: str, google_pb: SimpleNamespace, codec: str, use_get: bool
) -> None:
    options: dict[str, Any] = {"timeout_ms": 5000}
    if codec == "json":
        options["codec"] = google_protobuf_json_codec()
    request = google_pb.migration.FetchRunStatusRequest(luci_project=f"{codec}-{use_get}")
    # The client gzips every request body (and GET message) by default.
    with connect_client(google_pb, rpc_url, **options) as client:
        response = client.fetch_run_status(
            request, use_get=use_get, headers={"authorization": "Bearer py"}
        )
    assert response.event == f"{codec}-{use_get}"
    protocol, identity, deadline_ms = response.extra.split()
    assert (protocol, identity) == ("connect", "user:py")
    assert 0 < int(deadline_ms) <= 5000


def test_connectrpc_client_without_compression(rpc_url: str, google_pb: SimpleNamespace) -> None:
    request = google_pb.migration.FetchRunStatusRequest(luci_project="plain")
    with connect_client(google_pb, rpc_url, send_compression=None) as client:
        assert client.fetch_run_status(request).event == "plain"


def test_connectrpc_client_errors(rpc_url: str, google_pb: SimpleNamespace) -> None:
    with connect_client(google_pb, rpc_url) as client:
        with pytest.raises(ConnectError) as caught:
            client.fetch_run_status(google_pb.migration.FetchRunStatusRequest(attempt_key="code:9"))
        assert caught.value.code is ConnectCode.FAILED_PRECONDITION
        assert caught.value.message == "failed with FAILED_PRECONDITION"
        with pytest.raises(ConnectError) as caught:
            client.fetch_run_status(
                google_pb.migration.FetchRunStatusRequest(attempt_key="hang"), timeout_ms=200
            )
        assert caught.value.code is ConnectCode.DEADLINE_EXCEEDED
        with pytest.raises(ConnectError) as caught:
            client.report_runs(google_pb.migration.ReportRunsRequest())
        assert caught.value.code is ConnectCode.UNIMPLEMENTED


def twirp_call(url: str, path: str, request: Any, response_type: type) -> Any:
    client = TwirpClient(address=url)
    return client._make_request(
        url=path, ctx=twirp.context.Context(), request=request, response_obj=response_type
    )


def test_twirp_client(rpc_url: str, google_pb: SimpleNamespace) -> None:
    response = twirp_call(
        rpc_url,
        "/twirp" + STATUS_PATH,
        google_pb.migration.FetchRunStatusRequest(luci_project="twirpy"),
        google_pb.migration.FetchRunStatusResponse,
    )
    assert response.event == "twirpy"
    assert response.extra.startswith("twirp anonymous:anonymous ")


def test_twirp_client_errors(rpc_url: str, google_pb: SimpleNamespace) -> None:
    pb = google_pb.migration
    with pytest.raises(twirp.exceptions.TwirpServerException) as caught:
        twirp_call(
            rpc_url,
            "/twirp" + STATUS_PATH,
            pb.FetchRunStatusRequest(attempt_key="code:5"),
            pb.FetchRunStatusResponse,
        )
    assert caught.value.code is TwirpErrors.NotFound
    assert caught.value.message == "failed with NOT_FOUND"
    assert caught.value.meta == {"attempt": "code:5"}
    path = "/twirp/migration.Migration/Nope"
    with pytest.raises(twirp.exceptions.TwirpServerException) as caught:
        twirp_call(rpc_url, path, pb.FetchRunStatusRequest(), pb.FetchRunStatusResponse)
    assert caught.value.code is TwirpErrors.BadRoute
    assert caught.value.meta == {"twirp_invalid_route": f"POST {path}"}


def prpc_node(url: str, method: str, request: dict[str, Any], **headers: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (JS_DIR / "node_modules" / "@chopsui" / "prpc-client").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `cd tests/js && npm ci`")
    command = [node, "prpc_call.cjs", url.removeprefix("http://"), "migration.Migration", method]
    command += [json.dumps(request), json.dumps(headers)]
    result = subprocess.run(
        command,
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_prpc_js_client(rpc_url: str) -> None:
    result = prpc_node(
        rpc_url, "FetchRunStatus", {"luciProject": "from-js"}, authorization="Bearer js"
    )
    assert result["ok"], result
    assert result["response"]["event"] == "from-js"
    assert result["response"]["extra"].split()[:2] == ["prpc", "user:js"]


@pytest.mark.parametrize(
    ("request_json", "code", "description"),
    [
        ({"attemptKey": "code:9"}, 9, "failed with FAILED_PRECONDITION"),
        ({"attemptKey": "code:12"}, 12, "API method not implemented by the server"),
        ({"luciProject": 5}, 3, "could not decode body: luci_project: invalid string value"),
    ],
)
def test_prpc_js_client_errors(
    rpc_url: str, request_json: dict[str, Any], code: int, description: str
) -> None:
    result = prpc_node(rpc_url, "FetchRunStatus", request_json)
    assert result["error"] == "GrpcError", result
    assert result["code"] == code
    assert result["description"].rstrip("\n") == description
