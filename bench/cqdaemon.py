"""A simulated CQDaemon for one LUCI project, playing the loop of spec §8.2 with CV in charge.

One iteration:

A. FetchActiveRuns{luci_project}; every ActiveRun becomes a candidate attempt
   (id, key = attempt key of the Run ID, gerrit_changes = the CLs' `gc`, STARTED), and the
   cqdfake self-check runs: every dep must be among `cls` or `fyi_deps`.
B. Each active attempt that is no longer a candidate: FetchRunStatus{attempt_key, cv_id,
   luci_project}; OK → finalize it (ReportVerifiedRun with ACTION_UNSPECIFIED, the cqdfake
   quirk of §8.2), FAILED_PRECONDITION → keep it for the next loop. New candidates join the
   active set (the PostGerritMessage "CQ is trying da patch" is left out: this build answers
   it UNIMPLEMENTED until the Gerrit client lands). Then ReportRuns{all active attempts}.
C. Every `verify_every`-th iteration one attempt passes or fails verification and is
   finalized: ReportVerifiedRun with ACTION_SUBMIT / ACTION_DRY_RUN_OK / ACTION_FAIL.
   A project verifies at most `verify_budget` Runs over the whole benchmark, so its
   FetchActiveRuns answer keeps (nearly) its seeded size.

Between iterations CV "cancels" one Run: an ended Run from the project's pool is added to
the active set, as if CQDaemon had picked it up before CV ended it; the next iteration
finds it gone and asks FetchRunStatus. A pool Run is used once, so every ReportVerifiedRun
is a first report (a durable write), never a no-op repeat. (Against the bare endpoint,
which stores nothing, the pool is recycled so that the mix stays the same.)
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from bench.client import FAILED_PRECONDITION, Recorder, RpcClient
from cvmigrate.rpc.codec import encode_length_delimited

if TYPE_CHECKING:
    from types import SimpleNamespace

    from bench.seed import TargetRun

__all__ = ["Daemon", "DaemonStats", "reported_run"]

_SUCCESS = 2
_FAILURE = 4
_STARTED = 1
_ACTION_UNSPECIFIED = 0
_ACTION_SUBMIT = 1
_ACTION_DRY_RUN_OK = 2
_ACTION_FAIL = 3
_FULL_RUN = 2


@dataclasses.dataclass
class DaemonStats:
    """What the daemons saw, summed over iterations."""

    iterations: int = 0
    failed_iterations: int = 0
    candidates: int = 0
    dep_violations: int = 0
    finalized_vanished: int = 0
    verified: int = 0
    pool_exhausted: int = 0


def reported_run(pb: SimpleNamespace, target: TargetRun, host: str, status: int) -> Any:
    """A `migration.ReportedRun` for a seeded Run, as CQDaemon would build it."""
    mode = _FULL_RUN if target.mode == "FULL_RUN" else 1
    return pb.migration.ReportedRun(
        id=target.run_id,
        attempt=pb.bigquery.Attempt(
            key=target.attempt_key,
            luci_project=target.project,
            status=status,
            gerrit_changes=[
                pb.bigquery.GerritChange(
                    host=host,
                    project="chromium/src",
                    change=change,
                    patchset=3,
                    earliest_equivalent_patchset=2,
                    mode=mode,
                )
                for change in target.changes
            ],
        ),
    )


class Daemon:
    """One project's CQDaemon; its active set lives as long as the object."""

    def __init__(
        self,
        project: str,
        pb: SimpleNamespace,
        pool: list[TargetRun],
        host: str,
        stats: DaemonStats,
        *,
        verify_every: int = 20,
        verify_budget: int = 5,
        recycle: bool = False,
    ) -> None:
        self.project = project
        self.pb = pb
        self.pool = list(pool)
        self._seeded_pool = list(pool) if recycle else []
        self.host = host
        self.stats = stats
        self.verify_every = verify_every
        self.verify_budget = verify_budget
        self.active: dict[str, Any] = {}
        """attempt key → ReportedRun (STARTED)."""
        self.lock = asyncio.Lock()
        self._fetch = pb.migration.FetchActiveRunsRequest(luci_project=project).SerializeToString()
        self._count = 0
        # The load generator's own costs, kept small so that it can outrun the bare endpoint:
        # an unchanged FetchActiveRuns answer is parsed (and self-checked) once, and each
        # active attempt is encoded once for all the ReportRuns that list it.
        self._last_answer: tuple[bytes, dict[str, Any]] = (b"", {})
        self._encoded: dict[str, bytes] = {}

    async def iteration(
        self, client: RpcClient, recorder: Recorder, intended: float | None = None
    ) -> bool:
        """One loop (module docstring); False if an RPC error ended it early."""
        self._count += 1
        self.stats.iterations += 1
        ok = await self._loop(client, recorder, intended)
        if not ok:
            self.stats.failed_iterations += 1
        self._cancel_one()
        return ok

    async def _call(
        self, client: RpcClient, recorder: Recorder, method: str, message: Any, **kw: Any
    ) -> Any:
        result = await client.call(method, self.project, message.SerializeToString(), **kw)
        recorder.add(method, result)
        return result

    async def _loop(self, client: RpcClient, recorder: Recorder, intended: float | None) -> bool:
        pb = self.pb.migration
        result = await client.call("FetchActiveRuns", self.project, self._fetch, intended=intended)
        recorder.add("FetchActiveRuns", result)
        if result.code != 0:
            return False
        if result.body != self._last_answer[0]:
            parsed = self._candidates(pb.FetchActiveRunsResponse.FromString(result.body))
            self._last_answer = (result.body, parsed)
        candidates = self._last_answer[1]
        for key in [key for key in self.active if key not in candidates]:
            run = self.active[key]
            status = await self._call(
                client,
                recorder,
                "FetchRunStatus",
                pb.FetchRunStatusRequest(luci_project=self.project, cv_id=run.id, attempt_key=key),
            )
            if status.code == FAILED_PRECONDITION:
                continue  # not final yet: ask again next loop
            if status.code != 0:
                return False
            if not await self._finalize(client, recorder, key, _ACTION_UNSPECIFIED):
                return False
            self.stats.finalized_vanished += 1
        for key, run in candidates.items():
            self.active.setdefault(key, run)
        report = await client.call("ReportRuns", self.project, self._report_runs())
        recorder.add("ReportRuns", report)
        if report.code != 0:
            return False
        if self._count % self.verify_every == 0 and self.verify_budget > 0:
            key = next((k for k in self.active if k in candidates), None)
            if key is not None:
                self.verify_budget -= 1
                run = self.active[key] = pb.ReportedRun.FromString(
                    self.active[key].SerializeToString()
                )
                passed = self.stats.verified % 5 != 4
                run.attempt.status = _SUCCESS if passed else _FAILURE
                full = run.attempt.gerrit_changes[0].mode == _FULL_RUN
                action = (
                    (_ACTION_SUBMIT if full else _ACTION_DRY_RUN_OK) if passed else _ACTION_FAIL
                )
                if not await self._finalize(client, recorder, key, action):
                    return False
                self.stats.verified += 1
        return True

    def _candidates(self, response: Any) -> dict[str, Any]:
        pb = self.pb.migration
        candidates = {}
        for active_run in response.active_runs:
            known = {cl.id for cl in active_run.cls} | {dep.id for dep in active_run.fyi_deps}
            self.stats.dep_violations += sum(
                1 for cl in active_run.cls for dep in cl.deps if dep.id not in known
            )
            key = active_run.id.rsplit("-", 1)[1]
            candidates[key] = pb.ReportedRun(
                id=active_run.id,
                attempt=self.pb.bigquery.Attempt(
                    key=key,
                    luci_project=self.project,
                    status=_STARTED,
                    gerrit_changes=[cl.gc for cl in active_run.cls],
                ),
            )
        self.stats.candidates += len(candidates)
        return candidates

    async def _finalize(self, client: RpcClient, recorder: Recorder, key: str, action: int) -> bool:
        run = self.active[key]
        status = self.pb.bigquery.AttemptStatus.Name(run.attempt.status)
        message = f'Run "{run.id}" | Attempt "{key}" finished with {status} NO_SUBSTATUS.'
        result = await self._call(
            client,
            recorder,
            "ReportVerifiedRun",
            self.pb.migration.ReportVerifiedRunRequest(
                run=run, action=action, final_message=message
            ),
        )
        if result.code != 0:
            return False
        del self.active[key]
        self._encoded.pop(key, None)
        return True

    def _report_runs(self) -> bytes:
        """ReportRunsRequest{runs: every active attempt}, from per-attempt encodings."""
        parts = []
        for key, run in self.active.items():
            field = self._encoded.get(key)
            if field is None:
                payload = run.SerializeToString()
                field = self._encoded[key] = encode_length_delimited(1, payload)
            parts.append(field)
        return b"".join(parts)

    def _cancel_one(self) -> None:
        if not self.pool and self._seeded_pool:
            self.pool = list(self._seeded_pool)  # a server that stores nothing (bare)
        if not self.pool:
            self.stats.pool_exhausted += 1
            return
        target = self.pool.pop()
        self.active[target.attempt_key] = reported_run(self.pb, target, self.host, _STARTED)
