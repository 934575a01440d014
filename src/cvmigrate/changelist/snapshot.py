"""A CL snapshot: what CV knows of a change at one moment, and its pre-encoded forms."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Sequence

from cvmigrate.changelist.encoded import EncodedCL
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import gerrit as gerrit_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import JsonStyle, encode_json

__all__ = ["Dep", "DepKind", "Snapshot", "encode_run_cl", "encode_snapshot"]


class DepKind(enum.IntEnum):
    """How a CL depends on another (CV's changelist.DepKind)."""

    HARD = 1
    """The immediate git parent: must be submitted first."""
    SOFT = 2
    """Another git ancestor, or a `Cq-Depend:` footer."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Dep:
    cl_id: int
    kind: DepKind


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The latest known state of a change (CV's `changelist.Snapshot`, spec §3.5)."""

    host: str
    info: gerrit_pb.ChangeInfo
    """Trimmed as spec §9.4 says."""
    patchset: int
    min_equivalent_patchset: int
    files: tuple[str, ...] = ()
    deps: tuple[Dep, ...] = ()
    """Sorted by CLID."""


def _gerrit_change(snapshot: Snapshot, mode: bigquery_pb.Mode | None) -> bigquery_pb.GerritChange:
    change = bigquery_pb.GerritChange(
        host=snapshot.host,
        project=snapshot.info.project,
        change=snapshot.info.number,
        patchset=snapshot.patchset,
        earliest_equivalent_patchset=snapshot.min_equivalent_patchset,
    )
    if mode is not None:
        change.mode = mode
    return change


def _encode(cl_id: int, message: migration_pb.RunCl) -> EncodedCL:
    return EncodedCL(
        cl_id=cl_id,
        pb=bytes(message),
        json=encode_json(message, JsonStyle.PROTO3).decode(),
        twirp_json=encode_json(message, JsonStyle.TWIRP).decode(),
    )


def encode_snapshot(cl_id: int, snapshot: Snapshot) -> EncodedCL:
    """The CL as a fyi_deps entry: only id, gc (no mode), info and files (spec §4.7)."""
    return _encode(
        cl_id,
        migration_pb.RunCl(
            id=cl_id,
            gc=_gerrit_change(snapshot, None),
            info=snapshot.info,
            files=list(snapshot.files),
        ),
    )


def encode_run_cl(
    cl_id: int, snapshot: Snapshot, trigger: Trigger, mode: bigquery_pb.Mode
) -> EncodedCL:
    """The CL as one of a Run's `cls`, frozen at Run creation (spec §4.7 step 5)."""
    return _encode(
        cl_id,
        migration_pb.RunCl(
            id=cl_id,
            gc=_gerrit_change(snapshot, mode),
            info=snapshot.info,
            files=list(snapshot.files),
            trigger=migration_pb.RunClTrigger(
                time=trigger.time, account_id=trigger.gerrit_account_id, email=trigger.email
            ),
            deps=[
                migration_pb.RunClDep(id=dep.cl_id, hard=dep.kind is DepKind.HARD)
                for dep in snapshot.deps
            ],
        ),
    )


def deps_to_json(deps: Sequence[Dep]) -> str:
    """The stored form of a snapshot's deps: `[[clid, kind], ...]`."""
    return json.dumps([[dep.cl_id, int(dep.kind)] for dep in deps])
