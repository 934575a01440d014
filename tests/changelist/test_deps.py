"""Dependencies: Cq-Depend footers, git ancestors from related changes, and their merge."""

from __future__ import annotations

import pytest

from cvmigrate.changelist.deps import (
    CqDepend,
    DepRef,
    GitDep,
    cq_depend_host,
    git_deps,
    merge_deps,
    parse_cq_depend,
    parse_footers,
)
from cvmigrate.changelist.snapshot import DepKind
from cvmigrate.proto import gerrit

HOST = "chromium-review.googlesource.com"


def dep(change: int, subdomain: str = "") -> CqDepend:
    return CqDepend(subdomain=subdomain, change=change)


# --- footers and Cq-Depend ------------------------------------------------------------


def test_footers_are_the_last_paragraph_only() -> None:
    message = "Title\n\nBody: not a footer\n\nBug: 1\nChange-Id: I123\n"
    assert parse_footers(message) == {"Bug": ["1"], "Change-Id": ["I123"]}


def test_a_subject_alone_has_no_footers() -> None:
    assert parse_footers("Cq-Depend: 1") == {}


def test_footer_keys_are_normalized_and_other_lines_skipped() -> None:
    message = "Title\n\nCQ-dePend: 5\n  not a footer line\nbug:  7 "
    assert parse_footers(message) == {"Cq-Depend": ["5"], "Bug": ["7"]}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("Nothing\n\ninteresting.", [], id="none"),
        pytest.param("Title.\n\nCq-Depend: 456,123", [dep(123), dep(456)], id="sorted"),
        pytest.param(
            "Title.\n\nCq-Depend: chromium:123, 456",
            [dep(456), dep(123, "chromium")],
            id="brief-example",
        ),
        pytest.param(
            "Title.\n\nCQ-dePend: Any-case:456 , Zx:23 ",
            [dep(456, "any-case"), dep(23, "zx")],
            id="case-and-space-insensitive",
        ),
        pytest.param(
            "Title.\n\nCq-Depend: 456,123\nCq-Depend: 123,y:456",
            [dep(123), dep(456), dep(456, "y")],
            id="dedup-and-multiline",
        ),
        pytest.param(
            "Title.\n\nCq-Depend: 2, x;3\nCq-Depend: y-review:4,z:5",
            [dep(2), dep(5, "z")],
            id="invalid-values-ignored-one-by-one",
        ),
        pytest.param(
            "Cq-Depend: 1\n\nCq-Depend: i:2\n\nChange-Id: Ideadbeef", [], id="not-footers"
        ),
        pytest.param("T\n\nCq-Depend: 12312123123123123123", [], id="beyond-int64"),
        pytest.param("T\n\nCq-Depend: https://x.example.com:1", [], id="url"),
        pytest.param("T\n\nCq-Depend: spaces :1, spaces: 2", [], id="space-around-colon"),
        pytest.param("T\n\nCq-Depend: ٣", [], id="non-ascii-digits"),
    ],
)
def test_parse_cq_depend(message: str, expected: list[CqDepend]) -> None:
    assert parse_cq_depend(message) == expected


@pytest.mark.parametrize(
    ("host", "subdomain", "expected"),
    [
        (HOST, "", HOST),
        (HOST, "pdfium", "pdfium-review.googlesource.com"),
        ("chrome-internal-review.googlesource.com", "chromium", HOST),
        ("gerrit.example.com", "", "gerrit.example.com"),
        ("gerrit.example.com", "chromium", None),
        ("localhost", "x", None),
    ],
)
def test_cq_depend_host(host: str, subdomain: str, expected: str | None) -> None:
    assert cq_depend_host(host, subdomain) == expected


# --- git deps from related changes ----------------------------------------------------


def related(
    number: int, revision: str, *parents: str, patchset: int = 1
) -> gerrit.GetRelatedChangesResponseChangeAndCommit:
    return gerrit.GetRelatedChangesResponseChangeAndCommit(
        project="chromium/src",
        number=number,
        patchset=patchset,
        current_patchset=patchset,
        commit=gerrit.CommitInfo(
            id=revision, parents=[gerrit.CommitInfoParent(id=p) for p in parents]
        ),
    )


def test_no_related_changes_means_no_git_deps() -> None:
    assert git_deps(5, "r5", []) == []


def test_stack_parent_is_immediate_and_grandparent_is_not() -> None:
    # Gerrit lists newest→oldest: a child of 5, 5 itself, its parent 4, grandparent 3.
    chain = [
        related(6, "r6", "r5"),
        related(5, "r5", "r4"),
        related(4, "r4", "r3"),
        related(3, "r3", "base"),
    ]
    assert git_deps(5, "r5", chain) == [
        GitDep(change=4, immediate=True),
        GitDep(change=3, immediate=False),
    ]


def test_merge_commit_has_two_immediate_parents_and_a_shared_grandparent_once() -> None:
    chain = [
        related(10, "r10", "r8", "r9"),
        related(9, "r9", "r7"),
        related(8, "r8", "r7"),
        related(7, "r7", "base"),
    ]
    assert git_deps(10, "r10", chain) == [
        GitDep(change=8, immediate=True),
        GitDep(change=9, immediate=True),
        GitDep(change=7, immediate=False),
    ]


def test_old_patchset_of_a_dep_counts_once_at_its_nearest_distance() -> None:
    # 5 sits on patch set 1 of 4; 4's patch set 2 is listed too (it has moved on).
    chain = [
        related(5, "r5", "r4-1"),
        related(4, "r4-2", "r3", patchset=2),
        related(4, "r4-1", "r3", patchset=1),
        related(3, "r3", "base"),
    ]
    assert git_deps(5, "r5", chain) == [
        GitDep(change=4, immediate=True),
        GitDep(change=3, immediate=False),
    ]


def test_parent_outside_the_list_ends_the_walk() -> None:
    chain = [related(5, "r5", "merged-sha"), related(2, "r2", "base")]
    assert git_deps(5, "r5", chain) == []


def test_change_missing_from_its_related_changes_gives_no_deps() -> None:
    chain = [related(6, "r6", "r4"), related(4, "r4", "base")]
    assert git_deps(5, "r5", chain) == []


def test_change_found_by_number_when_its_revision_differs() -> None:
    chain = [related(5, "older", "r4"), related(4, "r4", "base")]
    assert git_deps(5, "r5", chain) == [GitDep(change=4, immediate=True)]


# --- merging --------------------------------------------------------------------------


def test_merge_git_parent_stays_hard_even_when_also_a_cq_depend() -> None:
    refs = merge_deps(
        HOST,
        5,
        [dep(4), dep(9), dep(7, "pdfium")],
        [GitDep(change=4, immediate=True), GitDep(change=3, immediate=False)],
    )
    assert refs == (
        DepRef(host=HOST, change=3, kind=DepKind.SOFT),
        DepRef(host=HOST, change=4, kind=DepKind.HARD),
        DepRef(host=HOST, change=9, kind=DepKind.SOFT),
        DepRef(host="pdfium-review.googlesource.com", change=7, kind=DepKind.SOFT),
    )


def test_merge_drops_itself_and_unresolvable_hosts() -> None:
    refs = merge_deps("gerrit.example.com", 5, [dep(5), dep(6, "other"), dep(8)], [])
    assert refs == (DepRef(host="gerrit.example.com", change=8, kind=DepKind.SOFT),)
