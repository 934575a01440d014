"""Twirp v7 over the wire (rpc/twirp.py); messages built and read with the official runtime."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from rpc_test_service import SECRET_DETAIL, TEST_MAX_BODY_BYTES, build_test_service

from cvmigrate.rpc.codes import TWIRP_CODE, TWIRP_HTTP_STATUS, Code
from cvmigrate.rpc.server import RpcServer

STATUS_PATH = "/twirp/migration.Migration/FetchRunStatus"
PROTOBUF = "application/protobuf"
JSON = "application/json"


def assert_twirp_error(
    response: httpx.Response, status: int, code: str, msg: str, meta: dict[str, str] | None = None
) -> None:
    """The Twirp error shape: JSON `{"code", "msg", "meta"?}` with a Content-Length."""
    assert response.status_code == status
    assert response.headers["content-type"] == JSON
    assert int(response.headers["content-length"]) == len(response.content)
    expected: dict[str, Any] = {"code": code, "msg": msg}
    if meta:
        expected["meta"] = meta
    assert response.json() == expected


def post(
    http: httpx.Client, body: bytes, content_type: str | None, path: str = STATUS_PATH
) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    return http.post(path, content=body, headers=headers)


def test_protobuf_call(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = google_pb.migration.FetchRunStatusRequest(luci_project="chromium").SerializeToString()
    response = post(http, body, PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF
    message = google_pb.migration.FetchRunStatusResponse.FromString(response.content)
    assert message.event == "chromium"
    assert message.extra.startswith("twirp anonymous:anonymous ")


@pytest.mark.parametrize(
    "body",
    [b'{"luciProject":"v8"}', b'{"luci_project":"v8","unknown":[1]}'],
    ids=["camel", "snake"],
)
def test_json_call_answers_snake_case_with_defaults(http: httpx.Client, body: bytes) -> None:
    response = post(http, body, JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    value = response.json()
    assert set(value) == {"event", "extra"}
    assert value["event"] == "v8"


def test_json_defaults_are_emitted(http: httpx.Client) -> None:
    path = "/twirp/migration.Migration/FetchActiveRuns"
    response = post(http, b"{}", JSON, path)
    run = response.json()["active_runs"][0]
    assert run["fyi_deps"] == []
    assert run["cls"][0] == {
        "id": "7",
        "gc": None,
        "info": None,
        "files": [],
        "trigger": None,
        "deps": [],
    }


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/json;x=y"]
)
def test_content_type_is_lowercased_and_parameters_ignored(
    http: httpx.Client, content_type: str
) -> None:
    response = post(http, b'{"luciProject":"x"}', content_type)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON


def test_empty_protobuf_body_is_the_empty_message(
    http: httpx.Client, google_pb: SimpleNamespace
) -> None:
    response = post(http, b"", PROTOBUF)
    assert response.status_code == 200
    message = google_pb.migration.FetchRunStatusResponse.FromString(response.content)
    assert message.event == ""


def test_empty_json_body_is_malformed(http: httpx.Client) -> None:
    response = post(http, b"", JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "malformed"
    assert response.json()["msg"].startswith("the json request could not be decoded")


def test_undecodable_protobuf_is_malformed(http: httpx.Client) -> None:
    response = post(http, b"\n\x05ab", PROTOBUF)
    msg = "the protobuf request could not be decoded: field 1: length 5 exceeds the message"
    assert_twirp_error(response, 400, "malformed", msg)


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE"])
def test_non_post_is_bad_route(http: httpx.Client, verb: str) -> None:
    response = http.request(verb, STATUS_PATH)
    assert_twirp_error(
        response,
        404,
        "bad_route",
        f'unsupported method "{verb}" (only POST is allowed)',
        {"twirp_invalid_route": f"{verb} {STATUS_PATH}"},
    )


@pytest.mark.parametrize(
    "path",
    [
        "/twirp/migration.Migration/Nope",
        "/twirp/other.Service/FetchRunStatus",
        "/twirp/migration.Migration",
        "/twirp/a/b/c",
    ],
)
def test_unknown_route_is_bad_route(http: httpx.Client, path: str) -> None:
    response = post(http, b"{}", JSON, path)
    assert_twirp_error(
        response,
        404,
        "bad_route",
        f'no handler for path "{path}"',
        {"twirp_invalid_route": f"POST {path}"},
    )


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/proto", "application/x-protobuf"]
)
def test_other_content_types_are_bad_route(http: httpx.Client, content_type: str | None) -> None:
    response = post(http, b"", content_type)
    assert_twirp_error(
        response,
        404,
        "bad_route",
        f'unexpected Content-Type: "{content_type or ""}"',
        {"twirp_invalid_route": f"POST {STATUS_PATH}"},
    )


@pytest.mark.parametrize(
    "code", [pytest.param(code, id=code.name) for code in Code if code is not Code.OK]
)
def test_error_codes(http: httpx.Client, google_pb: SimpleNamespace, code: Code) -> None:
    key = f"code:{int(code)}"
    body = google_pb.migration.FetchRunStatusRequest(attempt_key=key).SerializeToString()
    response = post(http, body, PROTOBUF)  # errors are JSON even for protobuf requests
    assert_twirp_error(
        response,
        TWIRP_HTTP_STATUS[code],
        TWIRP_CODE[code],
        f"failed with {code.name}",
        {"attempt": key},
    )


def test_crash_is_internal_without_detail(http: httpx.Client) -> None:
    response = post(http, b'{"attemptKey":"crash"}', JSON)
    assert_twirp_error(response, 500, "internal", "internal error")
    assert SECRET_DETAIL not in response.text


def test_oversize_body_is_malformed(http: httpx.Client) -> None:
    response = post(http, b"x" * (TEST_MAX_BODY_BYTES + 1), PROTOBUF)
    msg = f"the request size exceeds the server limit of {TEST_MAX_BODY_BYTES} bytes"
    assert_twirp_error(response, 400, "malformed", msg)


def test_gzip_is_not_part_of_twirp(http: httpx.Client) -> None:
    body = gzip.compress(b'{"luciProject":"x"}')
    response = http.post(
        STATUS_PATH, content=body, headers={"content-type": JSON, "content-encoding": "gzip"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed"


def test_deadline_is_the_server_maximum(serve_app: Callable[..., str]) -> None:
    url = serve_app(RpcServer(build_test_service(), max_timeout_s=0.2))
    response = httpx.post(
        url + STATUS_PATH, content=b'{"attemptKey":"hang"}', headers={"content-type": JSON}
    )
    assert_twirp_error(response, 408, "deadline_exceeded", "deadline exceeded")


def test_authentication(http: httpx.Client) -> None:
    headers = {"content-type": JSON, "authorization": "Bearer bob"}
    response = http.post(STATUS_PATH, content=b"{}", headers=headers)
    assert response.json()["extra"].split()[:2] == ["twirp", "user:bob"]
    headers["authorization"] = "Bearer bad"
    response = http.post(STATUS_PATH, content=b"{}", headers=headers)
    assert_twirp_error(response, 401, "unauthenticated", "bad token")


def test_custom_prefix(serve_app: Callable[..., str]) -> None:
    url = serve_app(RpcServer(build_test_service(), twirp_prefix="/rpc/v7"))
    headers = {"content-type": JSON}
    path = "/migration.Migration/FetchRunStatus"
    response = httpx.post(url + "/rpc/v7" + path, content=b'{"luciProject":"p"}', headers=headers)
    assert json.loads(response.content)["event"] == "p"
    # The default prefix is then no protocol's: three path segments are not a Connect route.
    response = httpx.post(url + "/twirp" + path, content=b"{}", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
