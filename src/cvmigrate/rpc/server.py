"""One ASGI app serving a Service in Twirp, Connect and pRPC on the same port.

The path prefix picks the protocol, here and nowhere else:

    /prpc/<service>/<Method>        pRPC     (prpc.py)
    <twirp_prefix>/<service>/<Method>  Twirp (twirp.py)
    /<service>/<Method>             Connect  (connect.py)
    anything else                   404, plain text

Every call then follows the same steps, whatever the protocol: protocol checks (verb,
media types, headers) → authentication → body read under the size limit → decode →
handler under the effective deadline → encode. A handler's RpcError is rendered by the
protocol; any other exception is INTERNAL with a generic message, logged with traceback.
Beyond `max_concurrent_requests` RPCs in flight, a call is answered RESOURCE_EXHAUSTED at
once (not queued), so overload sheds load instead of growing memory and latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from google.protobuf.message import Message as UpbMessage
from opentelemetry import propagate, trace
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response

from cvmigrate import telemetry
from cvmigrate.rpc.body import BodyTooLarge, gunzip, read_body
from cvmigrate.rpc.codec import DecodeError, decode_binary, decode_json
from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.connect import ConnectAdapter
from cvmigrate.rpc.context import CallContext
from cvmigrate.rpc.errors import RpcError
from cvmigrate.rpc.protocol import Call, Format, Request, Route
from cvmigrate.rpc.prpc import PrpcAdapter
from cvmigrate.rpc.twirp import TwirpAdapter
from cvmigrate.rpc.upb_codec import check_field_limit, decode_binary_upb, decode_json_upb

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from cvmigrate.rpc.context import Authenticator
    from cvmigrate.rpc.methods import Service
    from cvmigrate.rpc.protocol import Adapter

__all__ = ["RpcServer"]

log = logging.getLogger(__name__)

_PRPC_PREFIX: Final = "/prpc"
# An answer given without reading the request body (unknown route, bad media type, failed
# authentication, overload ...) first reads what is left of it, up to this many bytes, so
# that the connection can carry the caller's next request: hypercorn keeps a keep-alive
# connection only if the request was complete when the response ended, and a client that
# reuses a closed one gets a transport error instead of our answer. Past the limit the
# answer says `Connection: close`. (Go's net/http does the same, with 256 KiB.)
_DRAIN_LIMIT_BYTES: Final = 256 * 1024
_DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
# betterproto2 decodes ~1-5 µs per byte (pure Python): larger messages are decoded on a
# worker thread so that one big ReportRuns does not stop the event loop for every other call.
_DECODE_INLINE_BYTES: Final = 4096
# upb parses binary in C (~20 ns per byte, the Timestamp check included): up to 64 KiB
# (~1 ms) on the loop costs less than the hop to a thread. JSON still goes through
# betterproto2 first, so it keeps the small threshold.
_DECODE_INLINE_BYTES_UPB: Final = 64 * 1024
# `rpc.system` values (OpenTelemetry RPC conventions; pRPC has none, so its own name).
_RPC_SYSTEM: Final = {"prpc": "prpc", "twirp": "twirp", "connect": "connect_rpc"}
# Codes that mean the server failed, not the caller: the span status becomes ERROR.
_SERVER_FAULTS: Final = frozenset(
    {
        Code.UNKNOWN,
        Code.DEADLINE_EXCEEDED,
        Code.UNIMPLEMENTED,
        Code.INTERNAL,
        Code.UNAVAILABLE,
        Code.DATA_LOSS,
    }
)


class RpcServer:
    """ASGI app: `service` over pRPC, Twirp (under `twirp_prefix`) and Connect.

    `max_body_bytes` caps a request message after decompression; `max_timeout_s` caps
    every call's deadline (and is the deadline when the client sends none);
    `max_concurrent_requests` (None: no cap) bounds the RPCs in flight, and
    `max_request_fields` (None: no cap) the fields a request message may hold;
    `authenticate` maps request headers and peer host to (identity, peer_identity),
    raising RpcError; without it every caller is `anonymous:anonymous`.
    """

    def __init__(
        self,
        service: Service,
        *,
        twirp_prefix: str = "/twirp",
        max_body_bytes: int = _DEFAULT_MAX_BODY_BYTES,
        max_timeout_s: float = 300.0,
        max_concurrent_requests: int | None = None,
        max_request_fields: int | None = None,
        authenticate: Authenticator | None = None,
    ) -> None:
        twirp_prefix = "/" + twirp_prefix.strip("/")
        if twirp_prefix in ("/", _PRPC_PREFIX):
            raise ValueError(f"twirp_prefix {twirp_prefix!r} would collide with another protocol")
        self._service = service
        self._twirp_prefix = twirp_prefix
        self._max_body_bytes = max_body_bytes
        self._max_timeout_s = max_timeout_s
        self._max_concurrent_requests = max_concurrent_requests
        self._max_request_fields = max_request_fields
        self._in_flight = 0
        """RPCs (routed to a method) between routing and their response being ready."""
        self._authenticate = authenticate
        self._duration = telemetry.meter().create_histogram(
            "rpc.server.duration",
            unit="ms",
            description="Time to answer an RPC, by method, protocol and gRPC code.",
        )
        self._routes: dict[str, tuple[Adapter, Route]] = {}
        self._prpc = PrpcAdapter()
        self._twirp = TwirpAdapter()
        self._connect = ConnectAdapter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not ours; returning closes the connection
        body = _RequestBody(receive)
        request = Request(scope, body)
        dispatched = self._dispatch(_route_path(scope))
        if dispatched is None:
            response: Response = PlainTextResponse("404 page not found\n", 404)
        else:
            adapter, route = dispatched
            response = await self._serve(adapter, route, request)
        if not body.complete and not await body.drain(_DRAIN_LIMIT_BYTES):
            response.headers["connection"] = "close"
        await response(scope, body, send)

    def _dispatch(self, path: str) -> tuple[Adapter, Route] | None:
        """The protocol and route for a path; None when no protocol owns it. Kept per path
        when it names one of our methods (a few paths per protocol: no caller can make the
        table grow); routes are immutable."""
        found = self._routes.get(path)
        if found is None:
            found = self._find_route(path)
            if found is not None and found[1].method is not None:
                self._routes[path] = found
        return found

    def _find_route(self, path: str) -> tuple[Adapter, Route] | None:
        if path.startswith(_PRPC_PREFIX + "/"):
            return self._prpc, self._route(path, path[len(_PRPC_PREFIX) + 1 :])
        if path.startswith(self._twirp_prefix + "/"):
            return self._twirp, self._route(path, path[len(self._twirp_prefix) + 1 :])
        service, sep, name = path[1:].partition("/")
        if sep and service and name and "/" not in name:
            return self._connect, self._route(path, path[1:])
        return None

    def _route(self, path: str, rest: str) -> Route:
        service, sep, name = rest.partition("/")
        if not (sep and service and name) or "/" in name:
            return Route(path=path, service=None, name=None, method=None)
        found = service == self._service.name
        method = self._service.methods.get(name) if found else None
        return Route(path=path, service=service, name=name, method=method, service_found=found)

    async def _serve(self, adapter: Adapter, route: Route, request: Request) -> Response:
        if route.method is None:  # a routing answer: no RPC took place
            response, _ = await self._answer(adapter, route, request, {})
            return response
        method = route.method
        attributes: dict[str, Any] = {}
        started = time.perf_counter()
        if telemetry.tracing():
            response, code = await self._traced(adapter, route, request, attributes)
        else:
            response, code = await self._admit(adapter, route, request, attributes)
        self._duration.record(
            (time.perf_counter() - started) * 1000.0,
            {
                telemetry.ATTR_RPC_SYSTEM: _RPC_SYSTEM[adapter.name],
                telemetry.ATTR_RPC_METHOD: method.name,
                telemetry.ATTR_RPC_GRPC_STATUS_CODE: int(code),
            },
        )
        return response

    async def _traced(
        self, adapter: Adapter, route: Route, request: Request, attributes: dict[str, Any]
    ) -> tuple[Response, Code]:
        """`_admit` inside the call's server span (only when a tracer provider is set)."""
        method = route.method
        assert method is not None
        with telemetry.tracer().start_as_current_span(
            f"{method.service}/{method.name}",
            context=propagate.extract(request.headers),
            kind=trace.SpanKind.SERVER,
            attributes={
                telemetry.ATTR_RPC_SYSTEM: _RPC_SYSTEM[adapter.name],
                telemetry.ATTR_RPC_SERVICE: method.service,
                telemetry.ATTR_RPC_METHOD: method.name,
            },
        ) as span:
            response, code = await self._admit(adapter, route, request, attributes)
            span.set_attribute(telemetry.ATTR_RPC_GRPC_STATUS_CODE, int(code))
            for key, value in attributes.items():
                if key in telemetry.CV_ATTRIBUTES and value:
                    span.set_attribute(key, value)
            if code in _SERVER_FAULTS:
                span.set_status(trace.StatusCode.ERROR, code.name)
        return response, code

    async def _admit(
        self, adapter: Adapter, route: Route, request: Request, attributes: dict[str, Any]
    ) -> tuple[Response, Code]:
        """The answer, or RESOURCE_EXHAUSTED at once past `max_concurrent_requests`."""
        limit = self._max_concurrent_requests
        if limit is not None and self._in_flight >= limit:
            error = RpcError(
                Code.RESOURCE_EXHAUSTED,
                f"the server is handling {limit} requests, its limit; retry later",
            )
            return adapter.failure(error), error.code
        self._in_flight += 1
        try:
            return await self._answer(adapter, route, request, attributes)
        finally:
            self._in_flight -= 1

    async def _answer(
        self, adapter: Adapter, route: Route, request: Request, attributes: dict[str, Any]
    ) -> tuple[Response, Code]:
        """The response and the gRPC code it carries."""
        try:
            prepared = adapter.prepare(request, route)
            if isinstance(prepared, Response):
                return (
                    prepared,
                    Code.UNIMPLEMENTED if route.method is None else Code.INVALID_ARGUMENT,
                )
            return await self._call(adapter, prepared, request, attributes)
        except RpcError as error:
            return adapter.failure(error), error.code
        except ClientDisconnect:
            # Nobody is listening; answer anyway so the ASGI server can finish cleanly.
            return adapter.failure(
                RpcError(Code.CANCELLED, "the client disconnected")
            ), Code.CANCELLED
        except Exception:
            log.exception("%s %s: unexpected error", adapter.name, route.path)
            return adapter.failure(RpcError(Code.INTERNAL, "internal error")), Code.INTERNAL

    async def _call(
        self, adapter: Adapter, call: Call, request: Request, attributes: dict[str, Any]
    ) -> tuple[Response, Code]:
        timeout = self._max_timeout_s
        if call.timeout is not None:
            timeout = min(timeout, call.timeout)
        if timeout <= 0:
            raise RpcError(Code.DEADLINE_EXCEEDED, "deadline exceeded")
        ctx = CallContext(
            service=call.method.service,
            method=call.method.name,
            protocol=adapter.name,
            headers=request.headers,
            peer=request.client_host,
            deadline=time.monotonic() + timeout,
            attributes=attributes,
            response_encoding=_response_encoding(adapter, call),
        )
        # What `asyncio.timeout` does, for half its cost (~2 µs a call, bench/, issue 8):
        # at the deadline the task is cancelled, and that cancellation, once caught, is
        # taken back and answered DEADLINE_EXCEEDED.
        loop = asyncio.get_running_loop()
        expiry = _Expiry()
        timer = loop.call_at(loop.time() + timeout, expiry)
        try:
            result = await self._run(adapter, call, request, ctx)
        except asyncio.CancelledError:
            if expiry.take_back():
                raise RpcError(Code.DEADLINE_EXCEEDED, "deadline exceeded") from None
            raise
        finally:
            timer.cancel()
            expiry.take_back()  # in case the handler swallowed the cancellation
        return self._render(adapter, call, result)

    async def _run(self, adapter: Adapter, call: Call, request: Request, ctx: CallContext) -> Any:
        """Authenticate, read and decode the request, then run the handler."""
        if self._authenticate is not None:
            ctx.identity, ctx.peer_identity = await self._authenticate(request.headers, ctx.peer)
        method = call.method
        binary = call.request_format is Format.BINARY
        try:
            message = await self._read_message(call, request)
            inline = _DECODE_INLINE_BYTES
            if method.request_upb is not None and binary:
                inline = _DECODE_INLINE_BYTES_UPB
            if binary and method.binary_to_handler:
                decoded: Any = message  # decoded by the handler's choice (MethodInfo)
                limit = (method.request_type, message, self._max_request_fields)
                if len(message) > inline:
                    await asyncio.to_thread(check_field_limit, *limit)
                else:
                    check_field_limit(*limit)
            elif len(message) > inline:
                decoded = await asyncio.to_thread(self._decode, call, message)
            else:
                decoded = self._decode(call, message)
        except BodyTooLarge:
            raise adapter.body_too_large(self._max_body_bytes) from None
        except DecodeError as error:  # the message, or its gzip wrapping
            raise adapter.decode_error(call, error) from error
        try:
            result = await self._service.handlers[method.name](decoded, ctx)
        except DecodeError as error:
            if not (binary and method.binary_to_handler):
                raise  # not the request's: a fault of the handler's own
            raise adapter.decode_error(call, error) from error
        if result is None:
            log.error("%s %s: handler returned None", adapter.name, method.path)
            raise RpcError(Code.INTERNAL, "internal error")
        return result

    def _decode(self, call: Call, message: bytes) -> Any:
        """The request message; raises DecodeError (TooManyFields past the field limit)."""
        limit = self._max_request_fields
        method = call.method
        binary = call.request_format is Format.BINARY
        if method.request_upb is not None:
            decode_upb = decode_binary_upb if binary else decode_json_upb
            return decode_upb(method.request_type, method.request_upb, message, max_fields=limit)
        if binary:
            return decode_binary(method.request_type, message, max_fields=limit)
        return decode_json(method.request_type, message, max_fields=limit)

    async def _read_message(self, call: Call, request: Request) -> bytes:
        limit = self._max_body_bytes
        if call.message is not None:
            if call.gzip and call.message:
                return gunzip(call.message, limit=limit)
            if len(call.message) > limit:
                raise BodyTooLarge
            return call.message
        declared = request.headers.get("content-length")
        return await read_body(
            request.stream(),
            limit=limit,
            gzip=call.gzip,
            declared_length=int(declared) if declared and declared.isdigit() else None,
        )

    def _render(self, adapter: Adapter, call: Call, result: Any) -> tuple[Response, Code]:
        try:
            if call.response_format is not Format.BINARY and isinstance(result, UpbMessage):
                result = call.method.response_type.parse(result.SerializeToString())
            return adapter.success(call, result), Code.OK
        except Exception:
            log.exception("%s %s: could not encode the response", adapter.name, call.method.path)
            return adapter.failure(RpcError(Code.INTERNAL, "internal error")), Code.INTERNAL


