"""Fixtures serving the test service (rpc_test_service.py) on loopback for tests/rpc."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from harness import serve_in_thread
from rpc_test_service import (
    TEST_MAX_BODY_BYTES,
    TEST_MAX_TIMEOUT_S,
    authenticate,
    build_test_service,
)

from cvmigrate.rpc.server import RpcServer


@pytest.fixture(scope="session")
def rpc_url() -> Iterator[str]:
    """Base URL of the test service (authentication on, 64 KiB body limit)."""
    app = RpcServer(
        build_test_service(),
        max_body_bytes=TEST_MAX_BODY_BYTES,
        max_timeout_s=TEST_MAX_TIMEOUT_S,
        authenticate=authenticate,
    )
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def serve_app() -> Iterator[Callable[..., str]]:
    """Serve more apps for one test: `serve_app(app)` returns its base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_in_thread(app))


@pytest.fixture
def http(rpc_url: str) -> Iterator[httpx.Client]:
    """An httpx client for the test service."""
    with httpx.Client(base_url=rpc_url, timeout=20) as client:
        yield client
