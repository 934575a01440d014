"""CQDaemon's loop (spec §8.2, cqdfake) played against a running service and the fake Gerrit.

One `loop_once()` is one iteration: fetch candidates, reconcile the active set (start new
attempts, finish vanished ones), report the active set, then finalize the attempts the test
gave a verdict (`verdicts[attempt_key] = AttemptStatus.SUCCESS`, …). RPCs go over pRPC in a
worker thread, so the fake Gerrit (served by this event loop) keeps answering the service.

When CQDaemon is in charge it finds its own candidates in the fake Gerrit and computes their
attempt keys itself (spec §3.4), independently of the service.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

from fakes.gerrit import FakeGerrit
from support import Reply, call

from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.runs.attempt_key import TriggeredCL, compute_attempt_key

__all__ = ["CQDaemonPlayer", "attempt_key_of"]

Status = bigquery_pb.AttemptStatus
Action = migration_pb.ReportVerifiedRunRequestAction
_MODES = {1: bigquery_pb.Mode.DRY_RUN, 2: bigquery_pb.Mode.FULL_RUN}


def attempt_key_of(fake: FakeGerrit, number: int) -> tuple[str, bigquery_pb.Mode] | None:
    """CQDaemon's own attempt key for a change's CQ vote (None: not triggered)."""
    change = fake.change(number)
    votes = [v for v in change.current.votes.get("Commit-Queue", {}).values() if v.value > 0]
    if change.status != "NEW" or not votes:
        return None
    value = min(max(v.value for v in votes), 2)
    vote = min((v for v in votes if min(v.value, 2) == value), key=lambda v: v.date)
    mode = _MODES[value]
    key = compute_attempt_key(
        [
            TriggeredCL(
                host=fake.host,
                change=number,
                current_revision=change.current.revision,
                trigger_time=max(vote.date, change.current.created),
                mode=mode.name,
                gerrit_account_id=vote.account_id,
            )
        ]
    )
    return key, mode


@dataclasses.dataclass
class CQDaemonPlayer:
    base_url: str
    project: str
    cv_in_charge: bool
    fake: FakeGerrit
    gerrit_project: str = "chromium/src"
    active: dict[str, migration_pb.ReportedRun] = dataclasses.field(default_factory=dict)
    verdicts: dict[str, bigquery_pb.AttemptStatus] = dataclasses.field(default_factory=dict)
    statuses: dict[str, migration_pb.FetchRunStatusResponse] = dataclasses.field(
        default_factory=dict
    )
    log: list[tuple[str, Any]] = dataclasses.field(default_factory=list)
    revisions: dict[str, dict[int, str]] = dataclasses.field(default_factory=dict)

    async def rpc(self, method: str, request: Any) -> Reply:
        reply = await asyncio.to_thread(call, self.base_url, method, request)
        self.log.append((method, reply))
        return reply

    async def ok(self, method: str, request: Any) -> Any:
        reply = await self.rpc(method, request)
        assert reply.code is Code.OK, (method, reply)
        return reply.message

    # --- step A ---------------------------------------------------------------------------

    async def _cv_candidates(self) -> dict[str, migration_pb.ReportedRun]:
        response = await self.ok(
            "FetchActiveRuns", migration_pb.FetchActiveRunsRequest(luci_project=self.project)
        )
        candidates = {}
        for run in response.active_runs:
            ids = {cl.id for cl in run.cls} | {dep.id for dep in run.fyi_deps}
            for cl in run.cls:  # cqdfake's self-check (spec §4.7)
                assert all(dep.id in ids for dep in cl.deps), run
            key = run.id.rsplit("-", 1)[1]
            self.revisions[key] = {cl.gc.change: cl.info.current_revision for cl in run.cls}
            candidates[key] = migration_pb.ReportedRun(
                id=run.id,
                attempt=bigquery_pb.Attempt(
                    key=key,
                    luci_project=self.project,
                    gerrit_changes=[cl.gc for cl in run.cls],
                    status=Status.STARTED,
                ),
            )
        return candidates

    async def _own_candidates(self) -> dict[str, migration_pb.ReportedRun]:
        candidates = {}
        for number, change in sorted(self.fake.changes.items()):
            found = (
                attempt_key_of(self.fake, number) if change.project == self.gerrit_project else None
            )
            if found is None:
                continue
            key, mode = found
            gc = bigquery_pb.GerritChange(
                host=self.fake.host,
                project=change.project,
                change=number,
                patchset=change.current.number,
                earliest_equivalent_patchset=change.current.number,
                mode=mode,
            )
            candidates[key] = migration_pb.ReportedRun(
                attempt=bigquery_pb.Attempt(
                    key=key, luci_project=self.project, gerrit_changes=[gc], status=Status.STARTED
                )
            )
        excluded = await self.ok(
            "FetchExcludedCLs", migration_pb.FetchExcludedCLsRequest(luci_project=self.project)
        )
        skip = {(cl.host, cl.change) for cl in excluded.cls}
        return {
            key: run
            for key, run in candidates.items()
            if not any((gc.host, gc.change) in skip for gc in run.attempt.gerrit_changes)
        }

    # --- steps B–D ------------------------------------------------------------------------

    async def loop_once(self) -> None:
        """One iteration of spec §8.2."""
        if self.cv_in_charge:
            candidates = await self._cv_candidates()
        else:
            candidates = await self._own_candidates()
        for key in [key for key in self.active if key not in candidates]:
            attempt = self.active[key]
            if not self.cv_in_charge:
                attempt.attempt.status = Status.ABORTED
                await self._finalize(key)
                continue
            reply = await self.rpc(
                "FetchRunStatus",
                migration_pb.FetchRunStatusRequest(
                    attempt_key=key, cv_id=attempt.id, luci_project=self.project
                ),
            )
            if reply.code is not Code.OK:
                continue  # not final yet: retried next loop
            self.statuses[key] = reply.message
            await self._finalize(key)  # still STARTED: ACTION_UNSPECIFIED (cqdfake's quirk)
        for key, candidate in candidates.items():
            if key in self.active:
                continue
            await self._start(key, candidate)
        await self.ok("ReportRuns", migration_pb.ReportRunsRequest(runs=list(self.active.values())))
        for key in [key for key in self.active if key in self.verdicts]:
            self.active[key].attempt.status = self.verdicts.pop(key)
            await self._finalize(key)

    async def _start(self, key: str, candidate: migration_pb.ReportedRun) -> None:
        message = f'Run "{candidate.id}" | Attempt "{key}": CQ is trying da patch'
        for gc in candidate.attempt.gerrit_changes:
            if self.cv_in_charge:
                await self.ok(
                    "PostGerritMessage",
                    migration_pb.PostGerritMessageRequest(
                        project=self.project,
                        attempt_key=key,
                        host=gc.host,
                        change=gc.change,
                        # cqdfake sent "badly-faked-revision" to CV's in-memory fake; a
                        # faithful Gerrit answers 404 to that, so send what CQDaemon did.
                        revision=self.revisions[key][gc.change],
                        comment=message,
                        send_email=True,
                    ),
                )
            else:
                self.fake.add_message(gc.change, message, author=1000)
        self.active[key] = candidate

    async def _finalize(self, key: str) -> None:
        run = self.active.pop(key)
        attempt = run.attempt
        attempt.end_time = datetime.now(UTC)
        attempt.substatus = bigquery_pb.AttemptSubstatus.NO_SUBSTATUS
        message = (
            f'Run "{run.id}" | Attempt "{key}" finished with {attempt.status.name}'
            f" {attempt.substatus.name}."
        )
        full_run = attempt.gerrit_changes[0].mode == bigquery_pb.Mode.FULL_RUN
        if self.cv_in_charge:
            action = Action.UNSPECIFIED
            if attempt.status in (Status.ABORTED, Status.FAILURE, Status.INFRA_FAILURE):
                action = Action.FAIL
            elif attempt.status == Status.SUCCESS:
                action = Action.SUBMIT if full_run else Action.DRY_RUN_OK
            await self.ok(
                "ReportVerifiedRun",
                migration_pb.ReportVerifiedRunRequest(
                    run=run, final_message=message, action=action
                ),
            )
            return
        if attempt.status == Status.SUCCESS and full_run:
            for gc in attempt.gerrit_changes:
                self.fake.set_status(gc.change, "MERGED")
                gc.submit_status = bigquery_pb.GerritChangeSubmitStatus.SUCCESS
        elif attempt.status != Status.ABORTED:
            for gc in attempt.gerrit_changes:
                for account in list(
                    self.fake.change(gc.change).current.votes.get("Commit-Queue", {})
                ):
                    self.fake.vote(gc.change, "Commit-Queue", account, 0, post_message=False)
                self.fake.add_message(gc.change, message, author=1000)
        await self.ok("ReportFinishedRun", migration_pb.ReportFinishedRunRequest(run=run))