class _Expiry:
    """A call's deadline, as `asyncio.timeout` keeps it: the timer calls it to cancel the
    call's task; `take_back` undoes that cancellation once it has been caught."""

    __slots__ = ("_cancelling", "_fired", "_task")

    def __init__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("an RPC deadline needs a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False

    def __call__(self) -> None:
        if not self._task.done():
            self._fired = True
            self._task.cancel()

    def take_back(self) -> bool:
        """True if the deadline cancelled the task and nothing else did too (then the
        CancelledError being handled is the deadline's alone)."""
        if not self._fired:
            return False
        self._fired = False
        return self._task.uncancel() <= self._cancelling


class _RequestBody:
    """The ASGI `receive` of one request, noting when the request body has been read."""

    __slots__ = ("_receive", "complete")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.complete = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete = True  # the last chunk, or the client went away
        return message

    async def drain(self, limit: int) -> bool:
        """Read and drop the rest of the body; False if more than `limit` bytes remain."""
        left = limit
        while not self.complete:
            left -= len((await self()).get("body", b""))
            if left < 0:
                return False
        return True


def _response_encoding(adapter: Adapter, call: Call) -> str:
    """`pb`, `json` or `twirp_json`: what `adapter.success` will write for `call` (Twirp
    writes its own JSON style, pRPC and Connect proto3 JSON; see the adapters)."""
    if call.response_format is Format.BINARY:
        return "pb"
    return "twirp_json" if adapter.name == "twirp" else "json"


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette keeps the full path in `path`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer lifespan events when served directly (not mounted): nothing to set up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
