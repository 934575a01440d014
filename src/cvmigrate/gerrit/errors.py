"""Errors raised by the Gerrit client, and the one place that maps HTTP status → gRPC code.

Hierarchy (catch at the level you care about)::

    GerritError(code, http_status, message)
     ├── GerritTransientError            retrying later may succeed (is_transient → True)
     │    ├── GerritQuotaExceeded        429           RESOURCE_EXHAUSTED
     │    ├── GerritTimeout              no answer in time (client timeout)  DEADLINE_EXCEEDED
     │    ├── GerritUnauthenticated      401           INTERNAL
     │    └── (plain)                    408, 5xx, connection failures  INTERNAL / UNAVAILABLE
     ├── GerritInvalidArgument           400           INVALID_ARGUMENT
     ├── GerritPermissionDenied          403           PERMISSION_DENIED
     ├── GerritNotFound                  404           NOT_FOUND
     ├── GerritConflict                  409           FAILED_PRECONDITION
     ├── GerritPreconditionFailed        412           FAILED_PRECONDITION
     ├── GerritHostNotConfigured         (no request)  NOT_FOUND
     ├── GerritCredentialsError          (no request)  INTERNAL
     └── (plain)                         other 4xx, 3xx, unparsable answers  INTERNAL

The codes follow spec/gerrit.md §3 (the luci-go REST client's table) and cv-migration.md
§4.5. One deliberate choice where the two spec texts differ: cv-migration §4.5 lists 412 under
"anything else → INTERNAL", spec/gerrit.md §3 and §5 map it to FAILED_PRECONDITION; we follow
spec/gerrit.md (412 means "stale state", a precondition, not a server bug).

Messages carry the HTTP status and Gerrit's own text (trimmed), never request headers, so no
credential can leak through them; the client additionally scrubs the Authorization value.
"""

from __future__ import annotations

from typing import Final

import aiohttp

from cvmigrate.rpc.codes import Code

__all__ = [
    "GerritConflict",
    "GerritCredentialsError",
    "GerritError",
    "GerritHostNotConfigured",
    "GerritInvalidArgument",
    "GerritNotFound",
    "GerritPermissionDenied",
    "GerritPreconditionFailed",
    "GerritQuotaExceeded",
    "GerritTimeout",
    "GerritTransientError",
    "GerritUnauthenticated",
    "classify",
    "from_transport_error",
    "is_transient",
]

# Gerrit error bodies are short human text; a proxy can answer with a whole HTML page.
MAX_BODY_IN_MESSAGE: Final = 500


class GerritError(Exception):
    """A Gerrit call failed; `code` is the gRPC code callers propagate (spec/gerrit.md §3)."""

    default_code: Code = Code.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: Code | None = None,
        http_status: int | None = None,
        detail: str = "",
    ):
        super().__init__(message)
        self.code: Code = self.default_code if code is None else code
        self.http_status = http_status
        self.message = message
        self.detail = detail
        """Gerrit's own (trimmed) answer text, for messages shown to users; may be empty."""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code.name}, http_status={self.http_status}, "
            f"message={self.message!r})"
        )


class GerritTransientError(GerritError):
    """Retrying the same request later may succeed (5xx, 408, quota, connection, timeout)."""


class GerritQuotaExceeded(GerritTransientError):
    """HTTP 429: Gerrit's quota is exhausted; back off."""

    default_code = Code.RESOURCE_EXHAUSTED


class GerritTimeout(GerritTransientError):
    """Gerrit did not answer within the per-method timeout."""

    default_code = Code.DEADLINE_EXCEEDED


class GerritUnauthenticated(GerritTransientError):
    """HTTP 401: the credentials were refused (tokens expire; the next attempt re-reads them)."""


class GerritInvalidArgument(GerritError):
    """HTTP 400: the request is malformed (a bug in the caller, or a too-long message)."""

    default_code = Code.INVALID_ARGUMENT


class GerritPermissionDenied(GerritError):
    """HTTP 403: the account lacks a permission (label-as, submit, …)."""

    default_code = Code.PERMISSION_DENIED


class GerritNotFound(GerritError):
    """HTTP 404: the change or revision does not exist or is not visible."""

    default_code = Code.NOT_FOUND


class GerritConflict(GerritError):
    """HTTP 409: the change's state forbids it (merged, not current, blocked, closed)."""

    default_code = Code.FAILED_PRECONDITION


class GerritPreconditionFailed(GerritError):
    """HTTP 412: a precondition (e.g. `meta=` state) no longer holds; the data was stale."""

    default_code = Code.FAILED_PRECONDITION


