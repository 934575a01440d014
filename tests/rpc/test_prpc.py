"""pRPC over the wire (rpc/prpc.py), with requests written to luci-go's client rules.

Messages are built and read with the official protobuf runtime (`google_pb`), so these
tests do not trust our own codec.
"""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from rpc_test_service import SECRET_DETAIL, TEST_MAX_BODY_BYTES

from cvmigrate.rpc.codes import PRPC_HTTP_STATUS, Code

SERVICE = "/prpc/migration.Migration"
STATUS_PATH = f"{SERVICE}/FetchRunStatus"
BINARY = "application/prpc; encoding=binary"
JSON = "application/json"
XSSI = b")]}'\n"

GENERIC = {
    Code.INTERNAL: "Internal server error",
    Code.UNKNOWN: "Unknown server error",
    Code.UNAVAILABLE: "Service unavailable",
    Code.DEADLINE_EXCEEDED: "Request deadline exceeded",
    Code.UNIMPLEMENTED: "API method not implemented by the server",
    Code.DATA_LOSS: "Unrecoverable data loss or data corruption",
}


def assert_prpc_error(response: httpx.Response, code: Code, status: int, message: str) -> None:
    """The pRPC error shape: code header, nosniff, text/plain `message\\n`."""
    assert response.status_code == status
    assert response.headers["x-prpc-grpc-code"] == str(int(code))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == message + "\n"


def status_request(pb: SimpleNamespace, **fields: Any) -> bytes:
    return pb.migration.FetchRunStatusRequest(**fields).SerializeToString()


def post(
    http: httpx.Client, body: bytes, path: str = STATUS_PATH, **headers: str
) -> httpx.Response:
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return http.post(path, content=body, headers=headers)


def read_json(response: httpx.Response) -> dict[str, Any]:
    assert response.content.startswith(XSSI)
    assert response.content.endswith(b"\n")
    return json.loads(response.content[len(XSSI) :])


def test_binary_call(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = status_request(google_pb, luci_project="chromium")
    response = post(http, body, content_type=BINARY, accept=BINARY)
    assert response.status_code == 200
    assert response.headers["content-type"] == BINARY
    assert response.headers["x-prpc-grpc-code"] == "0"
    assert response.headers["x-content-type-options"] == "nosniff"
    message = google_pb.migration.FetchRunStatusResponse.FromString(response.content)
    assert message.event == "chromium"
    assert message.extra.startswith("prpc anonymous:anonymous ")


def test_json_call_has_xssi_prefix_and_protojson_body(
    http: httpx.Client, google_pb: SimpleNamespace
) -> None:
    response = post(http, b'{"luciProject":"v8"}', content_type=JSON, accept=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.headers["x-prpc-grpc-code"] == "0"
    value = read_json(response)
    assert value["event"] == "v8"
    message = json_format.ParseDict(value, google_pb.migration.FetchRunStatusResponse())
    assert message.event == "v8"


def test_json_response_omits_defaults_and_uses_lower_camel(http: httpx.Client) -> None:
    response = post(http, b"{}", SERVICE + "/FetchActiveRuns", content_type=JSON, accept=JSON)
    assert read_json(response) == {
        "activeRuns": [{"id": "chromium/8999-1-beef", "cls": [{"id": "7"}]}]
    }


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="absent"),
        pytest.param("application/prpc", id="prpc"),
        pytest.param(BINARY, id="prpc-binary"),
        pytest.param("*/*", id="any"),
        pytest.param("application/*", id="application-any"),
        pytest.param("application/grpc", id="grpc"),
    ],
)
def test_binary_request_content_types(
    http: httpx.Client, google_pb: SimpleNamespace, content_type: str | None
) -> None:
    headers = {"accept": JSON} if content_type is None else {"content-type": content_type}
    headers["accept"] = JSON
    response = http.post(
        STATUS_PATH, content=status_request(google_pb, luci_project="x"), headers=headers
    )
    assert response.status_code == 200, response.text
    assert read_json(response)["event"] == "x"


