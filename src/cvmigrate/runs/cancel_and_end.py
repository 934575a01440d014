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
from cvmigrate.runs.cancel_triggers import CancelOutcome, CancelRequest, cancel_cl_triggers
from cvmigrate.runs.commits import end_and_consume, queue_cancel_and_end
from cvmigrate.runs.handler_context import Committed, Done, HandlerContext, Outcome
from cvmigrate.runs.mode import Mode
from cvmigrate.runs.model import Run
from cvmigrate.runs.run_cls import change_ids, decode_run_cls
from cvmigrate.runs.status import Status
from cvmigrate.store import cls as cls_store
from cvmigrate.store import runs as runs_store
from cvmigrate.store.events import RunEvent

__all__ = ["handle_cancel_and_end", "queue_cancel_and_end"]

log = logging.getLogger(__name__)


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
    await ctx.db.write(end_and_consume, run, status, event, now, "; ".join(problems))
    return Committed()
