"""Twirp v7 (spec/protocols.md §1): `POST <prefix>/<service>/<Method>`.

Decisions where the spec leaves room:
- A request body over the server limit is `malformed` (400), as the Go server answers
  when its body reader fails; it is not a retryable condition, so not `resource_exhausted`.
- Twirp has no timeout header and no compression: the deadline is the server's
  `max_timeout_s`, and `Content-Encoding` is ignored (a gzip body is `malformed`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from starlette.responses import Response

from cvmigrate.rpc.codec import JsonStyle, encode_binary, encode_json
from cvmigrate.rpc.codes import TWIRP_CODE, TWIRP_HTTP_STATUS, Code
from cvmigrate.rpc.errors import ProtocolError, RpcError
from cvmigrate.rpc.protocol import Call, Format, PreparedResponse, Result, Route, content_type

if TYPE_CHECKING:
    from cvmigrate.rpc.codec import DecodeError
    from cvmigrate.rpc.protocol import Request

__all__ = ["TwirpAdapter"]

_CONTENT_TYPES: Final[dict[str, Format]] = {
    "application/protobuf": Format.BINARY,
    "application/json": Format.JSON,
}
_MEDIA_TYPE: Final[dict[Format, str]] = {v: k for k, v in _CONTENT_TYPES.items()}
_MAX_MESSAGE_BYTES: Final = 1_000_000  # the Go server truncates error messages here
_CONTENT_TYPE: Final = {f: content_type(t) for f, t in _MEDIA_TYPE.items()}


def _bad_route(request: Request, route: Route, message: str) -> ProtocolError:
    return ProtocolError(
        Code.UNIMPLEMENTED,
        message,
        twirp_code="bad_route",
        http_status=404,
        meta={"twirp_invalid_route": f"{request.method} {route.path}"},
    )


class TwirpAdapter:
    """Twirp v7 over binary (`application/protobuf`) and JSON (`application/json`)."""

    name = "twirp"

    def prepare(self, request: Request, route: Route) -> Call:
        """Check verb, route and Content-Type, in the Go server's order."""
        if request.method != "POST":
            raise _bad_route(
                request, route, f'unsupported method "{request.method}" (only POST is allowed)'
            )
        if route.method is None:
            raise _bad_route(request, route, f'no handler for path "{route.path}"')
        content_type = request.headers.get("content-type", "")
        request_format = _CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())
        if request_format is None:
            raise _bad_route(request, route, f'unexpected Content-Type: "{content_type}"')
        return Call(
            method=route.method, request_format=request_format, response_format=request_format
        )

    def decode_error(self, call: Call, error: DecodeError) -> RpcError:
        """`malformed`, with the Go server's message followed by the reason."""
        word = "protobuf" if call.request_format is Format.BINARY else "json"
        return _malformed(f"the {word} request could not be decoded: {error}")

    def body_too_large(self, limit: int) -> RpcError:
        """`malformed`: see the module docstring."""
        return _malformed(f"the request size exceeds the server limit of {limit} bytes")

    def success(self, call: Call, result: Result) -> Response:
        """200 with the response in the request's encoding (JSON: snake_case, defaults)."""
        if call.response_format is Format.BINARY:
            body = encode_binary(result)
        else:
            body = encode_json(result, JsonStyle.TWIRP)
        return PreparedResponse(body, 200, (), _CONTENT_TYPE[call.response_format])

    def failure(self, error: RpcError) -> Response:
        """`{"code", "msg", "meta"?}` as JSON, whatever the request encoding."""
        twirp_code = TWIRP_CODE[error.code]
        status = TWIRP_HTTP_STATUS[error.code]
        if isinstance(error, ProtocolError):
            twirp_code = error.twirp_code or twirp_code
            status = error.http_status or status
        message = error.message.encode()[:_MAX_MESSAGE_BYTES].decode(errors="ignore")
        payload: dict[str, object] = {"code": twirp_code, "msg": message}
        if error.meta:
            payload["meta"] = dict(error.meta)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return Response(body, status, media_type="application/json")


def _malformed(message: str) -> ProtocolError:
    return ProtocolError(Code.INVALID_ARGUMENT, message, twirp_code="malformed", http_status=400)
