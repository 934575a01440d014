"""`cancel_triggers`: cancel some CLs' triggers with a message each, then end the Run.

Queued by the decision that calls for it (ACTION_DRY_RUN_OK, ACTION_FAIL, a failed
submission), so a crash after the decision resumes the cancellation instead of deciding
again. Cancelling is idempotent (runs/cancel_triggers.py), so a retry after a partial pass
only re-reads the CLs already done. The Run ends in the same transaction that consumes the
event; if it held its project's submit slot, the next waiting Run is woken.

Outcomes per CL other than success (a newer patchset; votes CV may not remove) do not stop
the Run from ending with the decided status: CV kept retrying those forever, which helped
nobody. They are logged and kept in the event's `last_error`.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs import event_kinds
from cvmigrate.runs.cancel_triggers import CancelOutcome, CancelRequest, cancel_cl_triggers
from cvmigrate.runs.end import RunAlreadyEnded, end_run
from cvmigrate.runs.handler_context import Committed, Done, HandlerContext, Outcome
from cvmigrate.runs.mode import Mode
from cvmigrate.runs.model import Run
from cvmigrate.runs.run_cls import change_ids, decode_run_cls
from cvmigrate.runs.status import Status
from cvmigrate.runs.submit_queue import wake_next_waiter
from cvmigrate.store import cls as cls_store
from cvmigrate.store import events
from cvmigrate.store import runs as runs_store
from cvmigrate.store.events import RunEvent

__all__ = ["handle_cancel_and_end", "queue_cancel_and_end"]

log = logging.getLogger(__name__)


def queue_cancel_and_end(
    conn: sqlite3.Connection,
    run_id: str,
    messages: dict[int, str],
    status: Status,
    end_message: str,
    cause: RunEvent,
    now: datetime,
) -> None:
    """Queue the `cancel_triggers` event for the Run (payload in event_kinds.py)."""
    events.enqueue_event(
        conn,
        run_id,
        event_kinds.CANCEL_TRIGGERS,
        now,
        payload={
            "messages": {str(cl_id): text for cl_id, text in messages.items()},
            "status": int(status),
            "end_message": end_message,
        },
        trace_context=cause.trace_context,
    )


def _latest_updated(record: cls_store.CLRecord | None) -> datetime | None:
    if record is None or record.snapshot is None:
        return None
    info = migration_pb.RunCl.parse(record.snapshot.pb).info
    return info.updated if info else None


async def handle_cancel_and_end(ctx: HandlerContext, run: Run, event: RunEvent) -> Outcome:
    """Cancel the listed CLs' triggers, then end the Run (module docstring)."""
    if run.is_ended:
        return Done(f"Run already {run.status.name}")
    messages = {int(cl_id): text for cl_id, text in event.payload["messages"].items()}
    status = Status(event.payload["status"])

    def load(
        conn: sqlite3.Connection,
    ) -> tuple[list[runs_store.StoredRunCL], dict[int, cls_store.CLRecord]]:
        return runs_store.load_run_cls(conn, run.id), cls_store.load_cl_records(conn, messages)

    stored, records = await ctx.db.read(load)
    run_cls = decode_run_cls(stored)
    all_changes = change_ids(run_cls)
    tag = Mode(run.mode).gerrit_tag
    problems = []
    for cl in run_cls:  # Run.CLs order; sequential keeps Gerrit's load and logs simple
        if cl.cl_id not in messages:
            continue
        record = records.get(cl.cl_id)
        outcome = await cancel_cl_triggers(
            ctx.gerrit,
            CancelRequest(
                host=cl.host,
                project=cl.info.project,
                number=cl.number,
                revision=cl.revision,
                patchset=cl.patchset,
                latest_patchset=record.patchset if record else cl.patchset,
                latest_updated=_latest_updated(record),
                trigger=cl.trigger,
                message=messages[cl.cl_id],
                tag=tag,
                run_cls=all_changes,
            ),
        )
        if outcome is not CancelOutcome.DONE:
            problems.append(f"{cl.host}/{cl.number}: {outcome}")
    if problems:
        log.warning("Run %s: triggers not cancelled on %s", run.id, ", ".join(problems))
    now = ctx.clock()
    await ctx.db.write(_end_and_consume, run, status, event, now, "; ".join(problems))
    return Committed()


def _end_and_consume(
    conn: sqlite3.Connection, run: Run, status: Status, event: RunEvent, now: datetime, note: str
) -> None:
    """(The writer process) end the Run unless it has ended, wake the next Run waiting for
    the submit slot it held, and consume the event."""
    try:
        ended = end_run(
            conn,
            run,
            status,
            now,
            end_message=event.payload.get("end_message", ""),
            trace_context=event.trace_context,
        )
    except RunAlreadyEnded:
        pass
    else:
        if run.status is Status.SUBMITTING:
            wake_next_waiter(conn, ended.project, now)
    events.mark_event_done(conn, event.id, now, note)
