"""Slow clients: `cvmigrate serve` closes connections that stall mid-request
(`server.keep_alive_timeout_s` before the headers are complete, `server.read_timeout_s`
once the body stops coming), so they cannot pile up."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

TIMEOUT_S = 0.5
# The defaults are 30 and 60 s: a close within this many seconds is the configured timeout.
WITHIN_S = 10.0


@pytest.fixture
def short_timeouts(server_factory):
    return server_factory(
        {
            "server": {
                "bind": "127.0.0.1:0",
                "read_timeout_s": TIMEOUT_S,
                "keep_alive_timeout_s": TIMEOUT_S,
            }
        }
    )


def _seconds_until_closed(port: int, data: bytes) -> float:
    """Send `data`, then read until the server closes the connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=WITHIN_S) as sock:
        sock.sendall(data)
        try:
            while sock.recv(4096):
                pass  # an error answer may come first; the close is what counts
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"the connection was still open after {WITHIN_S} s")
    return time.monotonic() - started


def test_half_sent_headers_are_disconnected(short_timeouts) -> None:
    partial = b"POST /prpc/migration.Migration/FetchActiveRuns HTTP/1.1\r\nHost: cv\r\nContent-"
    elapsed = _seconds_until_closed(short_timeouts.port, partial)
    assert TIMEOUT_S * 0.8 <= elapsed < WITHIN_S


def test_half_sent_body_is_disconnected(short_timeouts) -> None:
    headers = (
        b"POST /prpc/migration.Migration/FetchActiveRuns HTTP/1.1\r\nHost: cv\r\n"
        b"Content-Type: application/prpc; encoding=binary\r\nContent-Length: 100\r\n\r\n"
    )
    elapsed = _seconds_until_closed(short_timeouts.port, headers + b"\n\x08chro")
    assert TIMEOUT_S * 0.8 <= elapsed < WITHIN_S


def test_idle_keep_alive_connection_is_closed_and_the_server_still_answers(short_timeouts):
    request = b"GET /healthz HTTP/1.1\r\nHost: cv\r\n\r\n"
    elapsed = _seconds_until_closed(short_timeouts.port, request)
    assert TIMEOUT_S * 0.8 <= elapsed < WITHIN_S
    assert httpx.get(f"{short_timeouts.base_url}/healthz", timeout=10).status_code == 200
