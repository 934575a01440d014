"""An answer given before the request body was read keeps the connection usable.

Unknown routes, bad media types, failed authentication and overload are answered without
decoding the body. The server still reads the rest of it (up to 256 KiB) before answering:
hypercorn keeps a keep-alive connection only if the request was complete when the response
ended, and a client that reuses a closed connection gets a transport error, not our answer.
"""

from __future__ import annotations

import select
import socket
from urllib.parse import urlsplit

import h11

REQUEST_HEAD = (
    "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    "Content-Length: {length}\r\n\r\n"
)


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_response(sock: socket.socket, client: h11.Connection) -> tuple[h11.Response, bytes]:
    response, body = None, b""
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            return response, body


def _nothing_arrives(sock: socket.socket, within_s: float) -> bool:
    readable, _, _ = select.select([sock], [], [], within_s)
    return not readable


def test_a_body_sent_late_is_read_and_the_connection_carries_the_next_request(rpc_url):
    client = h11.Connection(h11.CLIENT)
    with _connect(rpc_url) as sock:
        sock.sendall(REQUEST_HEAD.format(path="/migration.Migration/Nope", length=2).encode())
        client.send(h11.Request(method="POST", target="/x", headers=[("Host", "t")]))
        # The answer waits for the body (a bounded look, not a sleep: nothing may come).
        assert _nothing_arrives(sock, 0.3)
        sock.sendall(b"{}")
        first, _ = _read_response(sock, client)
        assert first.status_code == 404
        assert (b"connection", b"close") not in first.headers
        # The same connection answers the next request.
        client.send(h11.EndOfMessage())
        client.start_next_cycle()
        sock.sendall(REQUEST_HEAD.format(path="/other.Service/Method", length=2).encode() + b"{}")
        client.send(h11.Request(method="POST", target="/x", headers=[("Host", "t")]))
        client.send(h11.EndOfMessage())
        second, _ = _read_response(sock, client)
        assert second.status_code == 404


def test_a_body_past_the_limit_closes_the_connection_after_the_answer(rpc_url):
    client = h11.Connection(h11.CLIENT)
    with _connect(rpc_url) as sock:
        length = 1024 * 1024
        sock.sendall(REQUEST_HEAD.format(path="/migration.Migration/Nope", length=length).encode())
        client.send(h11.Request(method="POST", target="/x", headers=[("Host", "t")]))
        sock.sendall(b"x" * (300 * 1024))  # more than the server reads for nothing
        response, _ = _read_response(sock, client)
        assert response.status_code == 404
        assert (b"connection", b"close") in response.headers
        sock.settimeout(10)
        while sock.recv(65536):  # the server closes it: recv returns b"" at the end
            pass
