"""Starting and stopping one poller task per configured project (used by app.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

from cvmigrate.config import ProjectSettings
from cvmigrate.poller.poller import GerritPollClient, ProjectPoller
from cvmigrate.store.db import Database

__all__ = ["PollerTasks", "start_pollers"]


class PollerTasks:
    """The running pollers; `stop()` cancels them and waits until they are gone."""

    def __init__(self, pollers: Sequence[ProjectPoller]) -> None:
        self.pollers = tuple(pollers)
        self._tasks = [
            asyncio.create_task(poller.run_forever(), name=f"cvmigrate-poller-{poller.name}")
            for poller in self.pollers
        ]

    def __repr__(self) -> str:
        return f"PollerTasks({[poller.name for poller in self.pollers]})"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


def start_pollers(
    projects: Sequence[ProjectSettings],
    *,
    db: Database,
    gerrit_client: GerritPollClient,
    clock: Callable[[], datetime],
) -> PollerTasks:
    """One `ProjectPoller.run_forever` task per project (none for an empty list)."""
    return PollerTasks(
        [
            ProjectPoller(project, db=db, gerrit_client=gerrit_client, clock=clock)
            for project in projects
        ]
    )
