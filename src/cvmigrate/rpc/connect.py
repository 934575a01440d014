"""Connect unary (spec/protocols.md §2): `POST /<service>/<Method>`, and GET for
methods marked `NO_SIDE_EFFECTS`.

Decisions where the spec leaves room:
- A request over the server limit is `resource_exhausted` (429), as connect-go answers
  for its ReadMaxBytes.
- A 405 lists what the method really allows: `Allow: POST`, or `Allow: GET, POST` for a
  method that may be called with GET.
- Responses are never compressed (allowed: `identity` is always acceptable).
- A missing `Connect-Protocol-Version` header is accepted, as connect-go does by default.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Final

from starlette.responses import Response

from cvmigrate.rpc.codec import JsonStyle, encode_binary, encode_json
from cvmigrate.rpc.codes import CONNECT_CODE, CONNECT_HTTP_STATUS, Code
from cvmigrate.rpc.errors import ProtocolError, RpcError
from cvmigrate.rpc.media import parse_media_type
from cvmigrate.rpc.protocol import Call, Format, PreparedResponse, Result, Route, content_type

if TYPE_CHECKING:
    from cvmigrate.rpc.codec import DecodeError
    from cvmigrate.rpc.protocol import Request

__all__ = ["ConnectAdapter"]

_CODECS: Final[dict[str, Format]] = {"proto": Format.BINARY, "json": Format.JSON}
_MEDIA_TYPE: Final[dict[Format, str]] = {
    Format.BINARY: "application/proto",
    Format.JSON: "application/json",
}
_COMPRESSIONS: Final[dict[str, bool]] = {"identity": False, "gzip": True}  # name → is gzip
_TIMEOUT: Final = re.compile(r"\d{1,10}")
_CONTENT_TYPE: Final = {f: content_type(t) for f, t in _MEDIA_TYPE.items()}


def _http_error(status: int, headers: dict[str, str] | None = None) -> ProtocolError:
    # Routing errors have an empty body: only the status (and headers) mean anything.
    return ProtocolError(Code.UNIMPLEMENTED, "", http_status=status, headers=headers)


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(Code.INVALID_ARGUMENT, message)


class ConnectAdapter:
    """Connect unary over `application/proto` and `application/json`, POST and GET."""

    name = "connect"

    def prepare(self, request: Request, route: Route) -> Call:
        """Check route, verb, codec, protocol version, timeout and compression."""
        method = route.method
        if method is None:
            raise _http_error(404)
        allow = "GET, POST" if method.no_side_effects else "POST"
        if request.method == "GET" and method.no_side_effects:
            return self._prepare_get(request, route)
        if request.method != "POST":
            raise _http_error(405, {"Allow": allow})
        request_format = _post_format(request.headers.get("content-type", ""))
        if request_format is None:
            raise _http_error(415, {"Accept-Post": "application/json, application/proto"})
        version = request.headers.get("connect-protocol-version")
        if version is not None and version != "1":
            raise _invalid(f'connect-protocol-version must be "1": got "{version}"')
        return Call(
            method=method,
            request_format=request_format,
            response_format=request_format,
            timeout=_timeout(request),
            gzip=_is_gzip(request.headers.get("content-encoding")),
        )

    def _prepare_get(self, request: Request, route: Route) -> Call:
        assert route.method is not None
        query = request.query_params
        connect = query.get("connect")
        if connect is not None and connect != "v1":
            raise _invalid(f'connect must be "v1": got "{connect}"')
        encoding = query.get("encoding")
        message = query.get("message")
        if encoding is None:
            raise _invalid("missing encoding parameter")
        request_format = _CODECS.get(encoding)
        if request_format is None:
            raise _http_error(415, {"Accept-Post": "application/json, application/proto"})
        if message is None:
            raise _invalid("missing message parameter")
        if query.get("base64") == "1":
            try:
                padded = message + "=" * (-len(message) % 4)
                data = base64.b64decode(padded, altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raise _invalid("message parameter is not valid base64") from None
        else:
            data = message.encode()
        return Call(
            method=route.method,
            request_format=request_format,
            response_format=request_format,
            timeout=_timeout(request),
            gzip=_is_gzip(query.get("compression")),
            message=data,
        )

    def decode_error(self, call: Call, error: DecodeError) -> RpcError:
        """`invalid_argument` with the reason."""
        return _invalid(f"could not unmarshal request: {error}")

    def body_too_large(self, limit: int) -> RpcError:
        """`resource_exhausted`: see the module docstring."""
        return ProtocolError(
            Code.RESOURCE_EXHAUSTED, f"request message is larger than the limit of {limit} bytes"
        )

    def success(self, call: Call, result: Result) -> Response:
        """200 with the response in the request's codec (JSON: protojson defaults)."""
        if call.response_format is Format.BINARY:
            body = encode_binary(result)
        else:
            body = encode_json(result, JsonStyle.PROTO3)
        return PreparedResponse(body, 200, (), _CONTENT_TYPE[call.response_format])

    def failure(self, error: RpcError) -> Response:
        """`{"code", "message"?}` JSON with the Connect status; routing errors are bodiless."""
        if isinstance(error, ProtocolError) and error.http_status is not None:
            return Response(b"", error.http_status, headers=error.headers)
        payload: dict[str, str] = {"code": CONNECT_CODE[error.code]}
        if error.message:
            payload["message"] = error.message
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return Response(body, CONNECT_HTTP_STATUS[error.code], media_type="application/json")


def _post_format(content_type: str) -> Format | None:
    try:
        media_type, params = parse_media_type(content_type)
    except ValueError:
        return None
    if not media_type.startswith("application/"):
        return None
    request_format = _CODECS.get(media_type.removeprefix("application/"))
    # connect-go accepts `application/json; charset=utf-8` and nothing else with parameters.
    if set(params) - {"charset"} or params.get("charset", "utf-8").lower() != "utf-8":
        return None
    return request_format


def _timeout(request: Request) -> float | None:
    value = request.headers.get("connect-timeout-ms")
    if value is None:
        return None
    if not _TIMEOUT.fullmatch(value):
        raise _invalid(f"connect-timeout-ms must be at most 10 digits: got {value!r}")
    return int(value) / 1000


def _is_gzip(encoding: str | None) -> bool:
    if encoding is None:
        return False
    is_gzip = _COMPRESSIONS.get(encoding.strip().lower())
    if is_gzip is None:
        raise ProtocolError(
            Code.UNIMPLEMENTED,
            f'unknown compression "{encoding}": supported encodings are gzip, identity',
        )
    return is_gzip