class GerritHostNotConfigured(GerritError):
    """The host is not in the configuration; no request was sent."""

    default_code = Code.NOT_FOUND


class GerritCredentialsError(GerritError):
    """No usable credential for the host (unset variable, no netrc token); nothing was sent."""


# status → (class, code). Codes not listed fall to _default_for_status below.
_STATUS_TABLE: Final[dict[int, tuple[type[GerritError], Code]]] = {
    400: (GerritInvalidArgument, Code.INVALID_ARGUMENT),
    401: (GerritUnauthenticated, Code.INTERNAL),
    403: (GerritPermissionDenied, Code.PERMISSION_DENIED),
    404: (GerritNotFound, Code.NOT_FOUND),
    408: (GerritTransientError, Code.INTERNAL),
    409: (GerritConflict, Code.FAILED_PRECONDITION),
    412: (GerritPreconditionFailed, Code.FAILED_PRECONDITION),
    429: (GerritQuotaExceeded, Code.RESOURCE_EXHAUSTED),
    500: (GerritTransientError, Code.INTERNAL),
    502: (GerritTransientError, Code.UNAVAILABLE),
    503: (GerritTransientError, Code.UNAVAILABLE),
}


def _default_for_status(http_status: int) -> tuple[type[GerritError], Code]:
    if 500 <= http_status <= 599:
        # Any other 5xx (504, 599 from proxies…) is the server side failing, not our request:
        # luci-go calls it INTERNAL and CV retries it.
        return GerritTransientError, Code.INTERNAL
    # Other 4xx (405, 422, 499…), 1xx and 3xx: resending the identical request gets the same
    # answer, so retrying would only burn quota. They indicate a bug on our side or an
    # unexpected proxy, hence permanent INTERNAL, as luci-go reports them.
    return GerritError, Code.INTERNAL


def _trim_body(body: str) -> str:
    body = body.removeprefix(")]}'").strip()
    if len(body) > MAX_BODY_IN_MESSAGE:
        body = body[:MAX_BODY_IN_MESSAGE] + "…"
    return body


def classify(http_status: int, body: str, *, context: str = "") -> GerritError:
    """The error for a non-2xx Gerrit answer: class and gRPC code per spec/gerrit.md §3.

    `body` is Gerrit's (usually text/plain) answer and becomes part of the message, trimmed;
    `context` (e.g. "POST /changes/p~1/revisions/x/review") prefixes it.
    """
    cls, code = _STATUS_TABLE.get(http_status) or _default_for_status(http_status)
    text = _trim_body(body) or "(empty body)"
    prefix = f"{context}: " if context else ""
    return cls(
        f"{prefix}Gerrit HTTP {http_status}: {text}",
        code=code,
        http_status=http_status,
        detail=_trim_body(body),
    )


def from_transport_error(exc: BaseException, *, context: str = "") -> GerritError:
    """The error for a request that got no HTTP answer (timeout, refused, reset, bad payload).

    Timeouts are DEADLINE_EXCEEDED; other transport failures INTERNAL, like luci-go (§3).
    The message names the exception type, not its text, which may echo a URL or headers.
    """
    prefix = f"{context}: " if context else ""
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is the same class since 3.11
        return GerritTimeout(f"{prefix}no answer from Gerrit before the timeout")
    if isinstance(exc, aiohttp.ClientPayloadError):
        # The connection broke mid-body: the same request may well succeed next time.
        return GerritTransientError(
            f"{prefix}truncated answer from Gerrit ({type(exc).__name__})", code=Code.INTERNAL
        )
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError | OSError):
        return GerritTransientError(
            f"{prefix}cannot reach Gerrit ({type(exc).__name__})", code=Code.INTERNAL
        )
    return GerritError(f"{prefix}bad answer from Gerrit ({type(exc).__name__})")


def is_transient(err: BaseException) -> bool:
    """True if retrying the same request later may succeed.

    Transient: 429, 408, 401 (credentials are re-read per attempt), every 5xx, timeouts and
    connection failures. Permanent: 400, 403, 404, 409, 412 and other 4xx: the answer would
    not change, and for 404/409 the caller must look at the change instead.
    """
    if isinstance(err, GerritError):
        return isinstance(err, GerritTransientError)
    # Raw library errors (not yet classified) follow the same rule as from_transport_error.
    return isinstance(
        err,
        TimeoutError | aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | ConnectionError,
    )
