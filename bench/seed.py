"""Seeding a database before the server starts: CLs and Runs written through cvmigrate's
own `runs.create.new_run` and `store` functions, as the poller will write them.

What is seeded (sizes from `SeedPlan`):

- `mix-<i>`: the CQDaemon projects; each has `mix_runs` RUNNING Runs of 1–3 CLs (stacked
  CLs depend on each other; every 10th Run also depends on a CL outside the Run, which
  FetchActiveRuns returns in `fyi_deps`), plus a pool of ended Runs that the simulated
  CQDaemon treats as "vanished" (CV cancelled them since its last loop, spec §8.2 step B)
  and that FetchRunStatus bursts ask about;
- `far-<n>`: projects with exactly n RUNNING Runs × 3 CLs (FetchActiveRuns cost and growth);
- `burst`: ended Runs that write bursts report verified, each once (a first report is a
  real durable write with its run-manager event; a repeat is a no-op, so targets are never
  reused). Ended rather than RUNNING keeps the store like production's: mostly history;
- `history`: ended Runs that fill the store up to `total_runs` when the pools are sized
  explicitly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import cvmigrate.runs.create as runs_create
from bench.data import HOST, T0, TemplateEncoder, snapshot_for
from cvmigrate.changelist.snapshot import Dep, DepKind, Snapshot
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.runs.create import NewRunCL, new_run
from cvmigrate.runs.status import Status
from cvmigrate.store import cls as cls_store
from cvmigrate.store import runs as runs_store
from cvmigrate.store.migrate import upgrade_database

__all__ = ["Dataset", "SeedPlan", "TargetRun", "seed_database"]

_CLS_PER_MIX_RUN: Final = (1, 1, 1, 2, 3)  # mostly single CLs, some stacks
_ENDED: Final = (Status.SUCCEEDED, Status.CANCELLED, Status.SUCCEEDED, Status.FAILED)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SeedPlan:
    """How much to seed; `total_runs` is the size of the whole store."""

    mix_projects: int = 8
    """Simulated CQDaemons, one per project, each with one call in flight (a closed loop).
    More do not make cvmigrate's event loop busier: its utilisation in the mix was alike at
    8, 16 and 32 (0.75-0.89 of the wall time, 2026-11-28, one slow spell of the machine)."""
    mix_runs: int = 50
    mix_pool: int | None = 3000
    """Ended Runs per mix project, one used per CQDaemon iteration (a Run CV "cancelled"),
    never twice (every ReportVerifiedRun a first, durable report); None: what is left of
    `total_runs`, shared out. 3000 covers the default scenario's mix trials, open-loop
    sweep and stall phase at ~600 iterations per second (2000 ran out once the writer was a
    process); a daemon whose pool runs out plays a different mix (no FetchRunStatus or
    ReportVerifiedRun), which the results flag."""
    far_sizes: tuple[int, ...] = (10, 100, 1000)
    far_cls: int = 3
    burst_runs: int = 4000
    total_runs: int = 10_000

    @property
    def run_count(self) -> int:
        """Runs in the store once seeded: the pools and fixed sets, or `total_runs` if more."""
        fixed = self.mix_projects * self.mix_runs + sum(self.far_sizes) + self.burst_runs
        return max(self.total_runs, fixed + self.mix_projects * self.pool_size())

    def pool_size(self) -> int:
        if self.mix_pool is not None:
            return self.mix_pool
        fixed = self.mix_projects * self.mix_runs + sum(self.far_sizes) + self.burst_runs
        return max(0, (self.total_runs - fixed) // max(self.mix_projects, 1))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TargetRun:
    """A Run the load may name in a request: ID, mode and its CLs' change numbers."""

    run_id: str
    project: str
    mode: str
    changes: tuple[int, ...]

    @property
    def attempt_key(self) -> str:
        return self.run_id.rsplit("-", 1)[1]

    def to_json(self) -> list[Any]:
        return [self.run_id, self.project, self.mode, list(self.changes)]

    @classmethod
    def from_json(cls, value: list[Any]) -> TargetRun:
        return cls(run_id=value[0], project=value[1], mode=value[2], changes=tuple(value[3]))


