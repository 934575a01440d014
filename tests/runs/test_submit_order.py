"""Submission order: HARD deps strictly first, SOFT deps best effort (CV's ComputeOrder)."""

from __future__ import annotations

import pytest

from cvmigrate.changelist.snapshot import DepKind
from cvmigrate.runs.submit_order import DepCycle, OrderedCL, submission_order

HARD, SOFT = DepKind.HARD, DepKind.SOFT


def cl(cl_id: int, *deps: tuple[int, DepKind]) -> OrderedCL:
    return OrderedCL(cl_id=cl_id, deps=tuple(deps))


def test_independent_cls_go_in_clid_order():
    assert submission_order([cl(3), cl(1), cl(2)]) == [1, 2, 3]


def test_a_stack_is_submitted_parent_first_whatever_the_clids():
    # 1 depends on 2 (its git parent), 2 on 3: a stack whose base has the highest CLID.
    cls = [cl(1, (2, HARD), (3, SOFT)), cl(2, (3, HARD)), cl(3)]
    assert submission_order(cls) == [3, 2, 1]


def test_deps_outside_the_run_are_ignored():
    assert submission_order([cl(5, (1, HARD)), cl(4, (2, SOFT))]) == [4, 5]


def test_soft_cycle_is_broken_and_hard_deps_still_hold():
    # 1 -HARD-> 2 -SOFT-> 1: only the SOFT edge can go.
    assert submission_order([cl(1, (2, HARD)), cl(2, (1, SOFT))]) == [2, 1]
    assert submission_order([cl(1, (2, SOFT)), cl(2, (1, HARD))]) == [1, 2]


def test_soft_only_cycle_keeps_a_deterministic_order():
    cls = [cl(1, (2, SOFT)), cl(2, (3, SOFT)), cl(3, (1, SOFT))]
    assert submission_order(cls) == submission_order(list(reversed(cls))) == [3, 2, 1]


def test_hard_cycle_is_an_error():
    with pytest.raises(DepCycle):
        submission_order([cl(1, (2, HARD)), cl(2, (1, HARD))])


def test_duplicate_cl_is_an_error():
    with pytest.raises(DepCycle):
        submission_order([cl(1), cl(1)])


@pytest.mark.parametrize("n", [1, 2, 10, 50])
def test_every_hard_dep_precedes_its_dependant_in_long_stacks(n):
    # CL i's parent is CL i+1 (the stack grows towards lower CLIDs), plus SOFT deps on all
    # further ancestors, as CV records them.
    cls = [
        cl(i, (i + 1, HARD), *((j, SOFT) for j in range(i + 2, n + 1))) if i < n else cl(i)
        for i in range(1, n + 1)
    ]
    order = submission_order(cls)
    assert sorted(order) == list(range(1, n + 1))
    position = {cl_id: index for index, cl_id in enumerate(order)}
    assert all(position[i + 1] < position[i] for i in range(1, n))
