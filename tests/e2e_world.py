"""The end-to-end world: the fake Gerrit in this process, `cvmigrate serve` as a subprocess
pointed at it, and a handle on the server's database (tests/test_gerrit_e2e.py and the
crash and secrets tests share it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from fake_runs import fake_changes, store_run
from fakes.gerrit import FakeGerrit
from harness import ServerProcess, async_wait_for
from support import Reply, call

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.model import Run
from cvmigrate.secretbox import new_secret_key
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import Database

__all__ = [
    "CV", "KEY", "NETRC_TOKEN", "OTHER", "OWNER", "TOKEN", "VOTER",
    "Action", "World", "add_accounts", "change", "open_world",
]  # fmt: skip

CV, OWNER, VOTER, OTHER = 1000, 1001, 1002, 1003
TOKEN = "e2e-gerrit-s3cret"
NETRC_TOKEN = "git-cv:netrc-s3cret"
Action = migration_pb.ReportVerifiedRunRequestAction


class World:
    """The fake Gerrit, the server subprocess and a handle on its database."""

    def __init__(self, fake: FakeGerrit, workdir: Path, start: Callable[..., ServerProcess]):
        self.fake = fake
        self.workdir = workdir
        self._start = start
        self.server: ServerProcess | None = None
        self.db_path = workdir / "cvmigrate.db"

    def config(self, *, extra_hosts: Sequence[dict[str, Any]] = (), **gerrit_host: Any) -> dict:
        host = {
            "host": self.fake.host,
            "base_url": self.fake.base_url,
            "auth": "bearer",
            "token_env": "GERRIT_TOKEN",
            **gerrit_host,
        }
        return {
            "gerrit": {
                "hosts": [host, *extra_hosts],
                "max_retries": 2,
                "retry_base_s": 0.01,
                "retry_cap_s": 0.05,
            },
            "run_manager": {"poll_interval_s": 0.05, "retry_base_s": 0.05, "retry_cap_s": 0.2},
        }

    async def start(
        self,
        *,
        extra_hosts: Sequence[dict[str, Any]] = (),
        sections: dict[str, dict[str, Any]] | None = None,
        **gerrit_host: Any,
    ) -> ServerProcess:
        """Start the server on this world's fake (`gerrit_host` overrides its entry), with
        `extra_hosts` after it and whole config `sections` (e.g. "auth") added."""
        env = {"GERRIT_TOKEN": TOKEN, "CVMIGRATE_SECRET_KEY": KEY}
        config = {**self.config(extra_hosts=extra_hosts, **gerrit_host), **(sections or {})}
        self.server = await asyncio.to_thread(self._start, config, env=env, workdir=self.workdir)
        return self.server

    async def restart(self) -> None:
        assert self.server is not None
        await asyncio.to_thread(self.server.start)

    async def call(self, method: str, request: Any, protocol: str = "prpc") -> Reply:
        assert self.server is not None
        return await asyncio.to_thread(
            call, self.server.base_url, method, request, protocol=protocol
        )

    async def write(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`Database.write(fn, *args, **kwargs)` on this world's database: `fn` is a
        module-level function, its arguments picklable."""
        db = await Database.open(self.db_path)
        try:
            return await db.write(fn, *args, **kwargs)
        finally:
            await db.close()

    async def read(self, fn: Callable[..., Any]) -> Any:
        db = await Database.open(self.db_path)
        try:
            return await db.read(fn)
        finally:
            await db.close()

    async def make_run(self, numbers: list[int], **kwargs: Any) -> Run:
        return await self.make_run_on(self.fake, numbers, **kwargs)

    async def make_run_on(self, fake: FakeGerrit, numbers: list[int], **kwargs: Any) -> Run:
        return await self.write(store_run, fake_changes(fake, numbers), **kwargs)

    async def run(self, run_id: str) -> Run:
        run = await self.read(lambda conn: runs_store.get_run(conn, run_id))
        assert run is not None
        return run

    async def wait_ended(self, run_id: str, within: float = 20) -> Run:
        async def ended() -> Run | None:
            run = await self.run(run_id)
            return run if run.is_ended else None

        try:
            return await async_wait_for(ended, within=within)
        except AssertionError:
            log = self.server.log() if self.server else ""
            raise AssertionError(f"Run {run_id} did not end; server log:\n{log}") from None

    async def verify(self, run: Run, action: Action, final_message: str = "") -> None:
        request = migration_pb.ReportVerifiedRunRequest(
            run=migration_pb.ReportedRun(
                id=run.id, attempt=bigquery_pb.Attempt(key=run.attempt_key)
            ),
            action=action,
            final_message=final_message,
        )
        reply = await self.call("ReportVerifiedRun", request)
        assert reply.code is Code.OK, reply


KEY = new_secret_key()


def add_accounts(fake: FakeGerrit) -> None:
    """CV's account (may vote Commit-Queue and submit; bearer TOKEN or basic NETRC_TOKEN),
    the owner and two voters."""
    fake.add_account(CV, username="cv", label_as={"Commit-Queue"}, submit=True)
    for account in (OWNER, VOTER, OTHER):
        fake.add_account(account)
    fake.allow_bearer(TOKEN, CV)
    fake.allow_basic(NETRC_TOKEN, CV)


@contextlib.asynccontextmanager
async def open_world(start: Callable[..., ServerProcess], tmp_path: Path) -> AsyncIterator[World]:
    """The fake Gerrit (CV's account may vote and submit, bearer TOKEN or basic NETRC_TOKEN)
    and a World around it; at exit the server stops first and its log must hold no secret."""
    async with FakeGerrit() as fake:
        add_accounts(fake)
        workdir = tmp_path / "e2e"
        workdir.mkdir()
        world = World(fake, workdir, start)
        yield world
        if world.server is not None:
            # Stop the server while the fake still answers, so its manager ends cleanly.
            await asyncio.to_thread(world.server.stop)
            assert TOKEN not in world.server.log() and "netrc-s3cret" not in world.server.log()
    assert not fake.server_errors, fake.server_errors


def change(fake: FakeGerrit, value: int, *, voters=(VOTER,), parent: int | None = None) -> int:
    parents = [fake.change(parent).current.revision] if parent else None
    number = fake.add_change(owner=OWNER, parents=parents).number
    for account in voters:
        fake.vote(number, "Commit-Queue", account, value)
    return number
