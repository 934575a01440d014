"""Builders for test data (Gerrit changes, CLs, Runs) and a small multi-protocol RPC caller."""

# ruff: noqa: F401  (Dep and DepKind are re-exported for tests)

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import strategies as st

from cvmigrate.changelist.snapshot import Dep, DepKind, Snapshot, deps_to_json, encode_snapshot
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import gerrit as gerrit_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codec import JsonStyle, decode_binary, decode_json, encode_json
from cvmigrate.rpc.codes import Code, code_from_connect, code_from_twirp
from cvmigrate.rpc.methods import MIGRATION_METHODS
from cvmigrate.runs.create import NewRunCL, new_run
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status
from cvmigrate.store import cls as cls_store
from cvmigrate.store import runs as runs_store

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
HOST = "chromium-review.googlesource.com"


def change_info(
    number: int,
    *,
    project: str = "chromium/src",
    revision: str | None = None,
    patchset: int = 1,
    voter: int = 1001,
    vote_value: int = 1,
    vote_time: datetime = T0,
    messages: Sequence[tuple[datetime, str]] = (),
) -> gerrit_pb.ChangeInfo:
    """A trimmed ChangeInfo with one CQ vote and the given messages."""
    revision = revision or f"rev-{number:06d}-{patchset:03d}"
    return gerrit_pb.ChangeInfo(
        number=number,
        project=project,
        ref="refs/heads/main",
        status=gerrit_pb.ChangeStatus.NEW,
        owner=gerrit_pb.AccountInfo(account_id=voter, email=f"u{voter}@example.com"),
        current_revision=revision,
        revisions={
            revision: gerrit_pb.RevisionInfo(
                number=patchset,
                created=vote_time - timedelta(hours=1),
                commit=gerrit_pb.CommitInfo(message=f"Change {number}\n\nBody.\n"),
            )
        },
        labels={
            "Commit-Queue": gerrit_pb.LabelInfo(
                all=[
                    gerrit_pb.ApprovalInfo(
                        user=gerrit_pb.AccountInfo(account_id=voter, email=f"u{voter}@example.com"),
                        value=vote_value,
                        date=vote_time,
                    )
                ]
            )
        },
        messages=[
            gerrit_pb.ChangeMessageInfo(id=f"m{i}", date=date, message=text)
            for i, (date, text) in enumerate(messages)
        ],
        created=vote_time - timedelta(days=1),
        updated=vote_time,
    )


def put_cl(
    conn: sqlite3.Connection,
    info: gerrit_pb.ChangeInfo,
    *,
    host: str = HOST,
    deps: Sequence[Dep] = (),
    files: Sequence[str] = ("a.txt",),
    now: datetime = T0,
) -> tuple[int, Snapshot]:
    """Store (or refresh) a CL snapshot; returns its CLID and the snapshot."""
    cl_id = cls_store.get_or_create_clid(conn, host, info.number, now)
    patchset = info.revisions[info.current_revision].number
    snapshot = Snapshot(
        host=host,
        info=info,
        patchset=patchset,
        min_equivalent_patchset=patchset,
        files=tuple(files),
        deps=tuple(sorted(deps, key=lambda d: d.cl_id)),
    )
    cls_store.put_cl_snapshot(conn, cl_id, patchset, encode_snapshot(cl_id, snapshot), now)
    conn.execute("UPDATE cls SET deps = ? WHERE id = ?", (deps_to_json(snapshot.deps), cl_id))
    return cl_id, snapshot


def create_run(
    conn: sqlite3.Connection,
    *,
    project: str = "chromium",
    changes: Sequence[gerrit_pb.ChangeInfo],
    mode: str = "DRY_RUN",
    created_at: datetime = T0,
    status: Status = Status.RUNNING,
    deps: dict[int, Sequence[Dep]] | None = None,
    host: str = HOST,
) -> Run:
    """Store CLs and a Run over them, as the poller will."""
    new_cls = []
    for info in changes:
        cl_id, snapshot = put_cl(conn, info, host=host, deps=(deps or {}).get(info.number, ()))
        vote = info.labels["Commit-Queue"].all[0]
        trigger = Trigger(
            time=vote.date,
            mode=mode,
            email=vote.user.email,
            gerrit_account_id=vote.user.account_id,
        )
        new_cls.append(NewRunCL(cl_id=cl_id, snapshot=snapshot, trigger=trigger))
    run, stored = new_run(
        project=project, config_group="main", cls=new_cls, created_at=created_at, status=status
    )
    runs_store.insert_run(conn, run, stored, created_at)
    return run


def set_status(conn: sqlite3.Connection, run_id: str, status: Status) -> None:
    conn.execute("UPDATE runs SET status = ? WHERE id = ?", (int(status), run_id))


def execute_sql(conn: sqlite3.Connection, sql: str, parameters: Sequence[Any] = ()) -> None:
    """One SQL statement, as `db.write(execute_sql, sql, parameters)` (Database.write needs a
    module-level function whose result pickles: not conn.execute's cursor)."""
    conn.execute(sql, parameters)