@pytest.mark.parametrize(
    "content_type", [JSON, "application/json; charset=utf-8", "application/prpc; encoding=json"]
)
def test_json_request_content_types(http: httpx.Client, content_type: str) -> None:
    response = post(http, b'{"luci_project":"x"}', content_type=content_type, accept=JSON)
    assert response.status_code == 200, response.text
    assert read_json(response)["event"] == "x"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param("", BINARY, id="absent"),
        pytest.param("*/*", BINARY, id="any"),
        pytest.param("application/*", BINARY, id="application-any"),
        pytest.param(f"{JSON},{BINARY}", BINARY, id="tie-goes-to-binary"),
        pytest.param(f"{JSON},{BINARY};q=0.9", JSON, id="higher-q-wins"),
        pytest.param(f"{JSON};q=0.9,application/prpc; encoding=text", JSON, id="text-skipped"),
        pytest.param("text/html, application/json;q=0.1", JSON, id="unknown-skipped"),
        pytest.param("application/prpc; encoding=json", JSON, id="legacy-json"),
        pytest.param(f"{JSON};q=0.5, {BINARY};q=0", JSON, id="q-zero-excluded"),
    ],
)
def test_accept_picks_the_response_format(
    http: httpx.Client, google_pb: SimpleNamespace, accept: str, expected: str
) -> None:
    body = status_request(google_pb, luci_project="x")
    response = post(http, body, content_type=BINARY, accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == expected


@pytest.mark.parametrize(
    "accept", ["application/prpc; encoding=text", "text/html", "application/protobuf"]
)
def test_unsupported_accept_is_406(http: httpx.Client, accept: str) -> None:
    response = post(http, b"", content_type=BINARY, accept=accept)
    assert response.status_code == 406
    assert response.headers["x-prpc-grpc-code"] == str(int(Code.INVALID_ARGUMENT))
    assert response.text.startswith("Accept header: ")


def test_malformed_accept_is_400(http: httpx.Client) -> None:
    response = post(http, b"", content_type=BINARY, accept="application/json;q=high")
    assert response.status_code == 400
    assert response.headers["x-prpc-grpc-code"] == str(int(Code.INVALID_ARGUMENT))


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("application/prpc; encoding=text", id="text-format"),
        pytest.param("text/plain", id="text-plain"),
        pytest.param("application/protobuf", id="twirp-binary"),
        pytest.param("application/prpc; encoding=yaml", id="bad-encoding"),
        pytest.param("application/prpc; version=2", id="unexpected-parameter"),
    ],
)
def test_unsupported_content_type_is_415(http: httpx.Client, content_type: str) -> None:
    response = post(http, b"", content_type=content_type)
    assert response.status_code == 415
    assert response.headers["x-prpc-grpc-code"] == str(int(Code.INVALID_ARGUMENT))
    assert response.text.startswith("Content-Type header: ")


