"""The fake Gerrit as a real aiohttp.web server on loopback, with auth, faults and a request log."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from cvmigrate.config import GerritHost

from . import actions, render
from .entities import HttpError
from .query import compile_query
from .state import GerritState

__all__ = ["FakeGerrit", "RecordedRequest", "SubmitHold"]

XSSI_PREFIX = ")]}'\n"
_CALLER = web.RequestKey("caller", object)  # account id, or None when anonymous
_BODY = web.RequestKey("json_body", object)
QUERY_LIMIT = 500  # Gerrit's default queryLimit capability


@dataclass
class RecordedRequest:
    """One request as the fake saw it; `path`/`query` decoded, `raw_path`/`raw_query` as sent."""

    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    raw_query: str
    headers: dict[str, str]
    json: Any = None
    status: int | None = None

    def param(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]


@dataclass
class _Fault:
    remaining: int
    kind: Literal["status", "delay"]
    status: int = 500
    text: str = ""
    delay: float = 0.0
    path_contains: str | None = None
    method: str | None = None

    def matches(self, request: web.Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        if self.path_contains is None:
            return True
        return self.path_contains in request.path or self.path_contains in request.raw_path


@dataclass
class _Faults:
    queue: list[_Fault] = field(default_factory=list)
    error_after_merge: int = 0

    def take(self, request: web.Request) -> _Fault | None:
        for fault in self.queue:
            if fault.remaining > 0 and fault.matches(request):
                fault.remaining -= 1
                return fault
        return None


@dataclass
class SubmitHold:
    """A submit that waits in the fake: `reached` is set when the request arrives (after
    Gerrit's checks), and the change merges only once the test sets `released`."""

    number: int
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


_STATUS_TEXT = {
    429: "Exceeded rate limit of 100 REST API requests/minute",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FakeGerrit(GerritState):
    """A Gerrit that serves the state built with GerritState's helpers over real HTTP.

    Use `async with FakeGerrit() as fake:` (or the `fake_gerrit` fixture), then point a
    `GerritHost` at `fake.base_url` (`fake.gerrit_host(...)` builds one).
    """

    def __init__(self, *, host: str = "gerrit.example.com", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.credentials: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []
        self.server_errors: list[Exception] = []
        self._faults = _Faults()
        self._holds: dict[int, SubmitHold] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- configuration ------------------------------------------------------------------

    def allow_authorization(self, header_value: str, account_id: int) -> None:
        """Requests under /a/ with exactly this Authorization header act as `account_id`."""
        if account_id not in self.accounts:
            self.add_account(account_id)
        self.credentials[header_value] = account_id

    def allow_bearer(self, token: str, account_id: int) -> None:
        self.allow_authorization(f"Bearer {token}", account_id)

    def allow_basic(self, user_password: str, account_id: int) -> None:
        """Accept `Basic base64(user_password)` (user:password, or a netrc token verbatim)."""
        encoded = base64.b64encode(user_password.encode()).decode()
        self.allow_authorization(f"Basic {encoded}", account_id)

    def gerrit_host(self, *, auth: str = "bearer", token_env: str = "") -> GerritHost:
        """A config entry for this fake (call after start)."""
        return GerritHost(host=self.host, base_url=self.base_url, auth=auth, token_env=token_env)

    # --- fault injection ----------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        path_contains: str | None = None,
        method: str | None = None,
        text: str | None = None,
    ) -> None:
        """The next `n` matching requests get `status` (text/plain) and change nothing."""
        self._faults.queue.append(
            _Fault(n, "status", status=status, text=text or _STATUS_TEXT.get(status, "Error"),
                   path_contains=path_contains, method=method)
        )  # fmt: skip

    def timeout_next(
        self,
        n: int = 1,
        delay: float = 30.0,
        *,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """The next `n` matching requests wait `delay` seconds (cut short by close()) before
        being handled normally, so a client with a shorter timeout gives up first."""
        self._faults.queue.append(
            _Fault(n, "delay", delay=delay, path_contains=path_contains, method=method)
        )

    def lock_failure_next(self, n: int = 1) -> None:
        """The next `n` submits fail with Gerrit core's 503 "Lock failure" before merging."""
        self.fail_next(n, 503, path_contains="/submit", method="POST",
                       text="Lock failure: ref update raced, please retry")  # fmt: skip

    def error_after_merge_next(self, n: int = 1) -> None:
        """The next `n` successful submits merge the change, then answer 500."""
        self._faults.error_after_merge += n

    def hold_next_submit(self, number: int) -> SubmitHold:
        """Make the next submit of change `number` wait until the test releases it (e.g. to
        kill the client while its request is in flight, deterministically)."""
        hold = SubmitHold(number)
        self._holds[number] = hold
        return hold

    def clear_faults(self) -> None:
        self._faults = _Faults()

    # --- request log --------------------------------------------------------------------

    def requests_matching(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path_contains is None or path_contains in r.path or path_contains in r.raw_path)
        ]

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0: any free port); returns and sets `base_url`."""
        app = web.Application(middlewares=[self._middleware])
        for prefix in ("", "/a"):
            app.router.add_routes(self._routes(prefix))
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGerrit:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- HTTP ---------------------------------------------------------------------------

    def _routes(self, prefix: str) -> list[web.RouteDef]:
        c = prefix + "/changes/{cid}"
        r = c + "/revisions/{rev}"
        return [
            web.get(prefix + "/changes/", self._query),
            web.get(c, self._get_change),
            web.get(c + "/detail", self._get_detail),
            web.get(r + "/related", self._related),
            web.get(r + "/files/", self._files),
            web.post(r + "/review", self._review),
            web.post(r + "/submit", self._submit),
            web.post(c + "/submit", self._submit),
        ]

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body: Any = None
        raw = await request.read()
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            raw_path=request.raw_path.split("?", 1)[0],
            query=list(request.query.items()),
            raw_query=request.rel_url.raw_query_string,
            headers=dict(request.headers),
        )
        self.requests.append(record)
        try:
            if raw:
                if not request.content_type.startswith("application/json"):
                    # Gerrit wants JSON bodies declared as such (spec/gerrit.md §1).
                    raise HttpError(400, f"Unsupported Content-Type: {request.content_type}")
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise HttpError(400, "Invalid application/json in request") from None
                record.json = body
            request[_BODY] = body
            request[_CALLER] = self._authenticate(request)
            fault = self._faults.take(request)
            if fault is not None and fault.kind == "status":
                raise HttpError(fault.status, fault.text)
            if fault is not None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay)
                if self._closing.is_set():
                    raise HttpError(503, "shutting down")
            response = await handler(request)
        except HttpError as err:
            response = web.Response(status=err.status, text=err.text + "\n")
        except web.HTTPException as exc:  # router 404/405
            response = web.Response(status=exc.status, text=(exc.text or exc.reason) + "\n")
        except Exception as exc:
            # A bug in the fake, not a simulated failure: keep it for the fixture to report.
            self.server_errors.append(exc)
            response = web.Response(status=500, text=f"fake Gerrit bug: {exc!r}\n")
        record.status = response.status
        return response

    def _authenticate(self, request: web.Request) -> int | None:
        if not request.path.startswith("/a/"):
            return None  # anonymous; Gerrit ignores credentials outside /a/
        account_id = self.credentials.get(request.headers.get("Authorization", ""))
        if account_id is None:
            raise HttpError(401, "Unauthorized")
        return account_id

    @staticmethod
    def _caller(request: web.Request) -> int | None:
        caller = request[_CALLER]
        return caller if isinstance(caller, int) else None

    @staticmethod
    def _json(data: Any) -> web.Response:
        text = XSSI_PREFIX + json.dumps(data, separators=(",", ":"))
        return web.Response(text=text, content_type="application/json")

    def _options(self, request: web.Request) -> list[str]:
        options = request.query.getall("o", [])
        render.check_options(options)
        return options

    def _change_and_revision(self, request: web.Request) -> tuple[Any, Any]:
        change = self.resolve_change(request.match_info["cid"], self._caller(request))
        return change, self.resolve_revision(change, request.match_info["rev"])

    async def _get_change(self, request: web.Request) -> web.Response:
        change = self.resolve_change(request.match_info["cid"], self._caller(request))
        return self._json(render.render_change(self, change, self._options(request)))

    async def _get_detail(self, request: web.Request) -> web.Response:
        change = self.resolve_change(request.match_info["cid"], self._caller(request))
        options = {"LABELS", "DETAILED_LABELS", "DETAILED_ACCOUNTS", "MESSAGES",
                   *self._options(request)}  # fmt: skip
        return self._json(render.render_change(self, change, options))

    async def _query(self, request: web.Request) -> web.Response:
        options = self._options(request)
        queries = request.query.getall("q", [])
        if not queries:
            raise HttpError(400, "missing query field")
        limit = min(int(request.query.get("n", QUERY_LIMIT)), QUERY_LIMIT)
        skip = int(request.query.get("S", request.query.get("start", "0")))
        results = [self._run_query(request, q, options, limit, skip) for q in queries]
        return self._json(results[0] if len(results) == 1 else results)

    def _run_query(
        self, request: web.Request, query: str, options: list[str], limit: int, skip: int
    ) -> list[dict[str, Any]]:
        predicate = compile_query(self, query)
        matches = [
            c
            for c in self.changes.values()
            if self.can_read(self._caller(request), c) and predicate(c)
        ]
        # Gerrit orders by last update, newest first.
        matches.sort(key=lambda c: (c.updated, c.number), reverse=True)
        page = matches[skip : skip + limit]
        rendered = [render.render_change(self, c, options) for c in page]
        if rendered and len(matches) > skip + limit:
            rendered[-1]["_more_changes"] = True
        return rendered

    async def _related(self, request: web.Request) -> web.Response:
        change, patchset = self._change_and_revision(request)
        return self._json(render.render_related(self, change, patchset))

    async def _files(self, request: web.Request) -> web.Response:
        _, patchset = self._change_and_revision(request)
        parent = request.query.get("parent")
        if parent is not None and not (
            parent.isdigit() and 1 <= int(parent) <= len(patchset.parents)
        ):
            raise HttpError(400, f"invalid parent number: {parent}")
        return self._json(render.render_files(patchset))

    async def _review(self, request: web.Request) -> web.Response:
        if request.match_info["rev"] in ("edit", "0"):
            raise HttpError(409, "cannot post review on edit")
        change, patchset = self._change_and_revision(request)
        result = actions.post_review(
            self, change, patchset, self._caller(request), request[_BODY] or {}
        )
        return self._json(result)

    async def _submit(self, request: web.Request) -> web.Response:
        change = self.resolve_change(request.match_info["cid"], self._caller(request))
        patchset = self.resolve_revision(change, request.match_info.get("rev", "current"))
        hold = self._holds.pop(change.number, None)
        if hold is not None:
            hold.reached.set()
            waiters = [
                asyncio.ensure_future(hold.released.wait()),
                asyncio.ensure_future(self._closing.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        actions.submit(self, change, patchset, self._caller(request))
        if self._faults.error_after_merge > 0:
            self._faults.error_after_merge -= 1
            raise HttpError(500, "Internal server error")
        return self._json(render.render_change(self, change, ()))
