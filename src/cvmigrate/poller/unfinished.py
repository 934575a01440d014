"""The project's unfinished Runs, with what each froze of its CLs (read in a store reader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Final

from cvmigrate.poller.decide import FrozenCL
from cvmigrate.poller.plan import UnfinishedRun
from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.status import Status
from cvmigrate.store import reports
from cvmigrate.store import runs as runs_store
from cvmigrate.store.runs import StoredRunCL

__all__ = ["UNFINISHED_STATUSES", "frozen_cl", "load_unfinished_runs"]

UNFINISHED_STATUSES: Final = (
    Status.PENDING,
    Status.RUNNING,
    Status.WAITING_FOR_SUBMISSION,
    Status.SUBMITTING,
)
"""Every non-ended status: a CL in a Run with one of these gets no second Run (§3.1)."""

_NO_LIMIT: Final = 1_000_000


def frozen_cl(stored: StoredRunCL) -> FrozenCL:
    """What a Run froze of a CL, from its stored RunCL (decoded once per Run and cached)."""
    run_cl = migration_pb.RunCl.parse(stored.encoded.pb)
    gc = run_cl.gc
    if gc is None or run_cl.info is None:
        raise ValueError(f"RunCL {stored.cl_id} has no gc or info")
    return FrozenCL(
        cl_id=stored.cl_id,
        host=gc.host,
        change=gc.change,
        project=gc.project,
        patchset=gc.patchset,
        ref=run_cl.info.ref,
        trigger=stored.trigger,
    )


def load_unfinished_runs(
    conn: sqlite3.Connection, project: str, cached: Mapping[str, tuple[FrozenCL, ...]]
) -> list[UnfinishedRun]:
    """`project`'s unfinished Runs (current state), whether CQDaemon reported each verified,
    and their frozen CLs (taken from `cached` by Run ID when present: they never change)."""
    result = []
    for run in runs_store.list_runs(
        conn, project=project, statuses=UNFINISHED_STATUSES, limit=_NO_LIMIT
    ):
        frozen = cached.get(run.id)
        if frozen is None:
            frozen = tuple(frozen_cl(stored) for stored in runs_store.load_run_cls(conn, run.id))
        verified = reports.get_verified(conn, run.id) is not None
        result.append(UnfinishedRun(run=run, cls=frozen, verified=verified))
    return result