# ---- calling the service over HTTP in each protocol ----

PROTOCOLS = ("prpc", "twirp", "connect")


class Reply:
    """A decoded answer: `code` plus the response message or the error message."""

    def __init__(self, code: Code, message: Any = None, error: str = "", raw: Any = None):
        self.code = code
        self.message = message
        self.error = error
        self.raw = raw

    def __repr__(self) -> str:
        return f"Reply({self.code.name}, {self.error or self.message!r})"


def call(
    base_url: str,
    method: str,
    request: Any,
    *,
    protocol: str = "prpc",
    token: str | None = None,
    headers: dict[str, str] | None = None,
    json_body: bool = False,
    gzip_body: bool = False,
    timeout: float = 30,
) -> Reply:
    """Call `method` with `request` (a betterproto2 message) and decode the answer."""
    info = MIGRATION_METHODS[method]
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if json_body:
        body = encode_json(request, JsonStyle.PROTO3)
        content_type = "application/json"
    else:
        body = bytes(request)
        content_type = {
            "prpc": "application/prpc; encoding=binary",
            "twirp": "application/protobuf",
            "connect": "application/proto",
        }[protocol]
    if gzip_body:
        body = gzip.compress(body)
        sent["Content-Encoding"] = "gzip"
    sent["Content-Type"] = content_type
    if protocol == "prpc":
        sent.setdefault("Accept", content_type)
        url = f"{base_url}/prpc/migration.Migration/{method}"
    elif protocol == "twirp":
        url = f"{base_url}/twirp/migration.Migration/{method}"
    else:
        sent["Connect-Protocol-Version"] = "1"
        url = f"{base_url}/migration.Migration/{method}"
    response = httpx.post(url, content=body, headers=sent, timeout=timeout)
    return decode_reply(protocol, response, info.response_type, json_body=json_body)


def decode_reply(
    protocol: str, response: httpx.Response, response_type: Any, *, json_body: bool
) -> Reply:
    if protocol == "prpc":
        code = Code(int(response.headers["x-prpc-grpc-code"]))
        if code is not Code.OK:
            return Reply(code, error=response.text.rstrip("\n"), raw=response)
        if json_body:
            assert response.content.startswith(b")]}'\n")
            return Reply(code, decode_json(response_type, response.content[5:]), raw=response)
        return Reply(code, decode_binary(response_type, response.content), raw=response)
    if response.status_code != 200:
        payload = response.json()
        if protocol == "twirp":
            code = code_from_twirp(payload["code"])
            return Reply(code or Code.UNKNOWN, error=payload["msg"], raw=response)
        code = code_from_connect(payload["code"])
        return Reply(code or Code.UNKNOWN, error=payload.get("message", ""), raw=response)
    if json_body:
        return Reply(Code.OK, decode_json(response_type, response.content), raw=response)
    return Reply(Code.OK, decode_binary(response_type, response.content), raw=response)


def as_upb(request: Any) -> Any:
    """A betterproto2 request as the server hands it to its handler when the method has
    `request_upb` (rpc/methods.py): parsed by the official runtime; others unchanged."""
    for method in MIGRATION_METHODS.values():
        if type(request) is method.request_type and method.request_upb is not None:
            return method.request_upb.FromString(bytes(request))
    return request


def mutate(body: bytes, data: Any) -> bytes:
    """`body` flipped, truncated, grown or replaced at random (`data`: hypothesis st.data())."""
    choice = data.draw(st.sampled_from(["flip", "truncate", "insert", "random", "same"]))
    if choice == "random" or not body:
        return data.draw(st.binary(max_size=300))
    if choice == "flip":
        index = data.draw(st.integers(0, len(body) - 1))
        return (
            body[:index] + bytes([body[index] ^ data.draw(st.integers(1, 255))]) + body[index + 1 :]
        )
    if choice == "truncate":
        return body[: data.draw(st.integers(0, len(body) - 1))]
    if choice == "insert":
        index = data.draw(st.integers(0, len(body)))
        return body[:index] + data.draw(st.binary(min_size=1, max_size=20)) + body[index:]
    return body


class Clock:
    """A clock tests move by hand; starts at `now`, or at the current second (for tests
    whose fake Gerrit dates votes with the real time)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now if now is not None else datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def finished_request(run: Run) -> migration_pb.ReportFinishedRunRequest:
    """ReportFinishedRun for `run`: its attempt succeeded, one Gerrit change."""
    return migration_pb.ReportFinishedRunRequest(
        run=migration_pb.ReportedRun(
            id=run.id,
            attempt=bigquery_pb.Attempt(
                key=run.attempt_key,
                luci_project=run.project,
                status=bigquery_pb.AttemptStatus.SUCCESS,
                gerrit_changes=[bigquery_pb.GerritChange(host="h", change=1)],
            ),
        )
    )
