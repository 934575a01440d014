"""A loopback tree status app: answers `{"general_state": <state>}` and counts requests."""

from __future__ import annotations

from aiohttp import web

__all__ = ["FakeTreeStatus"]


class FakeTreeStatus:
    """`async with FakeTreeStatus() as tree:`; set `tree.state`; the URL is `tree.url`."""

    def __init__(self, state: str = "open") -> None:
        self.state = state
        self.status = 200
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _current(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        return web.json_response({"general_state": self.state, "date": "2026-11-01 12:00:00"})

    async def __aenter__(self) -> FakeTreeStatus:
        app = web.Application()
        app.router.add_get("/current", self._current)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/current"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
