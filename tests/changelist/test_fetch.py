"""CL snapshots fetched from the loopback fake Gerrit: options, trimming, files, deps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from fakes.gerrit import FakeGerrit, FileSpec, fake_gerrit

from cvmigrate.changelist.deps import DepRef
from cvmigrate.changelist.fetch import FETCH_OPTIONS, fetch_cl, min_equivalent_patchset
from cvmigrate.changelist.snapshot import Dep, DepKind
from cvmigrate.gerrit.client import EnvCredentials, GerritClient
from cvmigrate.gerrit.errors import GerritNotFound
from cvmigrate.proto import gerrit

__all__ = ["fake_gerrit"]

HOST = "chromium-review.googlesource.com"
OWNER, VOTER = 1001, 1002


@pytest.fixture
async def fake(fake_gerrit: FakeGerrit) -> FakeGerrit:
    fake_gerrit.host = HOST
    fake_gerrit.add_account(1000, username="cv", label_as={"Commit-Queue"})
    fake_gerrit.allow_bearer("token", 1000)
    fake_gerrit.add_account(OWNER)
    fake_gerrit.add_account(VOTER)
    return fake_gerrit


@pytest.fixture
async def client(fake: FakeGerrit) -> AsyncIterator[GerritClient]:
    async with aiohttp.ClientSession() as session:
        yield GerritClient(
            session,
            [fake.gerrit_host(auth="bearer", token_env="TOKEN")],
            EnvCredentials(environ={"TOKEN": "token"}),
            max_retries=0,
        )


def revisions(*kinds: gerrit.RevisionInfoKind) -> gerrit.ChangeInfo:
    revs = {f"r{n}": gerrit.RevisionInfo(number=n, kind=kind) for n, kind in enumerate(kinds, 1)}
    return gerrit.ChangeInfo(number=1, current_revision=f"r{len(kinds)}", revisions=revs)


K = gerrit.RevisionInfoKind


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        pytest.param([K.REWORK], (1, 1), id="one"),
        pytest.param([K.REWORK, K.REWORK], (2, 2), id="rework"),
        pytest.param([K.REWORK, K.TRIVIAL_REBASE, K.NO_CHANGE], (1, 3), id="trivial-chain"),
        pytest.param([K.REWORK, K.REWORK, K.NO_CODE_CHANGE], (2, 3), id="stops-at-rework"),
        pytest.param(
            [K.REWORK, K.TRIVIAL_REBASE, K.MERGE_FIRST_PARENT_UPDATE], (3, 3), id="merge-update"
        ),
    ],
)
def test_min_equivalent_patchset(kinds: list[gerrit.RevisionInfoKind], expected) -> None:
    assert min_equivalent_patchset(revisions(*kinds)) == expected


def test_min_equivalent_patchset_needs_the_current_revision() -> None:
    with pytest.raises(ValueError, match="current revision"):
        min_equivalent_patchset(gerrit.ChangeInfo(number=1, current_revision="x"))


async def test_fetch_asks_for_cvs_options_and_trims(fake: FakeGerrit, client) -> None:
    change = fake.add_change(owner=OWNER, files={"b.cc": FileSpec(), "a.cc": FileSpec()})
    fake.vote(change.number, "Commit-Queue", VOTER, 1)

    cl = await fetch_cl(client, HOST, change.number, project="chromium/src")

    request = fake.requests_matching("GET", f"/changes/chromium%2Fsrc~{change.number}")[0]
    assert sorted(request.param("o")) == sorted(option.name for option in FETCH_OPTIONS)
    assert (cl.host, cl.number, cl.patchset, cl.min_equivalent_patchset) == (
        HOST,
        change.number,
        1,
        1,
    )
    assert cl.files == ("a.cc", "b.cc")  # sorted, /COMMIT_MSG left out
    assert fake.requests_matching("GET", "/files/")[0].param("parent") == ["1"]
    vote = cl.info.labels["Commit-Queue"].all[0]
    assert (vote.user.account_id, vote.user.email, vote.user.name) == (
        VOTER,
        "user1002@example.com",
        "",
    )
    assert cl.info.owner.name == ""  # trimmed (spec §9.4)
    assert cl.dep_refs == ()


async def test_fetch_finds_git_and_cq_depend_deps(fake: FakeGerrit, client) -> None:
    base = fake.add_change(owner=OWNER, number=10)
    middle = fake.add_change(owner=OWNER, number=11, parents=[base.current.revision])
    top = fake.add_change(
        owner=OWNER,
        number=12,
        parents=[middle.current.revision],
        commit_message="Top\n\nCq-Depend: 40, pdfium:7\nChange-Id: I12\n",
    )

    cl = await fetch_cl(client, HOST, top.number)

    assert cl.dep_refs == (
        DepRef(host=HOST, change=10, kind=DepKind.SOFT),
        DepRef(host=HOST, change=11, kind=DepKind.HARD),
        DepRef(host=HOST, change=40, kind=DepKind.SOFT),
        DepRef(host="pdfium-review.googlesource.com", change=7, kind=DepKind.SOFT),
    )
    snapshot = cl.snapshot([Dep(cl_id=9, kind=DepKind.SOFT), Dep(cl_id=3, kind=DepKind.HARD)])
    assert [dep.cl_id for dep in snapshot.deps] == [3, 9]  # sorted by CLID (spec §3.5)


async def test_fetch_walks_back_over_trivial_rebases(fake: FakeGerrit, client) -> None:
    change = fake.add_change(owner=OWNER)
    fake.new_patchset(change.number, kind="REWORK")
    fake.new_patchset(change.number, kind="TRIVIAL_REBASE")
    fake.new_patchset(change.number, kind="NO_CODE_CHANGE")

    cl = await fetch_cl(client, HOST, change.number)

    assert (cl.patchset, cl.min_equivalent_patchset) == (4, 2)
    # CURRENT_COMMIT: only the current revision has its commit (and message, spec §9.4).
    commits = {rev.number: rev.commit for rev in cl.info.revisions.values()}
    assert commits[4] is not None and commits[4].message.startswith("Fix a bug")
    assert commits[1] is None


async def test_refetch_of_the_same_revision_reuses_files_and_deps(fake: FakeGerrit, client):
    change = fake.add_change(owner=OWNER)
    first = await fetch_cl(client, HOST, change.number)
    fake.vote(change.number, "Commit-Queue", VOTER, 2)
    before = len(fake.requests)

    second = await fetch_cl(client, HOST, change.number, previous=first)

    assert [r.path for r in fake.requests[before:]] == [f"/a/changes/{change.number}"]
    assert second.files == first.files
    assert second.info.labels["Commit-Queue"].all[0].value == 2

    fake.new_patchset(change.number, files={"new.cc": FileSpec()})
    third = await fetch_cl(client, HOST, change.number, previous=second)
    assert third.files == ("new.cc",)


async def test_merged_change_has_no_files_or_deps_fetched(fake: FakeGerrit, client) -> None:
    change = fake.add_change(owner=OWNER)
    fake.set_status(change.number, "MERGED")

    cl = await fetch_cl(client, HOST, change.number)

    assert cl.info.status == gerrit.ChangeStatus.MERGED
    assert (cl.files, cl.dep_refs) == ((), ())
    assert not fake.requests_matching("GET", "/related")


async def test_fetch_of_a_missing_change_raises(fake: FakeGerrit, client) -> None:
    with pytest.raises(GerritNotFound):
        await fetch_cl(client, HOST, 999)
