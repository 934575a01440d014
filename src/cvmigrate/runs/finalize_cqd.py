"""`cqd_finished`: end a Run from CQDaemon's ReportFinishedRun data (spec §4.2).

CQDaemon was in charge and already acted in Gerrit, so CV makes no Gerrit calls:
- an ended Run consumes the event; any other status than RUNNING is an error (retried);
- exactly one FinishedCQDRun must be bound to the Run (0 or more → error, retried);
- status: ABORTED → CANCELLED; FAILURE, INFRA_FAILURE → FAILED; SUCCESS → SUCCEEDED, and
  when the first reported change is a FULL_RUN the Submission is rebuilt from the report
  (every reported change matched to a Run CL by host and change, in report order; those with
  submit_status SUCCESS submitted) and the Run is FAILED unless all were submitted;
  STARTED or unspecified → error (retried: CQDaemon's next report replaces it);
- FinalizedByCQD = true, end time = the attempt's `end_time`.

One deliberate difference: CV used `end_time` unguarded, so a report without one ended the
Run at the Unix epoch; we use the time of finalization instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.commits import finalize_cqd_run
from cvmigrate.runs.handler_context import Committed, Done, HandlerContext, Outcome, RetryLater
from cvmigrate.runs.model import Run, Submission
from cvmigrate.runs.run_cls import decode_run_cls
from cvmigrate.runs.status import Status
from cvmigrate.store import reports
from cvmigrate.store import runs as runs_store
from cvmigrate.store.events import RunEvent

__all__ = ["FinalizeError", "decide_cqd_finished", "handle_cqd_finished"]

AttemptStatus = bigquery_pb.AttemptStatus


class FinalizeError(ValueError):
    """CQDaemon's report cannot finalize the Run (yet)."""


_STATUS = {
    AttemptStatus.ABORTED: Status.CANCELLED,
    AttemptStatus.FAILURE: Status.FAILED,
    AttemptStatus.INFRA_FAILURE: Status.FAILED,
    AttemptStatus.SUCCESS: Status.SUCCEEDED,
}


def decide_cqd_finished(
    run_cls: Sequence[tuple[int, str, int]], attempt: bigquery_pb.Attempt
) -> tuple[Status, Submission | None]:
    """The final status and, for a submitted full run, the Submission (module docstring).

    `run_cls` are the Run's (CLID, host, change). Raises FinalizeError.
    """
    try:
        status = _STATUS[AttemptStatus(attempt.status)]
    except (KeyError, ValueError):
        raise FinalizeError(f"unexpected status of FinishedCQDRun: {attempt.status!r}") from None
    changes = attempt.gerrit_changes
    if status is not Status.SUCCEEDED or not changes:
        return status, None
    if changes[0].mode != bigquery_pb.Mode.FULL_RUN:
        return status, None
    by_change = {(host, change): cl_id for cl_id, host, change in run_cls}
    cls, submitted = [], []
    for change in changes:
        cl_id = by_change.get((change.host, change.change))
        if cl_id is None:
            raise FinalizeError(
                f"reported change {change.host}/{change.change} is not one of the Run's CLs"
            )
        cls.append(cl_id)
        if change.submit_status == bigquery_pb.GerritChangeSubmitStatus.SUCCESS:
            submitted.append(cl_id)
    submission = Submission(cls=tuple(cls), submitted_cls=tuple(submitted))
    # CQDaemon's SUCCESS does not promise that every CL of a full run was submitted.
    return (Status.SUCCEEDED if len(submitted) == len(cls) else Status.FAILED), submission


async def handle_cqd_finished(ctx: HandlerContext, run: Run, event: RunEvent) -> Outcome:
    """Finalize the Run from the report bound to it (module docstring)."""
    if run.is_ended:
        return Done(f"Run already {run.status.name}")
    if run.status is not Status.RUNNING:
        raise RetryLater(f"expected RUNNING status, got {run.status.name}")

    def load(conn: sqlite3.Connection) -> tuple[list[bytes], list[runs_store.StoredRunCL]]:
        return reports.finished_payloads_for_run(conn, run.id), runs_store.load_run_cls(
            conn, run.id
        )

    payloads, stored = await ctx.db.read(load)
    if len(payloads) != 1:
        raise RetryLater(f"expected 1 FinishedCQDRun for the Run, found {len(payloads)}")
    attempt = migration_pb.ReportedRun.parse(payloads[0]).attempt or bigquery_pb.Attempt()
    run_cls = [(cl.cl_id, cl.host, cl.number) for cl in decode_run_cls(stored)]
    try:
        status, submission = decide_cqd_finished(run_cls, attempt)
    except FinalizeError as err:
        raise RetryLater(str(err)) from err
    now = ctx.clock()

    end_time = attempt.end_time or now
    if not await ctx.db.write(finalize_cqd_run, run.id, status, submission, end_time, event, now):
        raise RetryLater("the Run left RUNNING while finalizing")
    return Committed()
