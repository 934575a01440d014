"""Connect unary over the wire (rpc/connect.py), POST and GET.

The routing cases follow connectrpc/conformance's `connect_server_unexpected.yaml`.
"""

from __future__ import annotations

import base64
import gzip
import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from rpc_test_service import SECRET_DETAIL, TEST_MAX_BODY_BYTES

from cvmigrate.rpc.codes import CONNECT_CODE, CONNECT_HTTP_STATUS, Code

STATUS_PATH = "/migration.Migration/FetchRunStatus"
VERIFIED_PATH = "/migration.Migration/ReportVerifiedRun"
PROTO = "application/proto"
JSON = "application/json"


def assert_connect_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    """The Connect error shape: JSON `{"code", "message"}` with a non-200 status."""
    assert response.status_code == status
    assert response.headers["content-type"] == JSON
    assert response.json() == {"code": code, "message": message}


def post(http: httpx.Client, body: bytes, content_type: str | None, **headers: str) -> Any:
    all_headers = {k.replace("_", "-"): v for k, v in headers.items()}
    if content_type is not None:
        all_headers["content-type"] = content_type
    all_headers.setdefault("connect-protocol-version", "1")
    path = all_headers.pop("path", STATUS_PATH)
    return http.post(path, content=body, headers=all_headers)


