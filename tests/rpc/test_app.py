"""The method table served by default, and the real `cvmigrate serve` in all three protocols."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from harness import ServerProcess

from cvmigrate.migration import build_service
from cvmigrate.rpc.codes import (
    CONNECT_HTTP_STATUS,
    PRPC_HTTP_STATUS,
    TWIRP_HTTP_STATUS,
    Code,
    code_from_connect,
    code_from_twirp,
)
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.rpc.methods import MIGRATION_METHODS
from cvmigrate.rpc.server import RpcServer

METHODS = sorted(MIGRATION_METHODS)


def prpc_code(base_url: str, method: str) -> Code:
    """Call with an empty binary request; check the pRPC answer is well formed."""
    response = httpx.post(
        f"{base_url}/prpc/migration.Migration/{method}",
        content=b"",
        headers={"content-type": "application/prpc; encoding=binary"},
        timeout=30,
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    code = Code(int(response.headers["x-prpc-grpc-code"]))
    assert response.status_code == PRPC_HTTP_STATUS[code]
    if code is Code.OK:
        assert response.headers["content-type"] == "application/prpc; encoding=binary"
    else:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text.endswith("\n")
    return code


def twirp_code(base_url: str, method: str) -> Code:
    """Call with an empty protobuf request; check the Twirp answer is well formed."""
    response = httpx.post(
        f"{base_url}/twirp/migration.Migration/{method}",
        content=b"",
        headers={"content-type": "application/protobuf"},
        timeout=30,
    )
    if response.status_code == 200:
        assert response.headers["content-type"] == "application/protobuf"
        return Code.OK
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    code = code_from_twirp(body["code"])
    assert code is not None and code is not Code.OK, body
    assert isinstance(body["msg"], str)
    assert response.status_code == TWIRP_HTTP_STATUS[code]
    return code


def connect_code(base_url: str, method: str) -> Code:
    """Call with an empty proto request; check the Connect answer is well formed."""
    response = httpx.post(
        f"{base_url}/migration.Migration/{method}",
        content=b"",
        headers={"content-type": "application/proto", "connect-protocol-version": "1"},
        timeout=30,
    )
    if response.status_code == 200:
        assert response.headers["content-type"] == "application/proto"
        return Code.OK
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    code = code_from_connect(body["code"])
    assert code is not None and code is not Code.OK, body
    assert response.status_code == CONNECT_HTTP_STATUS[code]
    return code


@pytest.mark.parametrize("method", METHODS)
async def test_default_handlers_are_unimplemented(method: str) -> None:
    service = build_service()
    ctx = CallContext(service=service.name, method=method, protocol="test", headers={})
    request = MIGRATION_METHODS[method].request_type()
    with pytest.raises(RpcError) as caught:
        await service.handlers[method](request, ctx)
    assert caught.value.code is Code.UNIMPLEMENTED


@pytest.mark.parametrize("method", METHODS)
def test_default_service_answers_unimplemented_in_every_protocol(
    serve_app: Callable[..., str], method: str
) -> None:
    url = serve_app(RpcServer(build_service()))
    assert prpc_code(url, method) is Code.UNIMPLEMENTED
    assert twirp_code(url, method) is Code.UNIMPLEMENTED
    assert connect_code(url, method) is Code.UNIMPLEMENTED


def test_real_server_answers_every_method_in_every_protocol(server: ServerProcess) -> None:
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    answers = {
        method: (
            prpc_code(server.base_url, method),
            twirp_code(server.base_url, method),
            connect_code(server.base_url, method),
        )
        for method in METHODS
    }
    # Whatever each handler does with an empty request, it does it in every protocol.
    differing = {method: codes for method, codes in answers.items() if len(set(codes)) != 1}
    assert not differing, f"codes differ between pRPC, Twirp and Connect: {differing}"
