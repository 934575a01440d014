"""The fake Gerrit itself, over raw HTTP: what other tests rely on it to do like Gerrit."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.gerrit import Change, FakeGerrit

from cvmigrate.gerrit.convert import format_gerrit_timestamp

CV, OWNER, VOTER = 1000, 1001, 1002
AUTH = {"Authorization": "Bearer cv-token"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fake(fake_gerrit: FakeGerrit) -> FakeGerrit:
    fake_gerrit.add_account(CV, label_as={"Commit-Queue"}, submit=True)
    fake_gerrit.add_account(OWNER, email="alice@example.com", name="Alice", username="alice")
    fake_gerrit.add_account(VOTER, secondary_emails=["bob@corp.example.com"])
    fake_gerrit.allow_bearer("cv-token", CV)
    return fake_gerrit


@pytest.fixture
async def http(fake: FakeGerrit) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake.base_url) as session:
        yield session


@pytest.fixture
def change(fake: FakeGerrit) -> Change:
    created = fake.add_change(owner=OWNER, project="chromium/src", number=42)
    fake.vote(42, "Commit-Queue", VOTER, 1)
    return created


async def get_json(http: aiohttp.ClientSession, path: str, params: Any = None) -> Any:
    async with http.get(path, params=params, headers=AUTH) as response:
        text = await response.text()
        assert response.status == 200, text
        assert text.startswith(")]}'\n")
        return json.loads(text[4:])


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, str]:
    async with http.post(path, json=body, headers=AUTH) as response:
        return response.status, await response.text()


# --- protocol ---------------------------------------------------------------------------------


async def test_errors_are_plain_text_and_auth_is_checked_under_a(
    http: aiohttp.ClientSession, change: Change
) -> None:
    async with http.get("/a/changes/42", headers={"Authorization": "Bearer wrong"}) as response:
        assert response.status == 401
    async with http.get("/a/changes/42") as response:
        assert response.status == 401
    async with http.get("/changes/42") as response:  # anonymous read is fine
        assert response.status == 200
    async with http.get("/a/changes/777", headers=AUTH) as response:
        assert response.status == 404
        assert response.content_type == "text/plain"
        assert (await response.text()) == "Not found: 777\n"


async def test_change_ids_project_number_and_change_id(
    http: aiohttp.ClientSession, change: Change
) -> None:
    by_project = await get_json(http, "/a/changes/chromium%2Fsrc~42")
    assert by_project["_number"] == 42
    by_change_id = await get_json(http, f"/a/changes/{change.change_id}")
    assert by_change_id["id"] == "chromium%2Fsrc~42"
    async with http.get("/a/changes/other~42", headers=AUTH) as response:
        assert response.status == 404


async def test_output_depends_on_options(http: aiohttp.ClientSession, change: Change) -> None:
    bare = await get_json(http, "/a/changes/42")
    assert bare["owner"] == {"_account_id": OWNER}
    for key in ("revisions", "current_revision", "messages", "labels", "submittable"):
        assert key not in bare
    current = await get_json(http, "/a/changes/42", [("o", "CURRENT_REVISION")])
    revision = current["revisions"][current["current_revision"]]
    assert "commit" not in revision and "files" not in revision
    full = await get_json(
        http,
        "/a/changes/42",
        [("o", o) for o in ("CURRENT_REVISION", "CURRENT_COMMIT", "CURRENT_FILES",
                            "DETAILED_LABELS", "DETAILED_ACCOUNTS", "MESSAGES", "SUBMITTABLE")],
    )  # fmt: skip
    revision = full["revisions"][full["current_revision"]]
    assert revision["commit"]["parents"][0]["commit"]
    assert revision["files"] == {
        "src/main.cc": {"lines_inserted": 1, "size_delta": 10, "size": 100}
    }
    assert full["owner"]["email"] == "alice@example.com"
    assert full["submittable"] is True
    cq = full["labels"]["Commit-Queue"]
    assert cq["values"] == {" 0": "Not ready", "+1": "Dry run", "+2": "Commit"}
    assert [(a["_account_id"], a["value"]) for a in cq["all"]] == [(VOTER, 1)]
    assert cq["all"][0]["secondary_emails"] == ["bob@corp.example.com"]
    assert [m["message"] for m in full["messages"]] == [
        "Uploaded patch set 1.",
        "Patch Set 1: Commit-Queue+1",
    ]
    labels_only = await get_json(http, "/a/changes/42", [("o", "LABELS")])
    assert "all" not in labels_only["labels"]["Commit-Queue"]
    assert labels_only["labels"]["Commit-Queue"]["recommended"] == {"_account_id": VOTER}


async def test_all_revisions_and_commits(
    http: aiohttp.ClientSession, fake: FakeGerrit, change: Change
) -> None:
    fake.new_patchset(42, kind="TRIVIAL_REBASE")
    data = await get_json(http, "/a/changes/42", [("o", "ALL_REVISIONS"), ("o", "CURRENT_COMMIT")])
    by_number = {r["_number"]: r for r in data["revisions"].values()}
    assert set(by_number) == {1, 2}
    assert by_number[2]["kind"] == "TRIVIAL_REBASE"
    assert "commit" in by_number[2] and "commit" not in by_number[1]
    assert by_number[2]["ref"] == "refs/changes/42/42/2"


async def test_unknown_option_is_bad_request(http: aiohttp.ClientSession, change: Change) -> None:
    async with http.get("/a/changes/42", params={"o": "BOGUS"}, headers=AUTH) as response:
        assert response.status == 400


# --- query ------------------------------------------------------------------------------------


@pytest.fixture
def population(fake: FakeGerrit) -> dict[str, int]:
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    numbers = {}
    for i, (name, project, status, cq) in enumerate(
        [
            ("dry", "chromium/src", "NEW", 1),
            ("full", "chromium/src", "NEW", 2),
            ("idle", "chromium/src", "NEW", 0),
            ("other", "v8/v8", "NEW", 2),
            ("landed", "chromium/src", "MERGED", 0),
        ]
    ):
        created = fake.add_change(owner=OWNER, project=project, subject=name,
                                  created=start + datetime.timedelta(hours=i))  # fmt: skip
        if cq:
            fake.vote(created.number, "Commit-Queue", VOTER, cq,
                      date=start + datetime.timedelta(hours=i, minutes=1))  # fmt: skip
        created.status = status
        numbers[name] = created.number
    return numbers


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status:NEW", {"dry", "full", "idle", "other"}),
        ("status:merged", {"landed"}),
        ("is:closed", {"landed"}),
        ('status:NEW label:Commit-Queue>0 project:"chromium/src"', {"dry", "full"}),
        ("label:Commit-Queue=2", {"full", "other"}),
        ("label:Commit-Queue+1", {"dry"}),
        ("label:Commit-Queue>=1 -project:v8/v8", {"dry", "full"}),
        ('(project:v8/v8 OR project:"chromium/src") label:Commit-Queue>1', {"full", "other"}),
        ("projects:chromium status:open", {"dry", "full", "idle"}),
        ('after:"2024-01-01 00:30:00.000000000" status:NEW', {"full", "idle", "other"}),
        ('after:"2024-01-01 01:30:00 +0100"', {"full", "idle", "other", "landed"}),
        ('before:"2024-01-01 00:30:00"', {"dry"}),
        ("NOT status:NEW AND project:chromium/src", {"landed"}),
    ],
)
async def test_query_language(
    http: aiohttp.ClientSession, population: dict[str, int], query: str, expected: set[str]
) -> None:
    result = await get_json(http, "/a/changes/", {"q": query})
    names = {
        name for name, number in population.items() if number in {c["_number"] for c in result}
    }
    assert names == expected


@pytest.mark.parametrize("query", ["foo:bar", "label:Nope>0", "(status:NEW", 'project:"x', ""])
async def test_bad_queries_are_bad_requests(
    http: aiohttp.ClientSession, population: dict[str, int], query: str
) -> None:
    async with http.get("/a/changes/", params={"q": query}, headers=AUTH) as response:
        assert response.status == 400


async def test_query_orders_by_update_and_pages(
    http: aiohttp.ClientSession, population: dict[str, int]
) -> None:
    first = await get_json(http, "/a/changes/", {"q": "status:NEW", "n": "3"})
    assert [c["subject"] for c in first] == ["other", "idle", "full"]
    assert first[-1]["_more_changes"] is True
    rest = await get_json(http, "/a/changes/", {"q": "status:NEW", "n": "3", "S": "3"})
    assert [c["subject"] for c in rest] == ["dry"]
    assert "_more_changes" not in rest[-1]
    both = await get_json(http, "/a/changes/", [("q", "status:merged"), ("q", "project:v8/v8")])
    assert [[c["subject"] for c in page] for page in both] == [["landed"], ["other"]]


# --- review -----------------------------------------------------------------------------------


REVIEW = "/a/changes/chromium%2Fsrc~42/revisions/current/review"


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"message": "x", "on_behalf_of": VOTER}, 403,
         f'label required to post review on behalf of "{VOTER}"'),
        ({"labels": {"Code-Review": 0}, "on_behalf_of": VOTER}, 403,
         f'not permitted to modify label "Code-Review" on behalf of "{VOTER}"'),
        ({"labels": {"Nope": 1}}, 400, 'label "Nope" is not a configured label'),
        ({"labels": {"Commit-Queue": 3}}, 400, 'label "Commit-Queue": 3 is not a valid value'),
        ({"labels": {"Commit-Queue": 0}, "on_behalf_of": 99999}, 422, "Account '99999' not found"),
        ({"message": "x", "notify": "EVERYONE"}, 400, "Invalid notify: EVERYONE"),
        ({"message": "é" * 9000}, 400, "Comment size exceeds limit (18000 > 16384)"),
    ],
)  # fmt: skip
async def test_review_refusals(
    http: aiohttp.ClientSession, change: Change, body: Any, status: int, text: str
) -> None:
    assert await post(http, REVIEW, body) == (status, text + "\n")
    assert len(change.messages) == 2  # nothing posted


async def test_review_needs_json_content_type(http: aiohttp.ClientSession, change: Change) -> None:
    async with http.post(REVIEW, data=b'{"message": "x"}', headers=AUTH) as response:
        assert response.status == 400
    async with http.post(
        REVIEW, data=b"{", headers={**AUTH, "Content-Type": "application/json"}
    ) as response:
        assert (response.status, await response.text()) == (
            400,
            "Invalid application/json in request\n",
        )


async def test_review_on_behalf_of_removes_vote_and_records_message(
    http: aiohttp.ClientSession, fake: FakeGerrit, change: Change
) -> None:
    body = {
        "labels": {"Commit-Queue": 0},
        "on_behalf_of": VOTER,
        "tag": "autogenerated:cq:dry-run",
        "notify": "NONE",
        "notify_details": {"TO": {"accounts": [VOTER]}},
        "message": "Dry run: This CL passed the CQ dry run.",
    }
    status, text = await post(http, REVIEW, body)
    assert status == 200
    assert json.loads(text[4:]) == {"labels": {"Commit-Queue": 0}}
    assert change.current.votes["Commit-Queue"] == {}
    message = change.messages[-1]
    assert message.message == (
        "Patch Set 1: -Commit-Queue\n\nDry run: This CL passed the CQ dry run."
    )
    assert (message.author, message.real_author, message.tag) == (
        VOTER,
        CV,
        "autogenerated:cq:dry-run",
    )
    assert (message.notify, message.notify_details) == ("NONE", {"TO": {"accounts": [VOTER]}})
    data = await get_json(http, "/a/changes/42", [("o", "MESSAGES")])
    assert data["messages"][-1]["real_author"] == {"_account_id": CV}
    # Removing a vote that is gone already is a no-op, not an error.
    messages_before = len(change.messages)
    assert (await post(http, REVIEW, {"labels": {"Commit-Queue": 0}, "on_behalf_of": VOTER}))[
        0
    ] == 200
    assert len(change.messages) == messages_before


@pytest.mark.parametrize(
    ("status", "labels", "code", "text"),
    [
        ("ABANDONED", {"Commit-Queue": 0}, 409, "change is closed"),
        ("MERGED", {"Commit-Queue": 0}, 409,
         "Voting on labels disallowed after submit: Commit-Queue"),
        ("MERGED", {"Code-Review": -1}, 409,
         "Cannot reduce vote on labels for closed change: Code-Review"),
        ("MERGED", {}, 200, None),
    ],
)  # fmt: skip
async def test_votes_on_closed_changes(
    http: aiohttp.ClientSession,
    fake: FakeGerrit,
    change: Change,
    status: str,
    labels: dict[str, int],
    code: int,
    text: str | None,
) -> None:
    fake.vote(42, "Code-Review", CV, 1)
    fake.set_status(42, status)
    body: dict[str, Any] = {"message": "late", "labels": labels}
    if "Commit-Queue" in labels:
        body["on_behalf_of"] = VOTER
    answer_status, answer = await post(http, REVIEW, body)
    assert answer_status == code
    if text is not None:
        assert answer == text + "\n"


async def test_review_on_change_edit_is_conflict(
    http: aiohttp.ClientSession, change: Change
) -> None:
    path = "/a/changes/42/revisions/edit/review"
    assert (await post(http, path, {"message": "x"}))[0] == 409


async def test_new_patchset_drops_votes_unless_kept(fake: FakeGerrit, change: Change) -> None:
    fake.vote(42, "Code-Review", CV, 2)
    fake.new_patchset(42, keep_votes=["Code-Review"])
    assert set(change.current.votes) == {"Code-Review"}
    assert change.messages[-1].message == "Uploaded patch set 2."


# --- submit -----------------------------------------------------------------------------------


async def test_submit_merges_unmerged_parents_too(
    http: aiohttp.ClientSession, fake: FakeGerrit
) -> None:
    base = fake.add_change(owner=OWNER, number=50)
    top = fake.add_change(owner=OWNER, number=51, parents=[base.current.revision])
    status, text = await post(http, f"/a/changes/51/revisions/{top.current.revision}/submit", {})
    assert status == 200
    assert json.loads(text[4:])["status"] == "MERGED"
    assert (base.status, top.status) == ("MERGED", "MERGED")
    assert top.submitter == CV and top.submitted is not None


async def test_submit_with_outdated_parent_is_conflict(
    http: aiohttp.ClientSession, fake: FakeGerrit
) -> None:
    base = fake.add_change(owner=OWNER, number=50)
    top = fake.add_change(owner=OWNER, number=51, parents=[base.current.revision])
    fake.new_patchset(50)
    status, text = await post(http, f"/a/changes/51/revisions/{top.current.revision}/submit", {})
    assert (status, text) == (409, "Depends on change that was not submitted.\n")


# --- faults and log -----------------------------------------------------------------------------


async def test_faults_match_by_path_and_count(
    http: aiohttp.ClientSession, fake: FakeGerrit, change: Change
) -> None:
    fake.fail_next(1, 429, path_contains="/related")
    await get_json(http, "/a/changes/42")  # does not match
    async with http.get("/a/changes/42/revisions/current/related", headers=AUTH) as response:
        assert response.status == 429
        assert "rate limit" in await response.text()
    await get_json(http, "/a/changes/42/revisions/current/related")
    assert [r.status for r in fake.requests] == [200, 429, 200]
    assert (
        fake.requests_matching("GET", "/related")[0].headers["Authorization"] == "Bearer cv-token"
    )


async def test_timestamps_are_gerrit_formatted(
    http: aiohttp.ClientSession, fake: FakeGerrit
) -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC)
    fake.add_change(owner=OWNER, number=60, created=moment)
    data = await get_json(http, "/a/changes/60")
    assert data["created"] == "2024-05-06 07:08:09.123456000" == format_gerrit_timestamp(moment)


async def test_module_entry_point_serves_the_demo_seed() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.gerrit", "--port", "0", "--seed", "demo",
        "--bearer", "demo-token",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            first_line = (await proc.stdout.readline()).decode()
        assert " at http://" in first_line, first_line
        base_url = first_line.split(" at ", 1)[1].split()[0]
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": "Bearer demo-token"}
            async with session.get(f"{base_url}/a/changes/102", headers=headers) as response:
                assert response.status == 200
                assert json.loads((await response.text())[4:])["subject"] == "Land me"
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()
