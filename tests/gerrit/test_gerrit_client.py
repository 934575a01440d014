"""gerrit/client.py calls against the fake Gerrit over real loopback sockets."""

from __future__ import annotations

import aiohttp
import pytest
from fakes.gerrit import Change, FakeGerrit
from gerrit_client_support import (
    CV,
    OWNER,
    VOTER,
    RecordingSleep,
)

from cvmigrate.gerrit.client import GerritClient
from cvmigrate.gerrit.errors import (
    GerritConflict,
    GerritError,
    GerritInvalidArgument,
    GerritNotFound,
    GerritPermissionDenied,
    GerritPreconditionFailed,
)
from cvmigrate.proto import gerrit
from cvmigrate.rpc.codes import Code

# --- reading ------------------------------------------------------------------------------


async def test_get_change_routes_by_encoded_project(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    info = await client.get_change(fake.host, change.number, project="chromium/src")
    assert info.number == change.number
    assert info.project == "chromium/src"
    assert info.status is gerrit.ChangeStatus.NEW
    request = fake.requests[-1]
    assert request.raw_path == f"/a/changes/chromium%2Fsrc~{change.number}"
    assert request.headers["Accept"] == "application/json"
    assert "Content-Type" not in request.headers


async def test_get_change_without_project_uses_the_number(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    await client.get_change(fake.host, change.number)
    assert fake.requests[-1].raw_path == f"/a/changes/{change.number}"


async def test_get_change_sends_each_option_as_its_own_o_param(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    options = ["CURRENT_REVISION", gerrit.QueryOption.DETAILED_LABELS, "MESSAGES"]
    await client.get_change(fake.host, change.number, options=options)
    assert fake.requests[-1].param("o") == ["CURRENT_REVISION", "DETAILED_LABELS", "MESSAGES"]


async def test_get_change_converts_what_the_options_asked_for(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    bare = await client.get_change(fake.host, change.number)
    assert (bare.revisions, bare.messages, bare.labels, bare.current_revision) == ({}, [], {}, "")
    assert bare.owner == gerrit.AccountInfo(account_id=OWNER)

    full = await client.get_change(
        fake.host,
        change.number,
        project="chromium/src",
        options=[
            "CURRENT_REVISION",
            "CURRENT_COMMIT",
            "DETAILED_LABELS",
            "DETAILED_ACCOUNTS",
            "MESSAGES",
        ],
    )
    revision = change.current.revision
    assert full.current_revision == revision
    assert full.revisions[revision].commit is not None
    assert full.revisions[revision].commit.message.startswith("Speed up")
    assert full.owner is not None and full.owner.email == "alice@example.com"
    votes = {a.user.account_id: a.value for a in full.labels["Commit-Queue"].all if a.user}
    assert votes == {VOTER: 2}
    assert full.messages[-1].message == "Patch Set 1: Commit-Queue+2"
    assert full.created == change.created


async def test_json_answers_carry_the_xssi_prefix_and_the_client_strips_it(
    client: GerritClient, fake: FakeGerrit, session: aiohttp.ClientSession, change: Change
) -> None:
    async with session.get(f"{fake.base_url}/changes/{change.number}") as raw:
        assert (await raw.text()).startswith(")]}'\n{")
    assert (await client.get_change(fake.host, change.number)).number == change.number


async def test_query_encodes_plus_and_spaces(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    plus = fake.add_change(owner=OWNER, project="infra/c++")
    fake.vote(plus.number, "Commit-Queue", VOTER, 1)
    query = 'status:NEW label:Commit-Queue>0 project:"infra/c++"'
    changes, more = await client.query_changes(fake.host, query, options=["SKIP_MERGEABLE"])
    assert [c.number for c in changes] == [plus.number]
    assert more is False
    request = fake.requests[-1]
    assert request.param("q") == [query]
    assert "c%2B%2B" in request.raw_query
    assert "status:NEW+label" in request.raw_query


async def test_query_changes_pages_with_limit_offset_and_more(
    client: GerritClient, fake: FakeGerrit
) -> None:
    numbers = [fake.add_change(owner=OWNER).number for _ in range(5)]
    newest_first = list(reversed(numbers))
    page, more = await client.query_changes(fake.host, "status:NEW", limit=2)
    assert ([c.number for c in page], more) == (newest_first[:2], True)
    page, more = await client.query_changes(fake.host, "status:NEW", limit=2, offset=4)
    assert ([c.number for c in page], more) == (newest_first[4:], False)
    assert fake.requests[-1].param("S") == ["4"]
    assert fake.requests[-1].param("n") == ["2"]


async def test_iter_query_follows_more_changes(client: GerritClient, fake: FakeGerrit) -> None:
    numbers = [fake.add_change(owner=OWNER).number for _ in range(5)]
    seen = [c.number async for c in client.iter_query(fake.host, "status:NEW", page_size=2)]
    assert seen == list(reversed(numbers))
    pages = fake.requests_matching("GET", "/a/changes/")
    assert [r.param("S") for r in pages] == [[], ["2"], ["4"]]


async def test_get_related_changes_for_a_stack(client: GerritClient, fake: FakeGerrit) -> None:
    base = fake.add_change(owner=OWNER, project="chromium/src")
    top = fake.add_change(owner=OWNER, project="chromium/src", parents=[base.current.revision])
    related = await client.get_related_changes(
        fake.host, top.number, top.current.revision, project="chromium/src"
    )
    assert [(r.number, r.patchset) for r in related] == [(top.number, 1), (base.number, 1)]
    assert related[0].commit is not None
    assert related[0].commit.parents == [gerrit.CommitInfoParent(id=base.current.revision)]
    assert fake.requests[-1].raw_path.endswith(f"/revisions/{top.current.revision}/related")
    alone = fake.add_change(owner=OWNER, project="chromium/src")
    assert await client.get_related_changes(fake.host, alone.number, "current") == []


async def test_list_files_includes_the_commit_message(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    files = await client.list_files(
        fake.host, change.number, change.current.revision, project="chromium/src", parent=1
    )
    assert set(files) == {"/COMMIT_MSG", "src/main.cc"}
    assert files["/COMMIT_MSG"].status is gerrit.FileInfoStatus.A
    assert files["src/main.cc"].status is gerrit.FileInfoStatus.M
    assert fake.requests[-1].raw_path.endswith("/files/")
    assert fake.requests[-1].param("parent") == ["1"]


# --- writing ------------------------------------------------------------------------------


async def test_set_review_removes_a_vote_on_behalf_of_the_voter(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    request = gerrit.SetReviewRequest(
        number=change.number,
        project="chromium/src",
        revision_id=change.current.revision,
        labels={"Commit-Queue": 0},
        tag="autogenerated:cq:full-run",
        notify=gerrit.Notify.NONE,
        on_behalf_of=VOTER,
    )
    result = await client.set_review(fake.host, request)
    assert result.labels == {"Commit-Queue": 0}
    sent = fake.requests[-1]
    assert sent.method == "POST"
    assert sent.raw_path == (
        f"/a/changes/chromium%2Fsrc~{change.number}/revisions/{change.current.revision}/review"
    )
    assert sent.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert sent.json == {
        "labels": {"Commit-Queue": 0},
        "ignore_automatic_attention_set_rules": True,
        "tag": "autogenerated:cq:full-run",
        "notify": "NONE",
        "on_behalf_of": VOTER,
    }
    assert change.current.votes["Commit-Queue"] == {}
    message = change.messages[-1]
    assert (message.author, message.real_author) == (VOTER, CV)
    assert message.message == "Patch Set 1: -Commit-Queue"


async def test_set_review_posts_a_message_with_notify_details(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    to = gerrit.NotifyDetailsRecipientType.TO
    details = gerrit.NotifyDetails(
        recipients=[
            gerrit.NotifyDetailsRecipient(
                recipient_type=to, info=gerrit.NotifyDetailsInfo(accounts=[VOTER, OWNER, VOTER])
            ),
            gerrit.NotifyDetailsRecipient(
                recipient_type=gerrit.NotifyDetailsRecipientType.BCC,
                info=gerrit.NotifyDetailsInfo(accounts=[]),
            ),
        ]
    )
    request = gerrit.SetReviewRequest(
        number=change.number,
        project="chromium/src",
        revision_id=change.current.revision,
        message="CQ is trying the patch.",
        tag="autogenerated:cq:dry-run",
        notify=gerrit.Notify.OWNER,
        notify_details=details,
    )
    await client.set_review(fake.host, request)
    assert fake.requests[-1].json == {
        "message": "CQ is trying the patch.",
        "tag": "autogenerated:cq:dry-run",
        "notify": "OWNER",
        "notify_details": {"TO": {"accounts": [OWNER, VOTER]}},
    }
    message = change.messages[-1]
    assert message.message == "Patch Set 1:\n\nCQ is trying the patch."
    assert (message.author, message.real_author, message.tag) == (
        CV,
        None,
        "autogenerated:cq:dry-run",
    )
    assert message.notify == "OWNER"


async def test_submit_revision_merges_with_an_empty_json_body(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    request = gerrit.SubmitRevisionRequest(
        number=change.number, project="chromium/src", revision_id=change.current.revision
    )
    info = await client.submit_revision(fake.host, request)
    assert info.status is gerrit.ChangeStatus.MERGED
    assert fake.requests[-1].json == {}
    assert fake.requests[-1].raw_path.endswith(f"/revisions/{change.current.revision}/submit")
    assert change.status == "MERGED"


# --- Gerrit's answers as errors -------------------------------------------------------------


async def test_on_behalf_of_without_labels_is_permission_denied(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    request = gerrit.SetReviewRequest(
        number=change.number, revision_id="current", message="hi", on_behalf_of=VOTER
    )
    with pytest.raises(GerritPermissionDenied) as caught:
        await client.set_review(fake.host, request)
    assert caught.value.code is Code.PERMISSION_DENIED
    assert f'label required to post review on behalf of "{VOTER}"' in caught.value.message


async def test_vote_removal_without_label_as_permission_is_permission_denied(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    fake.set_permissions(CV, label_as=())
    request = gerrit.SetReviewRequest(
        number=change.number,
        revision_id="current",
        labels={"Commit-Queue": 0},
        on_behalf_of=VOTER,
    )
    with pytest.raises(GerritPermissionDenied, match="not permitted to modify label"):
        await client.set_review(fake.host, request)
    assert len(fake.requests) == 1  # permanent: not retried


async def test_vote_on_merged_change_is_failed_precondition(
    client: GerritClient, fake: FakeGerrit, change: Change
) -> None:
    fake.set_status(change.number, "MERGED")
    request = gerrit.SetReviewRequest(
        number=change.number, revision_id="current", labels={"Commit-Queue": 0}, on_behalf_of=VOTER
    )
    with pytest.raises(GerritConflict) as caught:
        await client.set_review(fake.host, request)
    assert caught.value.code is Code.FAILED_PRECONDITION
    assert "Voting on labels disallowed after submit: Commit-Queue" in caught.value.message


@pytest.mark.parametrize(
    ("setup", "error", "text"),
    [
        pytest.param("new_patchset", GerritConflict, "is not current revision", id="not-current"),
        pytest.param("merged", GerritConflict, "change is merged", id="merged"),
        pytest.param("abandoned", GerritConflict, "change is abandoned", id="abandoned"),
        pytest.param("no_permission", GerritPermissionDenied, "submit not permitted", id="403"),
        pytest.param("blocked", GerritConflict, "blocked by Code-Review", id="blocked"),
    ],
)
async def test_submit_refusals(
    client: GerritClient,
    fake: FakeGerrit,
    change: Change,
    setup: str,
    error: type[GerritError],
    text: str,
) -> None:
    revision = change.current.revision
    if setup == "new_patchset":
        fake.new_patchset(change.number)
    elif setup in ("merged", "abandoned"):
        fake.set_status(change.number, setup.upper())
    elif setup == "no_permission":
        fake.set_permissions(CV, submit=False)
    else:
        fake.block_submit(change.number)
    request = gerrit.SubmitRevisionRequest(
        number=change.number, project="chromium/src", revision_id=revision
    )
    with pytest.raises(error, match=text):
        await client.submit_revision(fake.host, request)
    assert len(fake.requests_matching("POST")) == 1


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        pytest.param(400, GerritInvalidArgument, Code.INVALID_ARGUMENT, id="400"),
        pytest.param(403, GerritPermissionDenied, Code.PERMISSION_DENIED, id="403"),
        pytest.param(404, GerritNotFound, Code.NOT_FOUND, id="404"),
        pytest.param(409, GerritConflict, Code.FAILED_PRECONDITION, id="409"),
        pytest.param(412, GerritPreconditionFailed, Code.FAILED_PRECONDITION, id="412"),
        pytest.param(422, GerritError, Code.INTERNAL, id="422"),
    ],
)
async def test_permanent_errors_are_not_retried(
    client: GerritClient,
    fake: FakeGerrit,
    sleep: RecordingSleep,
    change: Change,
    status: int,
    error: type[GerritError],
    code: Code,
) -> None:
    fake.fail_next(1, status, text="nope")
    with pytest.raises(error) as caught:
        await client.get_change(fake.host, change.number)
    assert type(caught.value) is error
    assert caught.value.code is code
    assert caught.value.http_status == status
    assert caught.value.message == (
        f"GET {fake.host}/changes/{change.number}: Gerrit HTTP {status}: nope"
    )
    assert len(fake.requests) == 1
    assert sleep.delays == []


async def test_unknown_change_is_not_found(client: GerritClient, fake: FakeGerrit) -> None:
    with pytest.raises(GerritNotFound, match="Not found: chromium/src~999"):
        await client.get_change(fake.host, 999, project="chromium/src")
