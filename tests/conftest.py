"""Shared fixtures: the real server on a loopback port (see harness.py for the helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import official_pb
import pytest
from harness import ServerProcess

from cvmigrate.store.db import Database


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start real servers: `server_factory(config_dict, env=...)`; all stopped at teardown."""
    servers: list[ServerProcess] = []

    def start(
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> ServerProcess:
        directory = workdir or tmp_path / f"server{len(servers)}"
        directory.mkdir(parents=True, exist_ok=True)
        server = ServerProcess(directory, config or {}, env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """The service on its embedded defaults (loopback, development identity)."""
    return server_factory()


@pytest.fixture(scope="session")
def google_pb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Official-runtime `_pb2` modules and connectrpc stubs for schemas/ (official_pb.py)."""
    with official_pb.generated(tmp_path_factory.mktemp("google_pb")) as modules:
        yield modules


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database in the test's temporary folder."""
    database = await Database.open(tmp_path / "cvmigrate.db")
    yield database
    await database.close()
