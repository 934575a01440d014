"""Runs over the fake Gerrit's changes, stored the way the poller stores them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fakes.gerrit import FakeGerrit
from fakes.gerrit.render import render_change

from cvmigrate.changelist.snapshot import Dep, DepKind, Snapshot, encode_snapshot
from cvmigrate.changelist.trigger import AdditionalMode, find_trigger
from cvmigrate.gerrit.convert import change_info_from_json, trim_change_info
from cvmigrate.proto import gerrit as gerrit_pb
from cvmigrate.runs.create import NewRunCL, new_run
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import cls as cls_store
from cvmigrate.store import runs as runs_store

__all__ = ["QUICK_DRY_RUN", "FakeChanges", "fake_changes", "snapshot_info", "store_run"]

SNAPSHOT_OPTIONS = (
    "CURRENT_REVISION",
    "CURRENT_COMMIT",
    "DETAILED_LABELS",
    "DETAILED_ACCOUNTS",
    "MESSAGES",
    "SUBMITTABLE",
)
QUICK_DRY_RUN = AdditionalMode(
    name="QUICK_DRY_RUN", cq_label_value=1, triggering_label="Quick-Run", triggering_value=1
)


def snapshot_info(fake: FakeGerrit, number: int) -> gerrit_pb.ChangeInfo:
    """CV's trimmed snapshot of the fake's change, as the poller would take it."""
    data = render_change(fake, fake.change(number), SNAPSHOT_OPTIONS)
    return trim_change_info(change_info_from_json(data))


@dataclass(frozen=True)
class FakeChanges:
    """The fake's changes as store_run stores them: its host and the snapshot of each
    change, in order. Picklable, unlike the fake (Database.write sends its arguments to the
    writer process)."""

    host: str
    infos: tuple[tuple[int, gerrit_pb.ChangeInfo], ...]


def fake_changes(fake: FakeGerrit, numbers: Sequence[int]) -> FakeChanges:
    """CV's snapshots of the fake's changes `numbers`, taken now, for store_run."""
    return FakeChanges(fake.host, tuple((n, snapshot_info(fake, n)) for n in numbers))


def store_run(
    conn: sqlite3.Connection,
    changes: FakeChanges,
    *,
    project: str = "chromium",
    hard_deps: dict[int, Sequence[int]] | None = None,
    status: Status = Status.RUNNING,
    now: datetime | None = None,
) -> Run:
    """Store CL snapshots of the fake's changes (`fake_changes(fake, numbers)`) and a Run
    over them; `hard_deps` maps a change number to the numbers of its HARD deps (e.g. its
    git parent). Use it as `db.write(store_run, fake_changes(fake, numbers), ...)`."""
    now = now or datetime.now(UTC)
    cl_ids = {n: cls_store.get_or_create_clid(conn, changes.host, n, now) for n, _ in changes.infos}
    new_cls = []
    for number, info in changes.infos:
        trigger = find_trigger(info, [QUICK_DRY_RUN])
        assert trigger is not None, f"change {number} has no CQ vote"
        patchset = info.revisions[info.current_revision].number
        deps = tuple(
            Dep(cl_id=cl_ids[d], kind=DepKind.HARD) for d in (hard_deps or {}).get(number, ())
        )
        snapshot = Snapshot(
            host=changes.host,
            info=info,
            patchset=patchset,
            min_equivalent_patchset=patchset,
            files=("src/main.cc",),
            deps=tuple(sorted(deps, key=lambda d: d.cl_id)),
        )
        cl_id = cl_ids[number]
        cls_store.put_cl_snapshot(conn, cl_id, patchset, encode_snapshot(cl_id, snapshot), now)
        new_cls.append(NewRunCL(cl_id=cl_id, snapshot=snapshot, trigger=trigger))
    run, stored = new_run(
        project=project, config_group="main", cls=new_cls, created_at=now, status=status
    )
    runs_store.insert_run(conn, run, stored, now)
    return run
