"""The Gerrit REST client: the few calls CV makes, over one shared aiohttp session.

Wire rules (spec/gerrit.md §1, §6): `/a/` prefix when a credential is sent (none for
`auth = "none"`), the `Authorization` header built by hand (aiohttp's BasicAuth is
deprecated), `Accept: application/json`, JSON bodies with
`Content-Type: application/json; charset=UTF-8`, the `)]}'` XSSI prefix stripped, IDs
URL-encoded (`chromium%2Fsrc~123`), repeated `o=` options as a list of pairs (aiohttp then
encodes a literal `+` in `q=` as `%2B`), redirects not followed (a redirect from Gerrit's API
means a misconfigured base URL or a login page, never data).

Timeouts: one table, `DEFAULT_TIMEOUTS`, the per-RPC limits CV used
(`cv/internal/gerrit/timeout.go`), applied to each attempt. Callers that need an overall
bound (the 20-minute submission deadline) wrap the call in `asyncio.timeout()`.

Retries: transient failures (`errors.is_transient`: 429, 408, 401, 5xx, connection errors,
timeouts) are retried up to `max_retries` times with full-jitter exponential backoff
(`uniform(0, min(cap, base * 2**n))`); 400/403/404/409/412 never are. Decision for the two
non-idempotent calls, which are retried too:

* `set_review`: a review that Gerrit applied but whose answer was lost is posted again.
  Vote removal (`labels: {L: 0}`) is idempotent; a repeated message is the accepted risk,
  bounded by `max_retries`, and callers already de-duplicate messages against the change's
  `messages` before posting (cv-migration.md §4.5), exactly as CV relied on task retries.
* `submit_revision`: Gerrit can fail after merging (spec/gerrit.md §3). A retry of an applied
  submit answers 409 "change is merged", so callers must, after any submit error, re-read the
  change and count MERGED as success — which CV does and which they need anyway for errors
  that exhaust the retries. Retrying is what CV's submitter did for 429/500/503 (LOCK_FAILURE).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import aiohttp
from opentelemetry import propagate, trace

from cvmigrate import telemetry
from cvmigrate.config import GerritHost
from cvmigrate.proto import gerrit

from . import convert
from .credentials import CredentialSource, EnvCredentials, NetrcLookup, Secret
from .errors import (
    GerritError,
    GerritHostNotConfigured,
    classify,
    from_transport_error,
    is_transient,
)

__all__ = [
    "DEFAULT_TIMEOUTS",
    "CredentialSource",
    "EnvCredentials",
    "GerritClient",
    "NetrcLookup",
    "Secret",
]

_log = logging.getLogger(__name__)

# Seconds per attempt, keyed by client method name (CV's cv/internal/gerrit/timeout.go).
DEFAULT_TIMEOUTS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "query_changes": 20.0,
        "get_change": 100.0,
        "get_related_changes": 100.0,
        "list_files": 100.0,
        "set_review": 5 * 60.0,
        "submit_revision": 10 * 60.0,
    }
)

XSSI_PREFIX: Final = ")]}'"
JSON_CONTENT_TYPE: Final = "application/json; charset=UTF-8"

T = TypeVar("T")
Option = str | gerrit.QueryOption


def _change_path(number: int, project: str | None) -> str:
    if number <= 0:
        raise ValueError(f"change number must be positive, got {number}")
    # project~number is the cheapest routing (spec/gerrit.md §1); `/` in project must be %2F.
    change_id = f"{quote(project, safe='')}~{number}" if project else str(number)
    return f"/changes/{change_id}"


def _revision_path(number: int, project: str | None, revision: str) -> str:
    if not revision:
        raise ValueError("revision is required")
    return f"{_change_path(number, project)}/revisions/{quote(revision, safe='')}"


def _option_params(options: Sequence[Option]) -> list[tuple[str, str]]:
    return [("o", opt.name if isinstance(opt, gerrit.QueryOption) else opt) for opt in options]


class GerritClient:
    """Async client for the Gerrit hosts in the configuration.

    `session` is the process-wide aiohttp session (owned and closed by the caller);
    `credentials` gives each request's Authorization header. `sleep` and `rand` are
    injectable so tests run retries instantly and deterministically.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        hosts: Sequence[GerritHost],
        credentials: CredentialSource,
        *,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        timeouts: Mapping[str, float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        unknown = set(timeouts or {}) - set(DEFAULT_TIMEOUTS)
        if unknown:
            raise ValueError(f"unknown timeout keys: {sorted(unknown)}")
        self._session = session
        self._hosts = {host.host: host for host in hosts}
        self._credentials = credentials
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self._sleep = sleep
        self._rand = rand

    def __repr__(self) -> str:
        return f"GerritClient(hosts={sorted(self._hosts)}, max_retries={self._max_retries})"

    # --- public calls -------------------------------------------------------------------

    async def get_change(
        self,
        host: str,
        number: int,
        *,
        project: str | None = None,
        options: Sequence[Option] = (),
    ) -> gerrit.ChangeInfo:
        """One change with the given `o=` options.

        https://gerrit-review.googlesource.com/Documentation/rest-api-changes.html#get-change
        Raises GerritNotFound if it does not exist or is not visible.
        """
        data = await self._call(
            "get_change", host, "GET", _change_path(number, project), _option_params(options)
        )
        return self._convert(convert.change_info_from_json, data, "get_change")

    async def query_changes(
        self,
        host: str,
        query: str,
        *,
        options: Sequence[Option] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[gerrit.ChangeInfo], bool]:
        """One page of a change query: (changes, more) where `more` is Gerrit's `_more_changes`.

        https://gerrit-review.googlesource.com/Documentation/rest-api-changes.html#list-changes
        """
        params = [("q", query), *_option_params(options)]
        if limit is not None:
            params.append(("n", str(limit)))
        if offset:
            params.append(("S", str(offset)))
        data = await self._call("query_changes", host, "GET", "/changes/", params)
        if not isinstance(data, list):
            raise GerritError("query_changes: Gerrit did not answer with a list")
        more = bool(data and isinstance(data[-1], dict) and data[-1].get("_more_changes"))
        changes = [self._convert(convert.change_info_from_json, c, "query_changes") for c in data]
        return changes, more

    async def iter_query(
        self,
        host: str,
        query: str,
        *,
        options: Sequence[Option] = (),
        page_size: int = 100,
    ) -> AsyncIterator[gerrit.ChangeInfo]:
        """Every change matching `query`, fetching pages of `page_size` with `S=` offsets.

        Offsets shift if changes start or stop matching while paging, so a change may be seen
        twice or missed; pollers bound queries with `after:` and de-duplicate by number.
        """
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        offset = 0
        while True:
            changes, more = await self.query_changes(
                host, query, options=options, limit=page_size, offset=offset
            )
            for change in changes:
                yield change
            if not more or not changes:
                return
            offset += len(changes)

    async def get_related_changes(
        self, host: str, number: int, revision: str, *, project: str | None = None
    ) -> list[gerrit.GetRelatedChangesResponseChangeAndCommit]:
        """Changes related by git ancestry to `revision`, newest→oldest (empty if none).

        https://gerrit-review.googlesource.com/Documentation/rest-api-changes.html#get-related-changes
        """
        path = _revision_path(number, project, revision) + "/related"
        data = await self._call("get_related_changes", host, "GET", path)
        return self._convert(convert.related_changes_from_json, data, "get_related_changes")

    async def list_files(
        self,
        host: str,
        number: int,
        revision: str,
        *,
        project: str | None = None,
        parent: int | None = None,
    ) -> dict[str, gerrit.FileInfo]:
        """Files modified by `revision` (vs. its first parent, or the 1-based `parent`),
        including the magic `/COMMIT_MSG` entry.

        https://gerrit-review.googlesource.com/Documentation/rest-api-changes.html#list-files
        """
        path = _revision_path(number, project, revision) + "/files/"
        params = [("parent", str(parent))] if parent is not None else []
        data = await self._call("list_files", host, "GET", path, params)
        return self._convert(convert.files_from_json, data, "list_files")

    async def set_review(self, host: str, request: gerrit.SetReviewRequest) -> gerrit.ReviewResult:
        """Post a message and/or votes on a revision (ReviewInput per spec/gerrit.md §2.2).

        https://gerrit-review.googlesource.com/Documentation/rest-api-changes.html#set-review
        Retried on transient errors (see the module docstring for why that is safe enough).
        """
        path = _revision_path(request.number, request.project, request.revision_id) + "/review"
        body = convert.review_input_from_request(request)
        data = await self._call("set_review", host, "POST", path, json_body=body)
        return self._convert(convert.review_result_from_json, data, "set_review")

    async def submit_revision(
        self, host: str, request: gerrit.SubmitRevisionRequest
    ) -> gerrit.ChangeInfo:
        """Submit a revision (must be current); returns the change, status MERGED.

        https://gerrit-review.googlesource.com/Documentation/rest-api-changes.html#submit-revision
        After any error, re-read the change: MERGED means it was submitted (module docstring).
        """
        path = _revision_path(request.number, request.project, request.revision_id) + "/submit"
        data = await self._call("submit_revision", host, "POST", path, json_body={})
        return self._convert(convert.change_info_from_json, data, "submit_revision")

    # --- plumbing -----------------------------------------------------------------------

    def _host(self, name: str) -> GerritHost:
        try:
            return self._hosts[name]
        except KeyError:
            raise GerritHostNotConfigured(f"no Gerrit host configured for {name}") from None

    def _backoff(self, retry: int) -> float:
        return self._rand() * min(self._backoff_cap, self._backoff_base * 2**retry)

    async def _call(
        self,
        method_name: str,
        host_name: str,
        http_method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        json_body: Any = None,
    ) -> Any:
        host = self._host(host_name)
        time_limit = self._timeouts[method_name]
        retry = 0
        while True:
            try:
                return await self._attempt(
                    method_name, host, http_method, path, params, json_body, time_limit
                )
            except GerritError as err:
                if not is_transient(err) or retry >= self._max_retries:
                    raise
                delay = self._backoff(retry)
                retry += 1
                _log.warning(
                    "%s: %s; retry %d/%d in %.2fs",
                    method_name,
                    err,
                    retry,
                    self._max_retries,
                    delay,
                )
                await self._sleep(delay)

    async def _attempt(
        self,
        method_name: str,
        host: GerritHost,
        http_method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        json_body: Any,
        time_limit: float,
    ) -> Any:
        authorization = await self._credentials.authorization(host)
        secret = Secret(authorization or "")
        base = (host.base_url or f"https://{host.host}").rstrip("/")
        # Authenticated calls live under /a/; without it Gerrit treats the call as anonymous.
        url = base + ("/a" if secret else "") + path
        context = f"{http_method} {host.host}{path}"
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = JSON_CONTENT_TYPE
        status = 0
        started = time.perf_counter()
        with telemetry.tracer().start_as_current_span(
            f"gerrit.{method_name}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                telemetry.ATTR_HTTP_METHOD: http_method,
                telemetry.ATTR_SERVER_ADDRESS: host.host,
                _ATTR_OPERATION: method_name,
            },
        ) as span:
            # W3C trace context travels to Gerrit (after our span started, so it is the parent).
            propagate.inject(headers)
            if secret:
                headers["Authorization"] = secret.reveal()
            try:
                async with self._session.request(
                    http_method,
                    url,
                    params=list(params),
                    data=data,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=time_limit),
                    allow_redirects=False,
                ) as response:
                    body = (await response.read()).decode("utf-8", errors="replace")
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                raise _scrub(from_transport_error(exc, context=context), secret) from exc
            finally:
                _request_duration().record(
                    (time.perf_counter() - started) * 1000.0,
                    {_ATTR_OPERATION: method_name, telemetry.ATTR_HTTP_STATUS: status},
                )
            span.set_attribute(telemetry.ATTR_HTTP_STATUS, status)
            if status >= 400:
                span.set_status(trace.StatusCode.ERROR, f"HTTP {status}")
        if not 200 <= status < 300:
            raise _scrub(classify(status, body, context=context), secret)
        return _parse_json(body, context)

    @staticmethod
    def _convert(func: Callable[[Any], T], data: Any, method_name: str) -> T:
        try:
            return func(data)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise GerritError(f"{method_name}: unexpected answer from Gerrit: {exc}") from exc


_ATTR_OPERATION = "gerrit.operation"


@functools.cache
def _request_duration() -> Any:
    return telemetry.meter().create_histogram(
        "gerrit.client.duration",
        unit="ms",
        description="Time of one Gerrit HTTP request, by operation and HTTP status (0: no answer).",
    )


def _parse_json(body: str, context: str) -> Any:
    body = body.removeprefix(XSSI_PREFIX).strip()
    if not body:
        return None  # 204 No Content
    try:
        return json.loads(body)
    except ValueError:
        raise GerritError(f"{context}: Gerrit answered with invalid JSON") from None


def _scrub(err: GerritError, secret: Secret) -> GerritError:
    # Gerrit never echoes credentials, but a proxy error page might: never let one through.
    value = secret.reveal()
    if value:
        for fragment in (value, value.partition(" ")[2]):
            if len(fragment) >= 4:
                err.message = err.message.replace(fragment, "***")
                err.detail = err.detail.replace(fragment, "***")
        err.args = (err.message,)
    return err
