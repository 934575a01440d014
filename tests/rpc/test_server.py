"""What RpcServer does the same way for every protocol (rpc/server.py).

Each case runs once per protocol through `call`, which sends a FetchRunStatus request in
JSON and returns (gRPC code, response JSON or error text).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from rpc_test_service import SECRET_DETAIL, STORED_ACTIVE_RUNS, build_test_service

from cvmigrate.migration import build_service
from cvmigrate.proto import migration as migration_pb
from cvmigrate.proto.google import protobuf as protobuf_pb
from cvmigrate.rpc.codec import DecodeError
from cvmigrate.rpc.codes import Code, code_from_connect, code_from_twirp
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.server import RpcServer

PROTOCOLS = ["prpc", "twirp", "connect"]
PATHS = {
    "prpc": "/prpc/migration.Migration/",
    "twirp": "/twirp/migration.Migration/",
    "connect": "/migration.Migration/",
}


def call(
    base_url: str,
    protocol: str,
    request: Mapping[str, Any],
    method: str = "FetchRunStatus",
    headers: Mapping[str, str] | None = None,
) -> tuple[Code, Any]:
    """One JSON call; returns (code, decoded response) or (code, error message)."""
    response = httpx.post(
        base_url + PATHS[protocol] + method,
        content=json.dumps(request).encode(),
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            **(headers or {}),
        },
        timeout=20,
    )
    if protocol == "prpc":
        code = Code(int(response.headers["x-prpc-grpc-code"]))
        if code is Code.OK:
            return code, json.loads(response.content.removeprefix(b")]}'\n"))
        return code, response.text.removesuffix("\n")
    if response.status_code == 200:
        return Code.OK, response.json()
    body = response.json()
    if protocol == "twirp":
        found = code_from_twirp(body["code"])
        assert found is not None, body
        return found, body["msg"]
    found = code_from_connect(body["code"])
    assert found is not None, body
    return found, body.get("message", "")


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/migration.Migration", "/a/b/c", "/prpcx/a/b", "/twirpx/a/b"]
)
def test_paths_no_protocol_owns_are_plain_404(http: httpx.Client, path: str) -> None:
    response = http.post(path, content=b"{}", headers={"content-type": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "x-prpc-grpc-code" not in response.headers


@pytest.mark.parametrize("prefix", ["", "/", "/prpc", "prpc/"])
def test_twirp_prefix_must_not_collide(prefix: str) -> None:
    with pytest.raises(ValueError, match="collide"):
        RpcServer(build_service(), twirp_prefix=prefix)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_identity_and_protocol_reach_the_handler(rpc_url: str, protocol: str) -> None:
    code, body = call(
        rpc_url, protocol, {"luciProject": "p"}, headers={"authorization": "Bearer x"}
    )
    assert code is Code.OK
    assert body["event"] == "p"
    assert body["extra"].split()[:2] == [protocol, "user:x"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_crash_is_internal_and_logged_with_traceback(
    rpc_url: str, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cvmigrate.rpc.server"):
        code, message = call(rpc_url, protocol, {"attemptKey": "crash"})
    assert code is Code.INTERNAL
    assert SECRET_DETAIL not in message
    records = [r for r in caplog.records if r.name == "cvmigrate.rpc.server"]
    assert records and records[-1].exc_info is not None
    assert SECRET_DETAIL in str(records[-1].exc_info[1])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pre_encoded_responses_are_sent_as_stored(rpc_url: str, protocol: str) -> None:
    response = httpx.post(
        rpc_url + PATHS[protocol] + "FetchActiveRuns",
        content=b"",
        headers={
            "content-type": {"prpc": "application/prpc", "twirp": "application/protobuf"}.get(
                protocol, "application/proto"
            )
        },
    )
    assert response.status_code == 200
    assert response.content == bytes(STORED_ACTIVE_RUNS)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_maximum_caps_client_deadlines(serve_app: Callable[..., str], protocol: str) -> None:
    url = serve_app(RpcServer(build_test_service(), max_timeout_s=1.0))
    headers = {"connect-timeout-ms": "60000", "x-prpc-grpc-timeout": "60S"}
    code, body = call(url, protocol, {}, headers=headers)
    assert code is Code.OK
    assert int(body["extra"].split()[2]) <= 1000
    code, _ = call(url, protocol, {"attemptKey": "hang"}, headers=headers)
    assert code is Code.DEADLINE_EXCEEDED


async def _own_timeout(request: Any, ctx: CallContext) -> Any:
    raise TimeoutError("a timeout inside the handler, not the call's deadline")


async def _wrong_type(request: Any, ctx: CallContext) -> Any:
    return "not a message"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_handler_failures_that_are_not_rpc_errors(
    serve_app: Callable[..., str], protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    service = build_service({"FetchRunStatus": _own_timeout, "FetchExcludedCLs": _wrong_type})
    url = serve_app(RpcServer(service, max_timeout_s=5))
    with caplog.at_level(logging.ERROR, logger="cvmigrate.rpc.server"):
        assert call(url, protocol, {})[0] is Code.INTERNAL
        assert call(url, protocol, {}, method="FetchExcludedCLs")[0] is Code.INTERNAL
    assert len([r for r in caplog.records if r.name == "cvmigrate.rpc.server"]) == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_none_result_is_internal(rpc_url: str, protocol: str) -> None:
    assert call(rpc_url, protocol, {"attemptKey": "none"})[0] is Code.INTERNAL


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_authenticator_errors(serve_app: Callable[..., str], protocol: str) -> None:
    async def broken(headers: Mapping[str, str], peer: str | None) -> tuple[str, str]:
        raise RuntimeError("token store is down")

    url = serve_app(RpcServer(build_test_service(), authenticate=broken))
    code, message = call(url, protocol, {})
    assert code is Code.INTERNAL
    assert "token store" not in message


async def _check_peer(request: Any, ctx: CallContext) -> Any:
    return migration_pb.FetchRunStatusResponse(event=str(ctx.peer), extra=ctx.headers["x-test"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_context_carries_peer_and_headers(serve_app: Callable[..., str], protocol: str) -> None:
    url = serve_app(RpcServer(build_service({"FetchRunStatus": _check_peer})))
    code, body = call(url, protocol, {}, headers={"X-Test": "seen"})
    assert code is Code.OK
    assert body == {"event": "127.0.0.1", "extra": "seen"}


BINARY_TYPES = {
    "prpc": "application/prpc; encoding=binary",
    "twirp": "application/protobuf",
    "connect": "application/proto",
}


async def _echo_encodings(request: Any, ctx: CallContext) -> Any:
    return migration_pb.FetchRunStatusResponse(event=str(ctx.response_encoding))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_context_tells_the_answer_encoding(serve_app: Callable[..., str], protocol: str) -> None:
    url = serve_app(RpcServer(build_service({"FetchRunStatus": _echo_encodings})))
    code, body = call(url, protocol, {"attemptKey": "k"})
    assert code is Code.OK
    assert body["event"] == ("twirp_json" if protocol == "twirp" else "json")

    request = bytes(migration_pb.FetchRunStatusRequest(attempt_key="k"))
    headers = {"content-type": BINARY_TYPES[protocol], "accept": BINARY_TYPES[protocol]}
    if protocol == "connect":
        headers["connect-protocol-version"] = "1"
    response = httpx.post(
        url + PATHS[protocol] + "FetchRunStatus", content=request, headers=headers, timeout=20
    )
    assert response.status_code == 200, response.text
    answer = migration_pb.FetchRunStatusResponse.parse(response.content)
    assert answer.event == "pb"


def test_request_headers_read_once_agree_with_starlette():
    """The RPC path's header dict (read once per request) answers as Starlette's Headers
    for what ASGI servers send (lower-case names): latin-1 values, the first of repeated
    headers; a name that arrives in capitals is still found (HTTP names ignore case)."""
    from starlette.datastructures import Headers

    from cvmigrate.rpc.protocol import Request

    raw = [
        (b"content-type", b"application/prpc; encoding=binary"),
        (b"x-repeated", b"first"),
        (b"x-repeated", b"second"),
        (b"authorization", b"Bearer caf\xe9"),
        (b"accept", b""),
    ]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw}
    ours = Request(scope).headers
    theirs = Headers(scope=scope)
    for name in ("content-type", "x-repeated", "authorization", "accept", "missing"):
        assert ours.get(name) == theirs.get(name), name
    assert ours["x-repeated"] == "first"
    assert ours["authorization"] == "Bearer café"
    capitals = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"X-Luci-Project", b"v8")],
    }
    assert Request(capitals).headers == {"x-luci-project": "v8"}


@pytest.mark.parametrize(
    "media_type", ["application/prpc; encoding=binary", "application/json", "text/plain"]
)
def test_prepared_responses_carry_starlettes_headers(media_type):
    """Success answers are built from header lines encoded once: the same lines, in the
    same order, as Starlette's Response would write."""
    from starlette.responses import Response

    from cvmigrate.rpc.protocol import PreparedResponse, content_type

    head = ((b"x-prpc-grpc-code", b"0"), (b"x-content-type-options", b"nosniff"))
    body = b"\x0a\x03abc"
    ours = PreparedResponse(body, 200, head, content_type(media_type))
    theirs = Response(
        body,
        200,
        headers={k.decode(): v.decode() for k, v in head},
        media_type=media_type,
    )
    assert ours.raw_headers == theirs.raw_headers
    assert (ours.status_code, ours.body) == (theirs.status_code, theirs.body)
    ours.headers["connection"] = "close"  # the server may still add a header
    assert (b"connection", b"close") in ours.raw_headers


