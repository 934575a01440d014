"""Making a new Run from triggered CL snapshots (decide only: the caller stores it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from cvmigrate.changelist.snapshot import Snapshot, encode_run_cl
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.runs.attempt_key import TriggeredCL, compute_attempt_key
from cvmigrate.runs.mode import Mode
from cvmigrate.runs.model import Run
from cvmigrate.runs.run_id import make_run_id
from cvmigrate.runs.status import Status
from cvmigrate.store.runs import StoredRunCL

__all__ = ["NewRunCL", "new_run"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NewRunCL:
    """One triggered CL going into a new Run."""

    cl_id: int
    snapshot: Snapshot
    trigger: Trigger


def new_run(
    *,
    project: str,
    config_group: str,
    cls: Sequence[NewRunCL],
    created_at: datetime,
    status: Status = Status.RUNNING,
) -> tuple[Run, list[StoredRunCL]]:
    """The Run (ID and attempt key per spec §3.3–3.4) and its frozen, encoded CLs.

    All CLs must share one mode; `created_at` is the wall-clock creation instant.
    """
    if not cls:
        raise ValueError("a Run needs at least one CL")
    modes = {cl.trigger.mode for cl in cls}
    if len(modes) != 1:
        raise ValueError(f"CLs of one Run must share a mode, got {sorted(modes)}")
    mode = Mode(modes.pop())
    attempt_key = compute_attempt_key(
        [
            TriggeredCL(
                host=cl.snapshot.host,
                change=cl.snapshot.info.number,
                current_revision=cl.snapshot.info.current_revision,
                trigger_time=cl.trigger.time,
                mode=cl.trigger.mode,
                gerrit_account_id=cl.trigger.gerrit_account_id,
            )
            for cl in cls
        ]
    )
    run_id = make_run_id(project, created_at, attempt_key)
    run = Run(
        id=str(run_id),
        project=project,
        attempt_key=attempt_key,
        mode=mode.value,
        status=status,
        config_group=config_group,
        create_time=max(cl.trigger.time for cl in cls),
        start_time=created_at if status is Status.RUNNING else None,
        cl_ids=tuple(cl.cl_id for cl in cls),
    )
    stored = [
        StoredRunCL(
            trigger=cl.trigger,
            dep_ids=tuple(dep.cl_id for dep in cl.snapshot.deps),
            encoded=encode_run_cl(cl.cl_id, cl.snapshot, cl.trigger, mode.bigquery_mode),
        )
        for cl in cls
    ]
    return run, stored
