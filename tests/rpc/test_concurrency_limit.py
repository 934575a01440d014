"""The cap on RPCs in flight (RpcServer `max_concurrent_requests`), over real sockets.

Handlers block on a gate the test opens; while the cap is reached, further calls are
answered RESOURCE_EXHAUSTED at once, in the caller's protocol, and nothing is queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from harness import wait_for
from test_server import PATHS, call

from cvmigrate.migration import build_service
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.server import RpcServer

CAP = 2


class Gate:
    """Handlers wait here until the test opens it (from its own thread)."""

    def __init__(self) -> None:
        self.waiting = 0
        self._opened = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    async def wait(self) -> None:
        if self._event is None:
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
            if self._opened.is_set():
                self._event.set()
        self.waiting += 1
        try:
            await self._event.wait()
        finally:
            self.waiting -= 1

    def open(self) -> None:
        self._opened.set()
        if self._loop is not None and self._event is not None:
            self._loop.call_soon_threadsafe(self._event.set)


@pytest.fixture
def gated(serve_app: Callable[..., str]) -> Iterator[tuple[str, Gate]]:
    """A server capped at CAP RPCs whose FetchRunStatus waits at the gate when asked."""
    gate = Gate()

    async def fetch_run_status(
        request: migration_pb.FetchRunStatusRequest, ctx: CallContext
    ) -> migration_pb.FetchRunStatusResponse:
        if request.attempt_key == "block":
            await gate.wait()
        return migration_pb.FetchRunStatusResponse(event=request.luci_project)

    app = RpcServer(
        build_service({"FetchRunStatus": fetch_run_status}), max_concurrent_requests=CAP
    )
    url = serve_app(app)
    try:
        yield url, gate
    finally:
        gate.open()


@pytest.mark.parametrize("protocol", ["prpc", "twirp", "connect"])
def test_calls_beyond_the_cap_are_resource_exhausted_at_once(gated, protocol: str) -> None:
    url, gate = gated
    with concurrent.futures.ThreadPoolExecutor(CAP) as pool:
        blocked = [
            pool.submit(call, url, "prpc", {"luciProject": f"b{n}", "attemptKey": "block"})
            for n in range(CAP)
        ]
        wait_for(lambda: gate.waiting == CAP)

        started = time.monotonic()
        code, message = call(url, protocol, {"luciProject": "x", "attemptKey": "k"})
        assert code is Code.RESOURCE_EXHAUSTED
        assert "limit" in message and "retry" in message
        # Answered, not queued behind the blocked calls (the gate is still closed).
        assert gate.waiting == CAP
        assert time.monotonic() - started < 5

        gate.open()
        assert [future.result(timeout=20) for future in blocked] == [
            (Code.OK, {"event": f"b{n}"}) for n in range(CAP)
        ]
    # Slots are given back: the cap counts calls in flight, not calls ever made.
    for _ in range(CAP + 1):
        code, answer = call(url, protocol, {"luciProject": "y", "attemptKey": "k"})
        assert (code, answer["event"]) == (Code.OK, "y")


def test_requests_that_are_no_rpc_are_not_counted_nor_refused(gated) -> None:
    url, gate = gated
    with concurrent.futures.ThreadPoolExecutor(CAP) as pool:
        blocked = [
            pool.submit(call, url, "connect", {"luciProject": "b", "attemptKey": "block"})
            for _ in range(CAP)
        ]
        wait_for(lambda: gate.waiting == CAP)
        # Paths no protocol owns are still plain 404s, not RESOURCE_EXHAUSTED.
        assert httpx.get(url + "/healthz", timeout=10).status_code == 404
        assert httpx.post(url + "/nowhere", timeout=10).status_code == 404
        response = httpx.post(url + PATHS["twirp"] + "FetchRunStatus", timeout=10)
        assert response.status_code == 429
        gate.open()
        for future in blocked:
            assert future.result(timeout=20)[0] is Code.OK