def test_routes_are_kept_only_for_our_methods():
    """Routes are looked up once per path, but only paths naming one of our methods are
    kept: a caller sending endless new paths cannot grow the table."""
    server = RpcServer(build_test_service())
    for i in range(200):
        assert server._dispatch(f"/prpc/migration.Migration/Nope{i}")[1].method is None
        assert server._dispatch(f"/nothing/{i}/here") is None
    known = server._dispatch("/prpc/migration.Migration/FetchRunStatus")
    assert known[1].method is not None
    assert server._dispatch("/prpc/migration.Migration/FetchRunStatus") is known
    assert len(server._routes) == 1


def _post_binary(url: str, protocol: str, method: str, body: bytes) -> httpx.Response:
    headers = {"content-type": BINARY_TYPES[protocol], "accept": BINARY_TYPES[protocol]}
    if protocol == "connect":
        headers["connect-protocol-version"] = "1"
    return httpx.post(url + PATHS[protocol] + method, content=body, headers=headers, timeout=20)


def _error_code(protocol: str, response: httpx.Response) -> Code | str | None:
    """The gRPC code of an answer (Twirp's `malformed`, which has none, as is)."""
    if protocol == "prpc":
        return Code(int(response.headers["x-prpc-grpc-code"]))
    if response.status_code == 200:
        return Code.OK
    code = response.json()["code"]
    if protocol == "twirp":
        return code_from_twirp(code) or code
    return code_from_connect(code)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_method_that_decodes_binary_itself_gets_the_bytes_and_its_decode_errors_count(
    serve_app: Callable[..., str], protocol: str
) -> None:
    # ReportRuns (MethodInfo.binary_to_handler): a binary request reaches the handler as
    # bytes, a JSON one decoded; a DecodeError from the handler is answered as the
    # server answers a request it could not decode.
    received: list[Any] = []

    async def takes_binary(request: Any, ctx: CallContext) -> Any:
        received.append(request)
        if request == b"\xff":
            raise DecodeError("invalid ReportRunsRequest: found by the handler")
        return protobuf_pb.Empty()

    url = serve_app(RpcServer(build_service({"ReportRuns": takes_binary})))
    assert call(url, protocol, {"runs": [{"id": "p/1"}]}, method="ReportRuns")[0] is Code.OK
    assert not isinstance(received[-1], bytes)
    assert received[-1].runs[0].id == "p/1"

    body = bytes(migration_pb.ReportRunsRequest(runs=[migration_pb.ReportedRun(id="p/2")]))
    response = _post_binary(url, protocol, "ReportRuns", body)
    assert _error_code(protocol, response) is Code.OK, response.text
    assert received[-1] == body

    by_handler = _post_binary(url, protocol, "ReportRuns", b"\xff")
    by_server = _post_binary(url, protocol, "FetchRunStatus", b"\xff")
    assert received[-1] == b"\xff"
    expected = "malformed" if protocol == "twirp" else Code.INVALID_ARGUMENT
    assert _error_code(protocol, by_handler) == expected
    assert (by_handler.status_code, _error_code(protocol, by_handler)) == (
        by_server.status_code,
        _error_code(protocol, by_server),
    )