def test_gzip_request_bodies(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = gzip.compress(status_request(google_pb, luci_project="gz"))
    response = post(http, body, content_type=BINARY, content_encoding="gzip", accept=JSON)
    assert read_json(response)["event"] == "gz"
    body = gzip.compress(b'{"luciProject":"gzjson"}')
    response = post(http, body, content_type=JSON, content_encoding="gzip", accept=JSON)
    assert read_json(response)["event"] == "gzjson"


def test_unsupported_content_encoding_is_415(http: httpx.Client) -> None:
    response = post(http, b"", content_type=BINARY, content_encoding="br")
    assert_prpc_error(response, Code.INVALID_ARGUMENT, 415, 'unsupported Content-Encoding "br"')


def test_invalid_gzip_is_400(http: httpx.Client) -> None:
    response = post(http, b"not gzip", content_type=BINARY, content_encoding="gzip")
    assert response.status_code == 400
    assert response.text.startswith("could not decode body: invalid gzip data")


@pytest.mark.parametrize(
    ("timeout", "limit_ms"),
    [
        ("2S", 2000),
        ("1500m", 1500),
        ("1M", 60_000),
        ("1H", 3_600_000),
        ("5000000u", 5000),
    ],
)
def test_timeout_header_sets_the_deadline(
    http: httpx.Client, google_pb: SimpleNamespace, timeout: str, limit_ms: int
) -> None:
    body = status_request(google_pb)
    response = post(http, body, content_type=BINARY, accept=JSON, x_prpc_grpc_timeout=timeout)
    deadline_ms = int(read_json(response)["extra"].split()[2])
    # The server also caps every deadline at its max_timeout_s (30 s in these tests).
    assert 0 < deadline_ms <= min(limit_ms, 30_000)


@pytest.mark.parametrize("timeout", ["200m", "50000000n"])
def test_deadline_exceeded(http: httpx.Client, google_pb: SimpleNamespace, timeout: str) -> None:
    body = status_request(google_pb, attempt_key="hang")
    response = post(http, body, content_type=BINARY, x_prpc_grpc_timeout=timeout)
    assert_prpc_error(response, Code.DEADLINE_EXCEEDED, 504, "Request deadline exceeded")


@pytest.mark.parametrize("timeout", ["1", "S", "10s", "123456789S", "-1S", "1.5S", "", "1 S"])
def test_malformed_timeout_is_400(http: httpx.Client, timeout: str) -> None:
    response = post(http, b"", content_type=BINARY, x_prpc_grpc_timeout=timeout)
    assert response.status_code == 400
    assert response.headers["x-prpc-grpc-code"] == str(int(Code.INVALID_ARGUMENT))
    assert response.text.startswith("bad request headers: X-Prpc-Grpc-Timeout header: ")


@pytest.mark.parametrize(
    "code", [pytest.param(code, id=code.name) for code in Code if code is not Code.OK]
)
def test_error_codes(http: httpx.Client, google_pb: SimpleNamespace, code: Code) -> None:
    body = status_request(google_pb, attempt_key=f"code:{int(code)}")
    response = post(http, body, content_type=BINARY, accept=BINARY)
    status = PRPC_HTTP_STATUS[code]
    # luci-go hides the message of non-protocol errors with HTTP status >= 500.
    message = GENERIC.get(code, "Server error") if status >= 500 else f"failed with {code.name}"
    assert_prpc_error(response, code, status, message)


def test_crash_is_internal_without_detail(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    response = post(http, status_request(google_pb, attempt_key="crash"), content_type=BINARY)
    assert_prpc_error(response, Code.INTERNAL, 500, "Internal server error")
    assert SECRET_DETAIL not in response.text


def test_none_result_is_internal(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    response = post(http, status_request(google_pb, attempt_key="none"), content_type=BINARY)
    assert_prpc_error(response, Code.INTERNAL, 500, "Internal server error")


def test_unknown_method_and_service(http: httpx.Client) -> None:
    response = post(http, b"", f"{SERVICE}/Nope")
    message = 'method "Nope" in service "migration.Migration" is not implemented'
    assert_prpc_error(response, Code.UNIMPLEMENTED, 501, message)
    response = post(http, b"", "/prpc/other.Service/FetchRunStatus")
    assert_prpc_error(
        response, Code.UNIMPLEMENTED, 501, 'service "other.Service" is not implemented'
    )


@pytest.mark.parametrize("path", ["/prpc/", "/prpc/migration.Migration", "/prpc/a/b/c"])
def test_malformed_paths_still_carry_a_code(http: httpx.Client, path: str) -> None:
    response = post(http, b"", path)
    assert_prpc_error(response, Code.UNIMPLEMENTED, 501, f'no pRPC route for path "{path}"')


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE"])
def test_other_verbs_are_405_with_a_code(http: httpx.Client, verb: str) -> None:
    response = http.request(verb, STATUS_PATH)
    message = f'unsupported method "{verb}" (only POST is allowed)'
    assert_prpc_error(response, Code.UNIMPLEMENTED, 405, message)
    assert response.headers["allow"] == "OPTIONS, POST"


def test_options_preflight(http: httpx.Client) -> None:
    response = http.options(STATUS_PATH, headers={"origin": "https://example.com"})
    assert response.status_code == 200
    assert response.headers["x-prpc-grpc-code"] == "0"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == b""


def test_undecodable_body_is_400(http: httpx.Client) -> None:
    response = post(http, b"\n\x05ab", content_type=BINARY)
    assert_prpc_error(
        response,
        Code.INVALID_ARGUMENT,
        400,
        "could not decode body: field 1: length 5 exceeds the message",
    )
    response = post(http, b'{"luciProject":1}', content_type=JSON)
    assert response.status_code == 400
    assert response.text.startswith("could not decode body: ")


def test_oversize_body_is_503(http: httpx.Client) -> None:
    big = b"\n" + b"\xff\xff\x03" + b"x" * (TEST_MAX_BODY_BYTES + 1)
    response = post(http, big, content_type=BINARY)
    message = "the request size exceeds the server limit"
    assert_prpc_error(response, Code.UNAVAILABLE, 503, message)
    bomb = gzip.compress(b"\0" * (TEST_MAX_BODY_BYTES * 64))
    response = post(http, bomb, content_type=BINARY, content_encoding="gzip")
    assert_prpc_error(response, Code.UNAVAILABLE, 503, message)


def test_max_response_size(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = status_request(google_pb, luci_project="x" * 100)
    response = post(http, body, content_type=BINARY, x_prpc_max_response_size="10")
    assert response.status_code == 503
    assert response.headers["x-prpc-grpc-code"] == str(int(Code.UNAVAILABLE))
    assert "exceeds the client limit 10" in response.text
    response = post(http, body, content_type=BINARY, x_prpc_max_response_size="100000")
    assert response.status_code == 200
    response = post(http, body, content_type=BINARY, x_prpc_max_response_size="0")
    assert response.status_code == 400


def test_authentication(http: httpx.Client, google_pb: SimpleNamespace) -> None:
    body = status_request(google_pb)
    response = post(http, body, content_type=BINARY, accept=JSON, authorization="Bearer alice")
    assert read_json(response)["extra"].split()[:2] == ["prpc", "user:alice"]
    response = post(http, body, content_type=BINARY, authorization="Bearer bad")
    assert_prpc_error(response, Code.UNAUTHENTICATED, 401, "bad token")


def test_bad_accept_and_content_type_fail_every_time_though_formats_are_kept():
    """The parsed formats are kept per header value; a bad value is refused on every call,
    not only the first (exceptions are not kept)."""
    from cvmigrate.rpc.errors import ProtocolError
    from cvmigrate.rpc.prpc import _request_format, _response_format

    for _ in range(2):
        with pytest.raises(ProtocolError) as accept:
            _response_format("text/html")
        assert accept.value.http_status == 406
        with pytest.raises(ProtocolError) as content_type:
            _request_format("application/prpc; encoding=xml")
        assert content_type.value.http_status == 415
