"""The order in which a Run's CLs are submitted (CV's `submit.ComputeOrder`, spec §5.2).

A CL is submitted after the CLs it depends on: strictly after its HARD deps (its git
parent, which Gerrit would refuse to merge out of order), and after its SOFT deps where
possible. Depth-first from the CLs in CLID order; a cycle is broken by dropping the
last-followed SOFT dep (an approximation of the minimum feedback arc set, as in CV). A cycle
of HARD deps only cannot come from git and is an error. Deps on CLs outside the Run are
ignored (they are merged already or not CV's to submit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cvmigrate.changelist.snapshot import DepKind

__all__ = ["DepCycle", "OrderedCL", "submission_order"]


class DepCycle(ValueError):
    """HARD deps form a cycle, or a CL is listed twice."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderedCL:
    """A Run CL and its deps, as submission ordering sees it."""

    cl_id: int
    deps: tuple[tuple[int, DepKind], ...] = ()
    """(CLID, kind) of each dep, in the snapshot's order (by CLID)."""


def submission_order(cls: Sequence[OrderedCL]) -> list[int]:
    """CLIDs in submission order. Raises DepCycle (module docstring)."""
    remaining: dict[int, OrderedCL] = {}
    for cl in cls:
        if cl.cl_id in remaining:
            raise DepCycle(f"duplicate CL {cl.cl_id}")
        remaining[cl.cl_id] = cl
    broken: set[tuple[int, int]] = set()
    visiting: set[int] = set()
    order: list[int] = []

    def visit(cl: OrderedCL) -> bool:
        """Place `cl` after its deps; True if it closes a cycle not yet breakable."""
        if cl.cl_id not in remaining:
            return False
        if cl.cl_id in visiting:
            return True
        visiting.add(cl.cl_id)
        for dep_id, kind in cl.deps:
            dep = remaining.get(dep_id)
            if dep is None or (cl.cl_id, dep_id) in broken:
                continue
            if visit(dep):
                if kind is DepKind.HARD:
                    # Cannot break a HARD dep here: let a caller up the stack break one.
                    visiting.discard(cl.cl_id)
                    return True
                broken.add((cl.cl_id, dep_id))
        visiting.discard(cl.cl_id)
        del remaining[cl.cl_id]
        order.append(cl.cl_id)
        return False

    for cl in sorted(cls, key=lambda c: c.cl_id):
        if visit(cl):
            raise DepCycle(f"HARD dependencies form a cycle through CL {cl.cl_id}")
    return order