# --- the call's deadline, against the task (in-process: no HTTP server in between) ---


def _scope(path: str = "/prpc/migration.Migration/FetchRunStatus") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }


async def _asgi_call(app: RpcServer) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(), receive, send)
    return sent


def _grpc_code(sent: list[dict[str, Any]]) -> Code:
    return Code(int(dict(sent[0]["headers"])[b"x-prpc-grpc-code"]))


async def _call_with_deadline(handler: Any, max_timeout_s: float) -> tuple[Code, int]:
    """One FetchRunStatus call to `handler` under the deadline, in a task of its own: its
    code, and how many cancellations its task has pending afterwards."""
    app = RpcServer(build_service({"FetchRunStatus": handler}), max_timeout_s=max_timeout_s)
    task = asyncio.ensure_future(_asgi_call(app))
    sent = await asyncio.wait_for(task, 10)
    return _grpc_code(sent), task.cancelling()


async def test_a_handler_that_swallows_the_deadline_leaves_its_task_uncancelled() -> None:
    async def stubborn(request: Any, ctx: CallContext) -> Any:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        return migration_pb.FetchRunStatusResponse(event="finished anyway")

    code, cancelling = await _call_with_deadline(stubborn, 0.05)
    assert code is Code.OK
    assert cancelling == 0


