"""The per-project submit queue: one submitting Run at a time, FIFO, rate limited (§5.2).

The queue's state is derived from storage (store/submit_queue.py): the project's SUBMITTING
Run holds the slot; WAITING_FOR_SUBMISSION Runs wait in the order they became ready. The
rate limit is CV's later `nextSubmissionETA`: at most `max_burst` Runs finish submitting
within any `burst_delay`; a Run that would exceed it waits until the oldest of the last
`max_burst` submissions is `burst_delay` old. (At the reference commit the limit was still
a TODO in CV; config groups carried the options all along.)
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from cvmigrate.runs import event_kinds
from cvmigrate.runs.status import Status
from cvmigrate.store import events
from cvmigrate.store.submit_queue import QueueEntry, submit_queue

__all__ = [
    "DEFAULT_SUBMIT_OPTIONS",
    "SubmitOptions",
    "may_acquire",
    "next_submission_eta",
    "wake_next_waiter",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOptions:
    """A config group's submission settings."""

    max_burst: int = 4
    """Runs that may finish submitting within `burst_delay_s` (0: no limit)."""
    burst_delay_s: float = 60.0
    tree_status_url: str = ""
    """Tree status app URL fetched before submitting; empty: no tree check."""


DEFAULT_SUBMIT_OPTIONS: Final = SubmitOptions()


def next_submission_eta(
    history: Sequence[datetime], options: SubmitOptions, now: datetime
) -> datetime:
    """When the next submission may start (`now` if it may start at once).

    `history` holds the project's recent submission times, oldest first.
    """
    if options.max_burst <= 0 or options.burst_delay_s <= 0 or len(history) < options.max_burst:
        return now
    delay = timedelta(seconds=options.burst_delay_s)
    oldest_in_burst = sorted(history)[-options.max_burst]
    if oldest_in_burst > now - delay:
        return oldest_in_burst + delay
    return now


def may_acquire(queue: Sequence[QueueEntry], run_id: str) -> bool:
    """True if `run_id` may take the slot: nobody else holds it and it is first in line.

    `queue` lists the holder (SUBMITTING) first, then the waitlist in order.
    """
    return bool(queue) and queue[0].run_id == run_id


def wake_next_waiter(conn: sqlite3.Connection, project: str, now: datetime) -> str | None:
    """Release: make the first waiting Run's `submit` event due now (CV notified it).

    Call it in the transaction that ends the Run holding the slot. Returns the woken Run.
    """
    for entry in submit_queue(conn, project, event_kinds.SUBMIT):
        if entry.status is Status.WAITING_FOR_SUBMISSION:
            events.wake_events(conn, entry.run_id, event_kinds.SUBMIT, now)
            return entry.run_id
    return None
