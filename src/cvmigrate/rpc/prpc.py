"""LUCI pRPC v1 (spec/protocols.md §3): `POST /prpc/<service>/<Method>`.

Supported: binary and JSON requests and responses (Content-Type and q-valued Accept as in
luci-go), gzip request bodies, `X-Prpc-Grpc-Timeout`, `X-Prpc-Max-Response-Size`, and the
`X-Prpc-Grpc-Code` and `X-Content-Type-Options: nosniff` headers on every answer.

Decisions where the spec leaves room:
- The text format is not supported: betterproto2 has no text codec, and the spec makes it
  optional (binary MUST, JSON and text SHOULD). A text request body is HTTP 415
  INVALID_ARGUMENT; in Accept, text is skipped like any unsupported type, so an Accept
  naming only text is HTTP 406 INVALID_ARGUMENT.
- Responses are never gzipped (luci-go's default is the same).
- A `Content-Encoding` other than gzip or identity is HTTP 415 INVALID_ARGUMENT, like an
  unsupported Content-Type.
- A verb other than POST or OPTIONS is HTTP 405 (`Allow: OPTIONS, POST`) with code
  UNIMPLEMENTED; a path that is not `/prpc/<service>/<Method>` is UNIMPLEMENTED (501).
- OPTIONS (CORS preflight) answers 200 with code 0; no CORS headers are sent because no
  origins are configured (luci-go sends them only when AccessControl allows the origin).
- Like luci-go, errors with HTTP status >= 500 that did not come from the protocol layer
  carry a generic message; the real one is only in the server log.
- A response over `X-Prpc-Max-Response-Size` is UNAVAILABLE without the
  `luci.prpc.ErrorDetails` detail header (we do not have that proto).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Final

from starlette.responses import Response

from cvmigrate.rpc.codec import JsonStyle, encode_binary, encode_json
from cvmigrate.rpc.codes import PRPC_HTTP_STATUS, Code
from cvmigrate.rpc.errors import ProtocolError, RpcError
from cvmigrate.rpc.media import parse_media_type
from cvmigrate.rpc.protocol import Call, Format, PreparedResponse, Result, Route, content_type

if TYPE_CHECKING:
    from cvmigrate.rpc.codec import DecodeError
    from cvmigrate.rpc.protocol import Request

__all__ = ["PrpcAdapter"]

_BINARY_TYPE: Final = "application/prpc; encoding=binary"
_JSON_TYPE: Final = "application/json"
_JSON_PREFIX: Final = b")]}'\n"
_TEXT: Final = "text"  # a format we recognise but do not support (module docstring)
_TIMEOUT: Final = re.compile(r"(\d{1,8})([HMSmun])")
_TIMEOUT_UNIT_SECONDS: Final[dict[str, float]] = {
    "H": 3600.0,
    "M": 60.0,
    "S": 1.0,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
}
# luci-go server.go: messages of non-protocol errors with HTTP status >= 500 are replaced.
_GENERIC_MESSAGES: Final[dict[Code, str]] = {
    Code.INTERNAL: "Internal server error",
    Code.UNKNOWN: "Unknown server error",
    Code.UNAVAILABLE: "Service unavailable",
    Code.DEADLINE_EXCEEDED: "Request deadline exceeded",
    Code.UNIMPLEMENTED: "API method not implemented by the server",
    Code.DATA_LOSS: "Unrecoverable data loss or data corruption",
}
_ALLOWED_VERBS: Final = "OPTIONS, POST"
_SUPPORTED_ACCEPT: Final = '"application/prpc; encoding=binary", "application/json"'


def _error(code: Code, status: int, message: str) -> ProtocolError:
    return ProtocolError(code, message, http_status=status)


def _format_of(media_type: str, params: dict[str, str]) -> Format | str:
    """luci-go FormatFromMediaType; returns _TEXT for text; raises ValueError otherwise."""
    if media_type == "application/prpc":
        if set(params) - {"encoding"}:
            raise ValueError(f"unexpected parameter {sorted(set(params) - {'encoding'})[0]!r}")
        encoding = params.get("encoding", "")
        if encoding in ("", "binary"):
            return Format.BINARY
        if encoding == "json":
            return Format.JSON
        if encoding == "text":
            return _TEXT
        raise ValueError(f'invalid encoding parameter: "{encoding}"')
    if media_type == "application/json":
        return Format.JSON
    if media_type in ("*/*", "application/*", "application/grpc"):
        return Format.BINARY
    raise ValueError(f'unknown content type: "{media_type}"')


class PrpcAdapter:
    """pRPC over binary and JSON (see the module docstring for what is not supported)."""

    name = "prpc"

    def prepare(self, request: Request, route: Route) -> Call | Response:
        """Check verb, route, Accept, headers and Content-Type, in luci-go's order.

        Returns the answer itself for OPTIONS (CORS preflight).
        """
        if request.method == "OPTIONS":
            return Response(b"", 200, headers=_headers(Code.OK))
        if request.method != "POST":
            raise ProtocolError(
                Code.UNIMPLEMENTED,
                f'unsupported method "{request.method}" (only POST is allowed)',
                http_status=405,
                headers={"Allow": _ALLOWED_VERBS},
            )
        if route.service is None or route.name is None:
            raise _error(Code.UNIMPLEMENTED, 501, f'no pRPC route for path "{route.path}"')
        if route.method is None:
            if not route.service_found:
                message = f'service "{route.service}" is not implemented'
            else:
                message = f'method "{route.name}" in service "{route.service}" is not implemented'
            raise _error(Code.UNIMPLEMENTED, 501, message)
        headers = request.headers
        return Call(
            method=route.method,
            response_format=_response_format(headers.get("accept", "")),
            timeout=_timeout(headers.get("x-prpc-grpc-timeout")),
            max_response_bytes=_max_response_size(headers.get("x-prpc-max-response-size")),
            request_format=_request_format(headers.get("content-type", "")),
            gzip=_is_gzip(headers.get("content-encoding")),
        )

    def decode_error(self, call: Call, error: DecodeError) -> RpcError:
        """400 INVALID_ARGUMENT `could not decode body: ...` (luci-go)."""
        return _error(Code.INVALID_ARGUMENT, 400, f"could not decode body: {error}")

    def body_too_large(self, limit: int) -> RpcError:
        """503 UNAVAILABLE (luci-go)."""
        return _error(Code.UNAVAILABLE, 503, "the request size exceeds the server limit")

    def success(self, call: Call, result: Result) -> Response:
        """200 with the response in the format chosen by Accept."""
        if call.response_format is Format.BINARY:
            body = encode_binary(result)
            media_type = _BINARY_TYPE
        else:
            body = b"".join((_JSON_PREFIX, encode_json(result, JsonStyle.PROTO3), b"\n"))
            media_type = _JSON_TYPE
        if call.max_response_bytes is not None and len(body) > call.max_response_bytes:
            return self.failure(
                _error(
                    Code.UNAVAILABLE,
                    503,
                    f"the response size {len(body)} exceeds the client limit "
                    f"{call.max_response_bytes}",
                )
            )
        return PreparedResponse(body, 200, _OK_HEAD, _CONTENT_TYPE[media_type])

    def failure(self, error: RpcError) -> Response:
        """text/plain `message\\n` with X-Prpc-Grpc-Code and the pRPC HTTP status."""
        status = PRPC_HTTP_STATUS[error.code]
        message = error.message
        headers = _headers(error.code)
        if isinstance(error, ProtocolError):
            status = error.http_status or status
            headers.update(error.headers)
        elif status >= 500:
            message = _GENERIC_MESSAGES.get(error.code, "Server error")
        return Response(
            f"{message}\n".encode(), status, headers=headers, media_type="text/plain; charset=utf-8"
        )


def _headers(code: Code) -> dict[str, str]:
    return {"X-Prpc-Grpc-Code": str(int(code)), "X-Content-Type-Options": "nosniff"}


_OK_HEAD: Final = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in _headers(Code.OK).items()
)
_CONTENT_TYPE: Final = {t: content_type(t) for t in (_BINARY_TYPE, _JSON_TYPE)}


# The two format parsers are pure functions of one header value, and clients send the same
# few values on every call: kept per value (bounded), parsing them cost ~4% of a light call.
# A value that fails raises each time (exceptions are not kept).
_FORMAT_CACHE_SIZE: Final = 64


@functools.lru_cache(maxsize=_FORMAT_CACHE_SIZE)
def _request_format(content_type: str) -> Format:
    if not content_type:
        return Format.BINARY
    try:
        request_format = _format_of(*parse_media_type(content_type))
    except ValueError as exc:
        raise _error(Code.INVALID_ARGUMENT, 415, f"Content-Type header: {exc}") from None
    if request_format == _TEXT:
        raise _error(
            Code.INVALID_ARGUMENT, 415, "Content-Type header: the text format is not supported"
        )
    assert isinstance(request_format, Format)
    return request_format


@functools.lru_cache(maxsize=_FORMAT_CACHE_SIZE)
def _response_format(accept: str) -> Format:
    """The best supported format in Accept: highest q, ties binary > JSON (luci-go)."""
    if not accept.strip():
        return Format.BINARY
    best: tuple[float, int, Format] | None = None
    for item in accept.split(","):
        media, q = _split_q(item.strip())
        try:
            media_type, params = parse_media_type(media)
        except ValueError as exc:
            raise _error(Code.INVALID_ARGUMENT, 400, f"Accept header: {exc}") from None
        try:
            candidate = _format_of(media_type, params)
        except ValueError:
            continue  # unsupported types are skipped
        if candidate == _TEXT or q <= 0:
            continue
        assert isinstance(candidate, Format)
        rank = (q, 0 if candidate is Format.BINARY else -1, candidate)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise _error(
            Code.INVALID_ARGUMENT,
            406,
            f"Accept header: specified media types are not supported. "
            f"Supported types: {_SUPPORTED_ACCEPT}.",
        )
    return best[2]


def _split_q(item: str) -> tuple[str, float]:
    """Split `type; params; q=0.5` into the media type with its params and q."""
    parts = item.split(";")
    kept: list[str] = [parts[0]]
    q = 1.0
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                raise _error(
                    Code.INVALID_ARGUMENT,
                    400,
                    "Accept header: q parameter: expected a floating-point number",
                ) from None
            break  # what follows q are accept-extensions, not media type parameters
        kept.append(part)
    return ";".join(kept), q


def _timeout(value: str | None) -> float | None:
    if value is None:
        return None
    match = _TIMEOUT.fullmatch(value)
    if match is None:
        raise _error(
            Code.INVALID_ARGUMENT,
            400,
            f"bad request headers: X-Prpc-Grpc-Timeout header: invalid timeout {value!r}",
        )
    return int(match[1]) * _TIMEOUT_UNIT_SECONDS[match[2]]


def _max_response_size(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise _error(
            Code.INVALID_ARGUMENT,
            400,
            f"bad request headers: X-Prpc-Max-Response-Size header: not a positive number: "
            f"{value!r}",
        )
    return int(value)


def _is_gzip(encoding: str | None) -> bool:
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return False
    if encoding.strip().lower() == "gzip":
        return True
    raise _error(Code.INVALID_ARGUMENT, 415, f'unsupported Content-Encoding "{encoding}"')
