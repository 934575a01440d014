"""The run manager: a background task that acts on due run events (spec §5, §4.2).

Events are durable rows (store/events.py) written in the transaction that causes them, so
nothing is lost between "CQDaemon reported" and "CV acted in Gerrit". Each pass picks the
Runs with due events; one Run's events are handled one at a time, in the order they were
queued; different Runs are handled concurrently (bounded). A handler (event_kinds.py lists
them) returns an outcome (handler_context.py); anything it raises retries the event with
exponential backoff and jitter, capped, recording `attempts` and `last_error`.

Crash safety comes from decide-then-commit-then-act: every decision is committed with the
event that acts on it before anything is done in Gerrit, and every action is idempotent or
recorded step by step (runs/submit.py), so an event that was being handled when the process
died is simply handled again after a restart. Stopping the task (cancellation) is the same
as a crash, only gentler.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from opentelemetry import trace

from cvmigrate import telemetry
from cvmigrate.gerrit.errors import GerritError
from cvmigrate.runs import event_kinds
from cvmigrate.runs.cancel_and_end import handle_cancel_and_end
from cvmigrate.runs.cancel_triggers import StaleGerritData
from cvmigrate.runs.finalize_cqd import handle_cqd_finished
from cvmigrate.runs.handler_context import (
    Committed,
    Done,
    HandlerContext,
    Later,
    Outcome,
    RetryLater,
)
from cvmigrate.runs.model import Run
from cvmigrate.runs.submit import handle_submit
from cvmigrate.runs.tree import TreeStatusError
from cvmigrate.runs.verification import handle_verification_completed
from cvmigrate.store import events
from cvmigrate.store import runs as runs_store
from cvmigrate.store.db import StoreError
from cvmigrate.store.events import RunEvent

__all__ = ["HANDLERS", "ManagerSettings", "RunManager", "run_manager"]

log = logging.getLogger(__name__)

Handler = Callable[[HandlerContext, Run, RunEvent], Awaitable[Outcome]]

HANDLERS: dict[str, Handler] = {
    event_kinds.CQD_VERIFICATION_COMPLETED: handle_verification_completed,
    event_kinds.CQD_FINISHED: handle_cqd_finished,
    event_kinds.SUBMIT: handle_submit,
    event_kinds.CANCEL_TRIGGERS: handle_cancel_and_end,
}

# Failures that are expected now and then and retried; others are logged with a traceback.
_EXPECTED = (RetryLater, GerritError, StoreError, StaleGerritData, TreeStatusError)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ManagerSettings:
    """How often the manager looks for work and how it backs off."""

    poll_interval_s: float = 1.0
    retry_base_s: float = 1.0
    retry_cap_s: float = 60.0
    """Cap of the backoff; also bounds how late a submission notices its deadline."""
    concurrency: int = 8
    """Runs handled at the same time."""
    max_steps_per_run: int = 20
    """Events handled for one Run in one go before others get their turn."""


class RunManager:
    """Handles due run events; `run_once` is one pass, `run_forever` the background loop."""

    def __init__(
        self,
        ctx: HandlerContext,
        settings: ManagerSettings | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.ctx = ctx
        self.settings = settings or ManagerSettings()
        self._rand = rand
        self._busy: set[str] = set()
        self._wake = asyncio.Event()

    def backoff(self, attempts: int) -> timedelta:
        """Delay before retry number `attempts + 1`: exponential, capped, with jitter in
        [50%, 100%] so retries of many events spread out but never come back at once."""
        base = min(self.settings.retry_cap_s, self.settings.retry_base_s * 2 ** min(attempts, 32))
        return timedelta(seconds=base * (0.5 + self._rand() / 2))

    def wake(self) -> None:
        """Look for due events now instead of at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Handle every event due now (and those they make due); returns how many."""
        now = self.ctx.clock()
        run_ids = await self.ctx.db.read(lambda conn: events.due_run_ids(conn, now))
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def one(run_id: str) -> int:
            async with limit:
                return await self._process_run(run_id)

        handled = await asyncio.gather(*(one(r) for r in run_ids if r not in self._busy))
        return sum(handled)

    async def run_forever(self) -> None:
        """Poll for due events and handle them in tasks until cancelled."""
        tasks: set[asyncio.Task[int]] = set()
        log.info("run manager started")
        try:
            while True:
                try:
                    await self._spawn_due(tasks)
                except StoreError as err:
                    log.error("run manager cannot read events: %s", err)
                except Exception:  # a bug must not stop the loop: the next poll retries
                    log.exception("run manager pass failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
                self._wake.clear()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("run manager stopped")

    async def _spawn_due(self, tasks: set[asyncio.Task[int]]) -> None:
        now = self.ctx.clock()
        run_ids = await self.ctx.db.read(lambda conn: events.due_run_ids(conn, now))
        for run_id in run_ids:
            if run_id in self._busy:
                continue
            if len(self._busy) >= self.settings.concurrency:
                break
            task = asyncio.create_task(self._process_run(run_id), name=f"run-manager {run_id}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _: self._wake.set())

    async def _process_run(self, run_id: str) -> int:
        if run_id in self._busy:
            return 0
        self._busy.add(run_id)
        try:
            handled = 0
            for _ in range(self.settings.max_steps_per_run):
                due = await self.ctx.db.read(
                    functools.partial(
                        events.due_events_for_run, run_id=run_id, now=self.ctx.clock()
                    )
                )
                if not due:
                    break
                await self._handle(due[0])
                handled += 1
            return handled
        except StoreError as err:
            log.error("run manager: Run %s: %s", run_id, err)
            return 0
        except Exception:  # the Run's events stay pending; the next pass retries them
            log.exception("run manager: Run %s failed", run_id)
            return 0
        finally:
            self._busy.discard(run_id)

    async def _handle(self, event: RunEvent) -> None:
        handler = HANDLERS.get(event.kind)
        if handler is None:
            log.error(
                "run event %d of Run %s has unknown kind %r", event.id, event.run_id, event.kind
            )
            await self._consume(event, f"unknown event kind {event.kind!r}")
            return
        # One span per action, linked to the RPC that caused it (its context was stored with
        # the event); Gerrit requests and store transactions of the action are its children.
        with telemetry.tracer().start_as_current_span(
            f"run_manager.{event.kind}",
            links=telemetry.links_from(event.trace_context),
            attributes={
                telemetry.ATTR_RUN_ID: event.run_id,
                "cv.run_event.id": event.id,
                "cv.run_event.attempt": event.attempts + 1,
            },
        ) as span:
            try:
                run = await self.ctx.db.read(lambda conn: runs_store.get_run(conn, event.run_id))
                if run is None:
                    await self._consume(event, "no such Run")
                    return
                span.set_attribute(telemetry.ATTR_LUCI_PROJECT, run.project)
                outcome = await handler(self.ctx, run, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                await self._retry(event, exc)
                return
            span.set_attribute("cv.run_event.outcome", type(outcome).__name__)
        if isinstance(outcome, Done):
            await self._consume(event, outcome.note)
        elif isinstance(outcome, Later):
            at = outcome.at
            await self.ctx.db.write(events.defer_event, event.id, at)
        elif not isinstance(outcome, Committed):
            raise TypeError(f"handler returned {outcome!r}")

    async def _consume(self, event: RunEvent, note: str) -> None:
        now = self.ctx.clock()
        await self.ctx.db.write(events.mark_event_done, event.id, now, note)

    async def _retry(self, event: RunEvent, exc: Exception) -> None:
        delay = self.backoff(event.attempts)
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, _EXPECTED):
            log.warning(
                "run event %s of Run %s failed (attempt %d), retry in %.1fs: %s",
                event.kind,
                event.run_id,
                event.attempts + 1,
                delay.total_seconds(),
                error,
            )
        else:
            log.exception("run event %s of Run %s failed unexpectedly", event.kind, event.run_id)
        not_before = self.ctx.clock() + delay
        await self.ctx.db.write(events.retry_event, event.id, not_before, error[:2000])


async def run_manager(ctx: HandlerContext, settings: ManagerSettings | None = None) -> None:
    """The background task: handle due run events until cancelled."""
    await RunManager(ctx, settings).run_forever()