def test_proto_call(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = google_pb.migration.FetchRunStatusRequest(luci_project="chromium").SerializeToString()
    response = post(http, body, PROTO)
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTO
    message = google_pb.migration.FetchRunStatusResponse.FromString(response.content)
    assert message.event == "chromium"
    assert message.extra.startswith("connect anonymous:anonymous ")


@pytest.mark.parametrize("content_type", [JSON, "application/json; charset=utf-8"])
def test_json_call(http: httpx.Client, google_pb: SimpleNamespace, content_type: str) -> None:
    response = post(http, b'{"luci_project":"v8"}', content_type)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    message = json_format.Parse(response.content, google_pb.migration.FetchRunStatusResponse())
    assert message.event == "v8"


def test_json_response_omits_defaults_and_uses_lower_camel(http: httpx.Client) -> None:
    response = post(http, b"{}", JSON, path="/migration.Migration/FetchActiveRuns")
    assert response.json() == {"activeRuns": [{"id": "chromium/8999-1-beef", "cls": [{"id": "7"}]}]}


def test_protocol_version_header_is_optional(http: httpx.Client) -> None:
    response = http.post(STATUS_PATH, content=b"{}", headers={"content-type": JSON})
    assert response.status_code == 200


def test_wrong_protocol_version_is_invalid_argument(http: httpx.Client) -> None:
    response = post(http, b"{}", JSON, connect_protocol_version="2")
    assert_connect_error(
        response, 400, "invalid_argument", 'connect-protocol-version must be "1": got "2"'
    )


def test_zero_length_bodies(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    response = post(http, b"", PROTO)
    assert response.status_code == 200
    assert google_pb.migration.FetchRunStatusResponse.FromString(response.content).event == ""
    response = post(http, b"", JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_argument"


def test_gzip_request(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = gzip.compress(
        google_pb.migration.FetchRunStatusRequest(luci_project="gz").SerializeToString()
    )
    response = post(http, body, PROTO, content_encoding="gzip")
    assert google_pb.migration.FetchRunStatusResponse.FromString(response.content).event == "gz"
    # A zero-length body is never decompressed.
    response = post(http, b"", PROTO, content_encoding="gzip")
    assert response.status_code == 200


def test_unknown_compression_is_unimplemented(http: httpx.Client) -> None:
    response = post(http, b"{}", JSON, content_encoding="br")
    assert_connect_error(
        response,
        501,
        "unimplemented",
        'unknown compression "br": supported encodings are gzip, identity',
    )


def test_timeout_header(http: httpx.Client) -> None:
    response = post(http, b"{}", JSON, connect_timeout_ms="1500")
    deadline_ms = int(response.json()["extra"].split()[2])
    assert 0 < deadline_ms <= 1500


def test_deadline_exceeded(http: httpx.Client) -> None:
    response = post(http, b'{"attemptKey":"hang"}', JSON, connect_timeout_ms="200")
    assert_connect_error(response, 504, "deadline_exceeded", "deadline exceeded")
    response = post(http, b"{}", JSON, connect_timeout_ms="0")
    assert_connect_error(response, 504, "deadline_exceeded", "deadline exceeded")


@pytest.mark.parametrize("value", ["12345678901", "abc", "-1", "1.5", ""])
def test_malformed_timeout_is_invalid_argument(http: httpx.Client, value: str) -> None:
    response = post(http, b"{}", JSON, connect_timeout_ms=value)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_argument"


@pytest.mark.parametrize(
    "code", [pytest.param(code, id=code.name) for code in Code if code is not Code.OK]
)
def test_error_codes(http: httpx.Client, code: Code) -> None:
    response = post(http, json.dumps({"attemptKey": f"code:{int(code)}"}).encode(), JSON)
    assert_connect_error(
        response, CONNECT_HTTP_STATUS[code], CONNECT_CODE[code], f"failed with {code.name}"
    )


def test_errors_are_json_for_proto_requests(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = google_pb.migration.FetchRunStatusRequest(attempt_key="code:9").SerializeToString()
    response = post(http, body, PROTO)
    assert_connect_error(response, 400, "failed_precondition", "failed with FAILED_PRECONDITION")


def test_crash_is_internal_without_detail(http: httpx.Client) -> None:
    response = post(http, b'{"attemptKey":"crash"}', JSON)
    assert_connect_error(response, 500, "internal", "internal error")
    assert SECRET_DETAIL not in response.text


def test_undecodable_body_is_invalid_argument(http: httpx.Client) -> None:
    response = post(http, b"\n\x05ab", PROTO)
    assert_connect_error(
        response,
        400,
        "invalid_argument",
        "could not unmarshal request: field 1: length 5 exceeds the message",
    )


def test_oversize_body_is_resource_exhausted(http: httpx.Client) -> None:
    response = post(http, b"x" * (TEST_MAX_BODY_BYTES + 1), PROTO)
    message = f"request message is larger than the limit of {TEST_MAX_BODY_BYTES} bytes"
    assert_connect_error(response, 429, "resource_exhausted", message)


def test_unknown_method_is_404_without_body(http: httpx.Client) -> None:
    for path in ("/migration.Migration/Nope", "/other.Service/FetchRunStatus"):
        response = http.post(path, content=b"{}", headers={"content-type": JSON})
        assert response.status_code == 404
        assert response.content == b""


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/protobuf", "application/json; foo=bar", "application/xml"],
)
def test_unsupported_content_type_is_415(http: httpx.Client, content_type: str | None) -> None:
    response = post(http, b"{}", content_type)
    assert response.status_code == 415
    assert response.headers["accept-post"] == "application/json, application/proto"
    assert response.content == b""


@pytest.mark.parametrize(
    ("verb", "path", "allow"),
    [
        pytest.param("GET", VERIFIED_PATH, "POST", id="get-with-side-effects"),
        pytest.param("DELETE", VERIFIED_PATH, "POST", id="delete"),
        pytest.param("PUT", STATUS_PATH, "GET, POST", id="put-on-get-method"),
    ],
)
def test_bad_verbs_are_405(http: httpx.Client, verb: str, path: str, allow: str) -> None:
    response = http.request(verb, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.content == b""


def get(http: httpx.Client, params: dict[str, str], **headers: str) -> httpx.Response:
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return http.get(STATUS_PATH, params=params, headers=headers)


def test_get_json_message(http: httpx.Client) -> None:
    response = get(http, {"encoding": "json", "message": '{"luciProject":"get"}'})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.json()["event"] == "get"


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "identity"])
def test_get_base64_proto_message(
    http: httpx.Client, google_pb: SimpleNamespace, padded: bool, compressed: bool
) -> None:
    data = google_pb.migration.FetchRunStatusRequest(luci_project="get?=").SerializeToString()
    if compressed:
        data = gzip.compress(data)
    message = base64.urlsafe_b64encode(data).decode()
    if not padded:
        message = message.rstrip("=")
    params = {"connect": "v1", "encoding": "proto", "base64": "1", "message": message, "x": "1"}
    if compressed:
        params["compression"] = "gzip"
    response = get(http, params, connect_timeout_ms="5000")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PROTO
    assert google_pb.migration.FetchRunStatusResponse.FromString(response.content).event == "get?="


@pytest.mark.parametrize(
    ("params", "status"),
    [
        pytest.param({"message": "{}"}, 400, id="missing-encoding"),
        pytest.param({"encoding": "json"}, 400, id="missing-message"),
        pytest.param({"encoding": "xml", "message": "{}"}, 415, id="unknown-encoding"),
        pytest.param({"encoding": "json", "message": "{}", "connect": "v2"}, 400, id="bad-connect"),
        pytest.param(
            {"encoding": "proto", "message": "!!!", "base64": "1"}, 400, id="invalid-base64"
        ),
        pytest.param(
            {"encoding": "json", "message": "{}", "compression": "br"},
            501,
            id="unknown-compression",
        ),
    ],
)
def test_bad_get_requests(http: httpx.Client, params: dict[str, str], status: int) -> None:
    response = get(http, params)
    assert response.status_code == status


def test_get_oversize_message(http: httpx.Client) -> None:
    bomb = gzip.compress(b"\0" * (TEST_MAX_BODY_BYTES * 16))
    params = {
        "encoding": "proto",
        "base64": "1",
        "compression": "gzip",
        "message": base64.urlsafe_b64encode(bomb).decode(),
    }
    response = get(http, params)
    assert response.status_code == 429
    assert response.json()["code"] == "resource_exhausted"


def test_authentication(http: httpx.Client) -> None:
    response = post(http, b"{}", JSON, authorization="Bearer carol")
    assert response.json()["extra"].split()[:2] == ["connect", "user:carol"]
    response = post(http, b"{}", JSON, authorization="Bearer bad")
    assert_connect_error(response, 401, "unauthenticated", "bad token")
