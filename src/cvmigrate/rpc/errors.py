"""The one error type that crosses the RPC boundary.

RpcError(code, message)          raised by handlers; rendered by every protocol
ProtocolError(RpcError)          the request could not become a call at all
                                 (bad route, media type, body, headers); carries
                                 the protocol-specific HTTP answer hints
"""

from __future__ import annotations

from collections.abc import Mapping

from cvmigrate.rpc.codes import Code

__all__ = ["ProtocolError", "RpcError"]


class RpcError(Exception):
    """An RPC failure with a gRPC code and a message the caller may see."""

    def __init__(self, code: Code, message: str = "", *, meta: Mapping[str, str] | None = None):
        if code is Code.OK:
            raise ValueError("RpcError needs a non-OK code")
        super().__init__(message)
        self.code = code
        self.message = message
        self.meta: dict[str, str] = dict(meta or {})

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"RpcError({self.code.name}, {self.message!r})"


class ProtocolError(RpcError):
    """The HTTP request is not a valid call in its protocol (rejected before any handler).

    `http_status` overrides the code's usual status (e.g. 415 for a bad Content-Type,
    405 for a bad verb); `twirp_code` overrides the Twirp code (`malformed`, `bad_route`);
    `headers` are added to the response (e.g. `Allow`).
    """

    def __init__(
        self,
        code: Code,
        message: str = "",
        *,
        http_status: int | None = None,
        twirp_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        meta: Mapping[str, str] | None = None,
    ):
        super().__init__(code, message, meta=meta)
        self.http_status = http_status
        self.twirp_code = twirp_code
        self.headers: dict[str, str] = dict(headers or {})