async def test_a_cancellation_from_outside_is_not_a_deadline() -> None:
    entered = asyncio.Event()

    async def hang(request: Any, ctx: CallContext) -> Any:
        entered.set()
        await asyncio.Event().wait()

    app = RpcServer(build_service({"FetchRunStatus": hang}), max_timeout_s=60)
    task = asyncio.ensure_future(_asgi_call(app))
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_from_outside_at_the_deadline_still_propagates() -> None:
    async def hang(request: Any, ctx: CallContext) -> Any:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.call_soon(task.cancel)  # someone else cancels it
        # Hold the loop past the deadline (1 ms), so that the deadline's timer and that
        # cancellation both run in the loop's next turn, before this task resumes.
        past = loop.time() + 0.01
        while loop.time() < past:
            pass
        await asyncio.Event().wait()

    app = RpcServer(build_service({"FetchRunStatus": hang}), max_timeout_s=0.001)
    task = asyncio.ensure_future(_asgi_call(app))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert task.cancelled()


async def test_the_deadline_answers_deadline_exceeded_and_uncancels_the_task() -> None:
    async def hang(request: Any, ctx: CallContext) -> Any:
        await asyncio.Event().wait()

    code, cancelling = await _call_with_deadline(hang, 0.05)
    assert code is Code.DEADLINE_EXCEEDED
    assert cancelling == 0


async def test_a_client_gone_mid_body_is_answered_cancelled() -> None:
    messages = iter(
        [
            {"type": "http.request", "body": b'{"attemptKey":', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await RpcServer(build_test_service())(_scope(), receive, send)
    assert _grpc_code(sent) is Code.CANCELLED
