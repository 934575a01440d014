"""The ASGI apps served side by side with cvmigrate by `bench.serve` (same hypercorn set-up).

- `bare`: reads the body and answers a canned response of the real size for the path (the
  stack's limit: hypercorn, HTTP/1.1 and the client, with no RPC work at all);
- `peer`: FetchActiveRuns and ReportVerifiedRun served by connectrpc 0.13 with the official
  protobuf runtime, from the same database through the same `cvmigrate.store` functions, so
  the difference is the RPC stack and codec (the way a user might build it instead);
- `cvmigrate`: cvmigrate's own `create_app`, for trying hypercorn's worker options.

Each is built at import time from environment variables set by `bench.serve`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

__all__ = ["build"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

CANNED_ENV: Final = "BENCH_CANNED"
"""JSON file: a list of {path, request_sha1 (null: any request), status, content_type,
body_file (next to it), grpc_code (null: no pRPC header)}."""
PB_DIR_ENV: Final = "BENCH_PB_DIR"
DATASET_ENV: Final = "BENCH_DATASET"


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def bare_app(canned_path: Path) -> Asgi:
    """Answers each known path (and request, where one was captured per request) with its
    canned response after reading the whole body."""
    table: dict[tuple[str, str | None], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
    for entry in json.loads(canned_path.read_text(encoding="utf-8")):
        body = (canned_path.parent / entry["body_file"]).read_bytes()
        headers = [
            (b"content-type", entry["content_type"].encode()),
            (b"content-length", b"%d" % len(body)),
        ]
        if entry["grpc_code"] is not None:
            headers += [(b"x-prpc-grpc-code", str(entry["grpc_code"]).encode())]
            headers += [(b"x-content-type-options", b"nosniff")]
        table[(entry["path"], entry["request_sha1"])] = (entry["status"], headers, body)
    by_request = {path for path, sha1 in table if sha1 is not None}
    missing = (404, [(b"content-type", b"text/plain"), (b"content-length", b"10")], b"not found\n")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        more, parts = True, []
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        path = scope["path"]
        found = None
        if path in by_request:
            found = table.get((path, hashlib.sha1(b"".join(parts)).hexdigest()))  # noqa: S324
        status, headers, body = found or table.get((path, None), missing)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def peer_app(pb_dir: Path, dataset_path: Path) -> Asgi:
    """connectrpc's ASGI app answering FetchActiveRuns and ReportVerifiedRun."""
    from connectrpc.code import Code
    from connectrpc.errors import ConnectError
    from google.protobuf.empty_pb2 import Empty

    from bench import pbgen
    from cvmigrate.store import cls as cls_store
    from cvmigrate.store import events, reports
    from cvmigrate.store import runs as runs_store
    from cvmigrate.store.db import Database

    pb = pbgen.load(pb_dir)
    dataset = json.loads(dataset_path.read_text(encoding="utf-8"))
    tokens = {
        hashlib.sha256(token.encode()).hexdigest(): project
        for project, token in dataset["tokens"].items()
    }

    def caller_project(ctx: Any) -> str:
        scheme, _, token = (ctx.request_headers.get("authorization") or "").partition(" ")
        project = tokens.get(hashlib.sha256(token.strip().encode()).hexdigest())
        if scheme.lower() != "bearer" or project is None:
            raise ConnectError(Code.UNAUTHENTICATED, "invalid token")
        return project

    class PeerService(pb.connect.Migration):  # type: ignore[misc,name-defined]
        """The two methods measured; the others answer UNIMPLEMENTED (generated)."""

        def __init__(self, db: Database) -> None:
            self.db = db

        async def fetch_active_runs(self, request: Any, ctx: Any) -> Any:
            if caller_project(ctx) != request.luci_project:
                raise ConnectError(Code.PERMISSION_DENIED, "not your project")

            def load(conn: sqlite3.Connection) -> Any:
                rows = runs_store.load_active_runs(conn, request.luci_project, encoding="pb")
                fyi_ids = {d for row in rows for d in row.dep_ids} - {
                    cl.cl_id for row in rows for cl in row.cls
                }
                return rows, cls_store.load_cl_records(conn, fyi_ids) if fyi_ids else {}

            rows, records = await self.db.read(load)
            response = pb.migration.FetchActiveRunsResponse()
            for row in rows:
                run = response.active_runs.add(id=row.run_id)
                own = {cl.cl_id for cl in row.cls}
                for cl in row.cls:
                    run.cls.add().MergeFromString(cl.pb)
                for dep_id in row.dep_ids:
                    if dep_id not in own:
                        run.fyi_deps.add().MergeFromString(records[dep_id].snapshot.pb)
            return response

        async def report_verified_run(self, request: Any, ctx: Any) -> Any:
            caller = caller_project(ctx)
            run_id, attempt_key = request.run.id, request.run.attempt.key
            found = await self.db.read(lambda c: runs_store.locate_run(c, run_id, attempt_key))
            if found is None:
                raise ConnectError(Code.NOT_FOUND, f'Run "{run_id}" does not exist')
            if found.project != caller:
                raise ConnectError(Code.PERMISSION_DENIED, "not your project")
            request.run.id = ""
            payload = request.SerializeToString()
            now = datetime.now(UTC)

            def save(conn: sqlite3.Connection) -> None:
                if reports.insert_verified_if_absent(conn, found.id, payload, now):
                    events.enqueue_event(
                        conn,
                        found.id,
                        "cqd_verification_completed",
                        now,
                        payload={"action": int(request.action)},
                    )

            await self.db.write(save)
            return Empty()

    async def service() -> AsyncIterator[PeerService]:
        db = await Database.open(dataset["db_path"])
        try:
            yield PeerService(db)
        finally:
            await db.close()

    return pb.connect.MigrationASGIApplication(service())  # type: ignore[no-any-return]


def cvmigrate_app() -> Asgi:
    """cvmigrate's app from $CVMIGRATE_CONFIG, as `cvmigrate serve` builds it."""
    from cvmigrate.app import create_app
    from cvmigrate.config import load_settings

    return create_app(load_settings(os.environ["CVMIGRATE_CONFIG"]))  # type: ignore[return-value]


def build(name: str) -> Asgi:
    """The app called `name`, configured from the environment."""
    if name == "bare":
        return bare_app(Path(os.environ[CANNED_ENV]))
    if name == "peer":
        return peer_app(Path(os.environ[PB_DIR_ENV]), Path(os.environ[DATASET_ENV]))
    if name == "cvmigrate":
        return cvmigrate_app()
    raise ValueError(f"unknown app {name!r}")


_APP_ENV: Final = "BENCH_APP"
app: Asgi | None = build(os.environ[_APP_ENV]) if _APP_ENV in os.environ else None
"""The app hypercorn workers load (`bench.apps:app`), chosen by $BENCH_APP."""
