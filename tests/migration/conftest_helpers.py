"""Helpers for handler tests: a call context and an error expectation."""

from __future__ import annotations

from typing import Any

import pytest

from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError


def ctx_for(identity: str = "project:chromium", peer: str | None = None) -> CallContext:
    """A call context for `identity` (peer identity defaults to the same)."""
    return CallContext(
        service="migration.Migration",
        method="Test",
        protocol="test",
        headers={},
        identity=identity,
        peer_identity=peer or identity,
    )


async def expect_error(code: Code, awaitable: Any) -> RpcError:
    """Await and assert it raised RpcError with `code`; returns the error."""
    with pytest.raises(RpcError) as info:
        await awaitable
    assert info.value.code is code, info.value
    return info.value
