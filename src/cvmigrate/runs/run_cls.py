"""A Run's CLs as the run manager reads them: the frozen snapshot decoded once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cvmigrate.changelist.botdata import ChangeID
from cvmigrate.changelist.snapshot import DepKind
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.proto import gerrit
from cvmigrate.proto import migration as migration_pb
from cvmigrate.store.runs import StoredRunCL

__all__ = ["RunCL", "change_ids", "decode_run_cls"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunCL:
    """One CL of a Run, from the snapshot frozen at Run creation."""

    cl_id: int
    host: str
    info: gerrit.ChangeInfo
    """Trimmed ChangeInfo: number, project, current_revision, labels, updated, …"""
    patchset: int
    trigger: Trigger
    deps: tuple[tuple[int, DepKind], ...]
    """(CLID, kind) of each dep, by CLID."""

    @property
    def number(self) -> int:
        return self.info.number

    @property
    def revision(self) -> str:
        return self.info.current_revision


def decode_run_cls(stored: Sequence[StoredRunCL]) -> list[RunCL]:
    """Decode stored RunCLs (Run.CLs order is kept)."""
    result = []
    for cl in stored:
        message = migration_pb.RunCl.parse(cl.encoded.pb)
        gc = message.gc
        result.append(
            RunCL(
                cl_id=cl.cl_id,
                host=gc.host if gc else "",
                info=message.info or gerrit.ChangeInfo(),
                patchset=gc.patchset if gc else 0,
                trigger=cl.trigger,
                deps=tuple(
                    (dep.id, DepKind.HARD if dep.hard else DepKind.SOFT) for dep in message.deps
                ),
            )
        )
    return result


def change_ids(cls: Sequence[RunCL]) -> tuple[ChangeID, ...]:
    """The Run's CLs as bot data names them (`<host>:<change>`)."""
    return tuple(ChangeID(host=cl.host, number=cl.number) for cl in cls)
