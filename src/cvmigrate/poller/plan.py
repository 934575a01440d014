"""Planning one CL: its config group, trigger, cancel reasons and the Run to propose (pure).

`plan_cl` looks at a freshly fetched CL and the project's unfinished Runs as last read,
and says what to write: the Runs its new state cancels (`decide.cancel_reason`) and, when
it is triggered in a config group and no unfinished Run will remain on it, the single-CL
Run to create (spec §11.1; CV's "single-CL mode"). `build_commit` turns a plan plus
CLIDs into the `CLCommit` the transaction applies; it encodes snapshots, so it is kept
off the event loop by the caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from cvmigrate.changelist.fetch import FetchedCL
from cvmigrate.changelist.snapshot import Dep, Snapshot, encode_snapshot
from cvmigrate.changelist.trigger import Trigger, find_trigger
from cvmigrate.config import ProjectConfigGroup, ProjectSettings
from cvmigrate.poller.commit import CLCommit, SnapshotWrite
from cvmigrate.poller.config_groups import ConfigGroupMatcher, additional_modes
from cvmigrate.poller.decide import CLState, FrozenCL, RunAction, cancel_reason, decide_run_action
from cvmigrate.runs.attempt_key import TriggeredCL, compute_attempt_key
from cvmigrate.runs.create import NewRunCL, new_run
from cvmigrate.runs.model import Run
from cvmigrate.store.runs import StoredRunCL

__all__ = ["CLPlan", "Key", "UnfinishedRun", "build_commit", "plan_cl"]

Key = tuple[str, int]
"""(Gerrit host, change number)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UnfinishedRun:
    """A Run that has not ended, with what it froze of its CLs."""

    run: Run
    cls: tuple[FrozenCL, ...]
    verified: bool = False
    """CQDaemon reported it verified: the run manager owns its end."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CLPlan:
    """What the poller intends for one fetched CL."""

    cl: FetchedCL
    group: ProjectConfigGroup | None
    trigger: Trigger | None
    cancel_reasons: Mapping[str, str]
    """Run ID → reason, only for Runs the reason would actually act on."""
    attempt_key: str | None
    """The attempt key of the CL's trigger (None when not triggered in a config group)."""
    propose: bool
    """Whether to create a new Run for that trigger."""

    @property
    def has_actions(self) -> bool:
        return bool(self.cancel_reasons) or self.propose


def _attempt_key(cl: FetchedCL, trigger: Trigger) -> str:
    return compute_attempt_key(
        [
            TriggeredCL(
                host=cl.host,
                change=cl.number,
                current_revision=cl.info.current_revision,
                trigger_time=trigger.time,
                mode=trigger.mode,
                gerrit_account_id=trigger.gerrit_account_id,
            )
        ]
    )


def plan_cl(
    cl: FetchedCL,
    *,
    project: ProjectSettings,
    matcher: ConfigGroupMatcher,
    runs: Sequence[UnfinishedRun],
    declined: frozenset[str] = frozenset(),
) -> CLPlan:
    """Plan for `cl` given its unfinished Runs in `runs` (others are ignored).

    `declined` holds attempt keys the store refused before (that trigger already got a
    verdict), which are not proposed again.
    """
    group = matcher.match(cl.host, cl.info.project, cl.info.ref)
    trigger = find_trigger(cl.info, additional_modes(group)) if group is not None else None
    state = CLState(
        patchset=cl.patchset,
        ref=cl.info.ref,
        config_group=group.name if group is not None else None,
        trigger=trigger,
    )
    reasons: dict[str, str] = {}
    blocking = False
    for unfinished in runs:
        frozen = [f for f in unfinished.cls if (f.host, f.change) == cl.key]
        if not frozen:
            continue
        reason = next(
            (r for f in frozen if (r := cancel_reason(f, state, unfinished.run.config_group))),
            None,
        )
        # The transaction re-checks all of this against the state it reads.
        action = decide_run_action(
            unfinished.run, reason, in_charge=project.in_charge, verified=unfinished.verified
        )
        if action is not RunAction.NONE and reason is not None:
            reasons[unfinished.run.id] = reason
        if action is not RunAction.CANCEL:
            blocking = True
    attempt_key = None
    if group is not None and trigger is not None:
        attempt_key = _attempt_key(cl, trigger)
    return CLPlan(
        cl=cl,
        group=group,
        trigger=trigger,
        cancel_reasons=reasons,
        attempt_key=attempt_key,
        propose=attempt_key is not None and not blocking and attempt_key not in declined,
    )


def _deps(cl: FetchedCL, clids: Mapping[Key, int], exclude: frozenset[Key]) -> tuple[Dep, ...]:
    return tuple(
        Dep(cl_id=clids[(ref.host, ref.change)], kind=ref.kind)
        for ref in cl.dep_refs
        if (ref.host, ref.change) not in exclude
    )


def _snapshot_write(cl_id: int, snapshot: Snapshot) -> SnapshotWrite:
    return SnapshotWrite(
        cl_id=cl_id,
        patchset=snapshot.patchset,
        encoded=encode_snapshot(cl_id, snapshot),
        deps=tuple((dep.cl_id, int(dep.kind)) for dep in snapshot.deps),
    )


def build_commit(
    plan: CLPlan,
    *,
    project: ProjectSettings,
    clids: Mapping[Key, int],
    dep_cls: Sequence[FetchedCL],
    dropped_deps: frozenset[Key],
    created_at: datetime,
) -> CLCommit:
    """The transaction input for `plan`: snapshots of the CL and of `dep_cls` (its fetched
    dependencies), and the new Run with its frozen CL if one is proposed.

    `dropped_deps` are dependencies that cannot be fetched (gone, no access, unknown host):
    a snapshot that names them would break FetchActiveRuns' fyi_deps guarantee (§4.7).
    """
    cl_id = clids[plan.cl.key]
    snapshot = plan.cl.snapshot(_deps(plan.cl, clids, dropped_deps))
    writes = [_snapshot_write(cl_id, snapshot)]
    for dep in dep_cls:
        # A dependency's own deps are recorded as known; they are not fetched (depth 1).
        writes.append(_snapshot_write(clids[dep.key], dep.snapshot(_deps(dep, clids, frozenset()))))
    run = None
    run_cls: tuple[StoredRunCL, ...] = ()
    if plan.propose:
        assert plan.group is not None and plan.trigger is not None
        run, stored = new_run(
            project=project.name,
            config_group=plan.group.name,
            cls=[NewRunCL(cl_id=cl_id, snapshot=snapshot, trigger=plan.trigger)],
            created_at=created_at,
        )
        run_cls = tuple(stored)
    return CLCommit(
        project=project.name,
        in_charge=project.in_charge,
        cl_id=cl_id,
        snapshots=tuple(writes),
        cancel_reasons=dict(plan.cancel_reasons),
        new_run=run,
        new_run_cls=run_cls,
    )