@dataclasses.dataclass(kw_only=True)
class Dataset:
    """What was seeded, for the load generator (saved as JSON next to the database)."""

    db_path: str
    host: str
    tokens: dict[str, str]
    """Bearer token per LUCI project (identity `project:<p>`)."""
    mix_projects: list[str]
    pools: dict[str, list[TargetRun]]
    """Per mix project: ended Runs the simulated CQDaemon believes are still active."""
    far_projects: dict[int, str]
    burst: list[TargetRun]
    history: list[TargetRun]
    total_runs: int = 0
    total_cls: int = 0

    def ended_runs(self) -> list[TargetRun]:
        """Every seeded ended Run (read-only targets: FetchRunStatus answers OK for them)."""
        return [*(t for pool in self.pools.values() for t in pool), *self.history]

    def token_digests(self) -> dict[str, str]:
        """identity → SHA-256 hex of its token, for `[[auth.tokens]]`."""
        return {
            f"project:{project}": hashlib.sha256(token.encode()).hexdigest()
            for project, token in self.tokens.items()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "db_path": self.db_path,
            "host": self.host,
            "tokens": self.tokens,
            "mix_projects": self.mix_projects,
            "pools": {p: [t.to_json() for t in ts] for p, ts in self.pools.items()},
            "far_projects": {str(k): v for k, v in self.far_projects.items()},
            "burst": [t.to_json() for t in self.burst],
            "history": [t.to_json() for t in self.history],
            "total_runs": self.total_runs,
            "total_cls": self.total_cls,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Dataset:
        return cls(
            db_path=value["db_path"],
            host=value["host"],
            tokens=value["tokens"],
            mix_projects=value["mix_projects"],
            pools={p: [TargetRun.from_json(t) for t in ts] for p, ts in value["pools"].items()},
            far_projects={int(k): v for k, v in value["far_projects"].items()},
            burst=[TargetRun.from_json(t) for t in value["burst"]],
            history=[TargetRun.from_json(t) for t in value["history"]],
            total_runs=value["total_runs"],
            total_cls=value["total_cls"],
        )


@contextlib.contextmanager
def _fast_encoding(encoder: TemplateEncoder, variants: dict[str, int]) -> Iterator[None]:
    """Make `new_run` encode through `encoder` (checked against the real encoder)."""
    real = runs_create.encode_run_cl

    def encode(cl_id: int, snapshot: Snapshot, trigger: Trigger, mode: bigquery_pb.Mode) -> Any:
        return encoder.run_cl(
            variants[snapshot.info.current_revision],
            cl_id=cl_id,
            number=snapshot.info.number,
            trigger=trigger,
            mode=mode,
            deps=snapshot.deps,
        )

    runs_create.encode_run_cl = encode  # type: ignore[assignment]
    try:
        yield
    finally:
        runs_create.encode_run_cl = real


class _Seeder:
    def __init__(self, conn: sqlite3.Connection, encoder: TemplateEncoder) -> None:
        self.conn = conn
        self.encoder = encoder
        self.variants = {
            encoder.template(v)[0].current_revision: v for v in range(encoder.variants)
        }
        self.next_change = 4_100_000
        self.runs = 0
        self.cls = 0

    def put_cl(self, deps: tuple[Dep, ...] = ()) -> tuple[int, Snapshot]:
        """A new CL with its latest snapshot; returns its CLID and the snapshot."""
        number = self.next_change
        self.next_change += 1
        variant = number % self.encoder.variants
        info, files = self.encoder.template(variant)
        info = dataclasses.replace(info, number=number)
        cl_id = cls_store.get_or_create_clid(self.conn, HOST, number, T0)
        encoded = self.encoder.snapshot(variant, cl_id=cl_id, number=number)
        cls_store.put_cl_snapshot(self.conn, cl_id, 3, encoded, T0)
        self.cls += 1
        return cl_id, snapshot_for(info, files, deps)

    def run(
        self, project: str, *, cls: int, status: Status, full: bool, outside_dep: int | None
    ) -> TargetRun:
        """A new Run over `cls` new CLs (a stack), stored with its frozen RunCLs."""
        index = self.runs
        mode = "FULL_RUN" if full else "DRY_RUN"
        trigger = Trigger(
            time=T0 - timedelta(minutes=index % 32),
            mode=mode,
            email=f"dev{1000 + index % 8}@chromium.org",
            gerrit_account_id=1000 + index % 8,
        )
        new_cls: list[NewRunCL] = []
        previous: int | None = None
        for position in range(cls):
            deps: list[Dep] = []
            if previous is not None:
                deps.append(Dep(cl_id=previous, kind=DepKind.HARD))
            if position == 0 and outside_dep is not None:
                deps.append(Dep(cl_id=outside_dep, kind=DepKind.SOFT))
            cl_id, snapshot = self.put_cl(tuple(deps))
            new_cls.append(NewRunCL(cl_id=cl_id, snapshot=snapshot, trigger=trigger))
            previous = cl_id
        created_at = T0 + timedelta(seconds=index)
        with _fast_encoding(self.encoder, self.variants):
            run, stored = new_run(
                project=project,
                config_group="main",
                cls=new_cls,
                created_at=created_at,
                status=status,
            )
        if status is not Status.RUNNING:
            run = dataclasses.replace(
                run, start_time=created_at, end_time=created_at + timedelta(minutes=40)
            )
        runs_store.insert_run(self.conn, run, stored, created_at)
        self.runs += 1
        return TargetRun(
            run_id=run.id,
            project=project,
            mode=mode,
            changes=tuple(cl.snapshot.info.number for cl in new_cls),
        )

    def ended(self, project: str) -> TargetRun:
        status = _ENDED[self.runs % len(_ENDED)]
        return self.run(project, cls=1, status=status, full=self.runs % 4 == 0, outside_dep=None)


def seed_database(path: Path, plan: SeedPlan) -> Dataset:
    """Create the database at `path` (schema by cvmigrate's migrations) and seed it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade_database(str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")  # seeding only; the server opens its own
        conn.execute("BEGIN")
        dataset = _seed(conn, plan, path)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return dataset


def _seed(conn: sqlite3.Connection, plan: SeedPlan, path: Path) -> Dataset:
    seeder = _Seeder(conn, TemplateEncoder())
    mix_projects = [f"mix-{i}" for i in range(plan.mix_projects)]
    far_projects = {size: f"far-{size}" for size in plan.far_sizes}
    pools: dict[str, list[TargetRun]] = {project: [] for project in mix_projects}
    for project in mix_projects:
        for i in range(plan.mix_runs):
            outside = seeder.put_cl()[0] if i % 10 == 9 else None
            seeder.run(
                project,
                cls=_CLS_PER_MIX_RUN[i % len(_CLS_PER_MIX_RUN)],
                status=Status.RUNNING,
                full=i % 4 == 0,
                outside_dep=outside,
            )
        pools[project] = [seeder.ended(project) for _ in range(plan.pool_size())]
    for size, project in far_projects.items():
        for i in range(size):
            seeder.run(
                project, cls=plan.far_cls, status=Status.RUNNING, full=i % 4 == 0, outside_dep=None
            )
    burst = [seeder.ended("burst") for _ in range(plan.burst_runs)]
    history = [seeder.ended("history") for _ in range(max(0, plan.total_runs - seeder.runs))]
    projects = [*mix_projects, *far_projects.values(), "burst", "history"]
    return Dataset(
        db_path=str(path),
        host=HOST,
        tokens={project: "bench_" + secrets.token_urlsafe(24) for project in projects},
        mix_projects=mix_projects,
        pools=pools,
        far_projects=far_projects,
        burst=burst,
        history=history,
        total_runs=seeder.runs,
        total_cls=seeder.cls,
    )
