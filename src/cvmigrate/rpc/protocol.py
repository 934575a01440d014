"""The seam between the protocol-neutral server and the three wire protocol adapters.

An adapter (twirp.py, connect.py, prpc.py) turns an HTTP request into a `Call` or a
`ProtocolError`, and renders results and errors in its wire format. It does no I/O of its
own: the server reads the body, authenticates, decodes, runs the handler and sends.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import Response

if TYPE_CHECKING:
    import betterproto2
    from google.protobuf.message import Message as UpbMessage
    from starlette.types import Receive, Scope

    from cvmigrate.rpc.codec import DecodeError, PreEncoded
    from cvmigrate.rpc.errors import RpcError
    from cvmigrate.rpc.methods import MethodInfo

__all__ = [
    "Adapter",
    "Call",
    "Format",
    "PreparedResponse",
    "Request",
    "Result",
    "Route",
    "content_type",
]

Result: TypeAlias = "betterproto2.Message | UpbMessage | PreEncoded"
"""What a handler returns: a response message, or its stored encodings. A message of the
official runtime (upb) is encoded by it in binary; for JSON the server reads it into the
method's betterproto2 response type first (`RpcServer._render`), so JSON has one encoder."""


class Request:
    """What the RPC path reads of an HTTP request, straight from the ASGI scope: the verb,
    the headers, the peer's host, the query and the body.

    In place of Starlette's Request, which built more than this on every call (bench/,
    issue 8). `headers` is a plain dict read once: names lower-case (ASGI servers send them
    so; they are lowered again here), values latin-1, the first of repeated headers wins,
    all as Starlette's `Headers.get` answers.
    """

    __slots__ = ("_headers", "_receive", "scope")

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        self.scope = scope
        self._receive = receive
        self._headers: dict[str, str] | None = None

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def headers(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for name, value in self.scope["headers"]:
                key = name.decode("latin-1").lower()
                if key not in headers:
                    headers[key] = value.decode("latin-1")
        return headers

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    @property
    def query_params(self) -> QueryParams:
        return QueryParams(self.scope.get("query_string", b""))

    async def stream(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive; ClientDisconnect if the client goes away."""
        if self._receive is None:
            raise RuntimeError("this request has no body to read")
        more = True
        while more:
            message: dict[str, Any] = await self._receive()
            if message["type"] != "http.request":
                raise ClientDisconnect
            more = message.get("more_body", False)
            body = message.get("body", b"")
            if body:
                yield body


class PreparedResponse(Response):
    """A Starlette response built from header lines encoded ahead of time: `head`, then
    Content-Length, then `tail`, as Starlette lays them out. Every RPC's success answer is
    one; Starlette's `init_headers` encoded the same few headers again on each call."""

    def __init__(
        self,
        body: bytes,
        status_code: int,
        head: tuple[tuple[bytes, bytes], ...],
        tail: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [*head, (b"content-length", b"%d" % len(body)), *tail]


def content_type(media_type: str) -> tuple[tuple[bytes, bytes], ...]:
    """The Content-Type line Starlette writes for `media_type` (a charset for text/*)."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"
    return ((b"content-type", media_type.encode("latin-1")),)


class Format(enum.Enum):
    """A message encoding on the wire."""

    BINARY = "binary"
    JSON = "json"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where a request path points: the service and method names as written in the path.

    `method` is the matching method of our service, or None when the path names a service
    or method we do not have (each protocol answers that in its own way). `service` and
    `name` are None when the path does not even have the `<service>/<method>` shape.
    """

    path: str
    service: str | None
    name: str | None
    method: MethodInfo | None
    service_found: bool = False
    """The path names our service (whether or not the method exists)."""


@dataclasses.dataclass(slots=True, kw_only=True)
class Call:
    """A request accepted at the protocol level, before its body is read. (Not frozen:
    a frozen dataclass sets each field through `object.__setattr__`, twice the cost, and
    one is built per call; nothing changes it after.)"""

    method: MethodInfo
    request_format: Format
    response_format: Format
    timeout: float | None = None
    """Seconds the client allows (None: no client deadline)."""
    gzip: bool = False
    """The request message is gzip-compressed."""
    message: bytes | None = None
    """The request message when it does not travel in the body (Connect GET)."""
    max_response_bytes: int | None = None
    """Largest response the client accepts (pRPC `X-Prpc-Max-Response-Size`)."""


class Adapter(Protocol):
    """What differs between Twirp, Connect and pRPC; each module implements this."""

    name: str
    """`twirp`, `connect` or `prpc` (recorded in CallContext.protocol)."""

    def prepare(self, request: Request, route: Route) -> Call | Response:
        """Check verb, route, media types and headers; raises ProtocolError.

        Returns a Response instead of a Call when the protocol answers the request by
        itself, without a handler (pRPC's CORS preflight).
        """
        ...

    def decode_error(self, call: Call, error: DecodeError) -> RpcError:
        """The error for a request message that does not decode."""
        ...

    def body_too_large(self, limit: int) -> RpcError:
        """The error for a request message over `limit` bytes (after decompression)."""
        ...

    def success(self, call: Call, result: Result) -> Response:
        """Render the handler's response message (or PreEncoded)."""
        ...

    def failure(self, error: RpcError) -> Response:
        """Render an error, whether raised by a handler or by the protocol checks."""
        ...
