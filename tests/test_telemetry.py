"""OpenTelemetry: the server span per RPC, its store children, context carried to
background work, metrics, structured logs, and OTLP/HTTP export to a loopback receiver."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from harness import TelemetryCapture, serve_in_thread, wait_for
from opentelemetry import trace
from support import call, change_info, create_run

from cvmigrate.app import create_app
from cvmigrate.auth import token_digest
from cvmigrate.config import load_settings
from cvmigrate.proto import bigquery as bigquery_pb
from cvmigrate.proto import migration as migration_pb
from cvmigrate.rpc.codes import Code
from cvmigrate.store import events, outbox
from cvmigrate.store.db import Database
from cvmigrate.telemetry import JsonLogFormatter

TOKEN = "cvm_telemetry-secret-token"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def capture() -> TelemetryCapture:
    return TelemetryCapture.install()


@pytest.fixture
def app_url(tmp_path: Path):
    db_path = tmp_path / "cv.db"
    config = tmp_path / "cv.toml"
    config.write_text(
        f'[database]\npath = "{db_path}"\n'
        f'[[auth.tokens]]\nidentity = "project:chromium"\nsha256 = "{token_digest(TOKEN)}"\n'
    )

    async def seed():
        db = await Database.open(db_path)
        try:
            return await db.write(create_run, changes=[change_info(1)])
        finally:
            await db.close()

    run = asyncio.run(seed())
    with serve_in_thread(create_app(load_settings(config, environ={}))) as url:
        yield url, run, db_path


def _all_attribute_values(spans) -> list[str]:
    values = []
    for span in spans:
        values.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            values.extend(str(v) for v in (event.attributes or {}).values())
    return values


def test_rpc_span_tree_and_context_stored_with_the_event(capture, app_url):
    url, run, db_path = app_url
    capture.spans.clear()
    request = migration_pb.ReportVerifiedRunRequest(
        run=migration_pb.ReportedRun(attempt=bigquery_pb.Attempt(key=run.attempt_key)),
        action=migration_pb.ReportVerifiedRunRequestAction.FAIL,
    )
    reply = call(
        url,
        "ReportVerifiedRun",
        request,
        token=TOKEN,
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"},
    )
    assert reply.code is Code.OK

    def finished():
        return [s for s in capture.spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]

    (server,) = wait_for(finished)
    assert server.name == "migration.Migration/ReportVerifiedRun"
    assert format(server.context.trace_id, "032x") == TRACE_ID  # incoming traceparent honoured
    assert format(server.parent.span_id, "016x") == PARENT_SPAN
    assert server.attributes["rpc.system"] == "prpc"
    assert server.attributes["rpc.service"] == "migration.Migration"
    assert server.attributes["rpc.method"] == "ReportVerifiedRun"
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["cv.run_id"] == run.id
    assert server.attributes["cv.luci_project"] == "chromium"
    assert server.attributes["cv.attempt_key"] == run.attempt_key

    children = [
        s
        for s in capture.spans.get_finished_spans()
        if s.parent and s.parent.span_id == server.context.span_id
    ]
    operations = {(s.name, s.attributes["db.operation.name"]) for s in children}
    # The Run is looked up inside the write's transaction: one store span.
    assert operations == {("store.write", "report_verified_run_save.save_verified")}
    assert all(s.attributes["db.system"] == "sqlite" for s in children)

    conn = sqlite3.connect(db_path)
    (event,) = events.list_events(conn, run_id=run.id)
    conn.close()
    assert event.trace_context == f"00-{TRACE_ID}-{server.context.span_id:016x}-01"

    assert not any(
        TOKEN in value for value in _all_attribute_values(capture.spans.get_finished_spans())
    )


def test_rpc_error_codes_and_duration_metric(capture, app_url):
    url, _, _ = app_url
    reply = call(
        url, "FetchRunStatus", migration_pb.FetchRunStatusRequest(), protocol="connect", token=TOKEN
    )
    assert reply.code is Code.INVALID_ARGUMENT
    spans = wait_for(
        lambda: [
            s for s in capture.spans.get_finished_spans() if s.name.endswith("/FetchRunStatus")
        ]
    )
    assert spans[-1].attributes["rpc.system"] == "connect_rpc"
    assert spans[-1].attributes["rpc.grpc.status_code"] == int(Code.INVALID_ARGUMENT)

    points = capture.metric_points("rpc.server.duration")
    labels = [dict(p.attributes) for p in points]
    assert {
        "rpc.system": "connect_rpc",
        "rpc.method": "FetchRunStatus",
        "rpc.grpc.status_code": 3,
    } in labels
    assert all(TOKEN not in json.dumps(label) for label in labels)


def test_json_logs_carry_trace_ids_and_no_token(capture, app_url):
    url, _, _ = app_url
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        # An unmatched ReportFinishedRun logs a warning inside the RPC's span.
        request = migration_pb.ReportFinishedRunRequest(
            run=migration_pb.ReportedRun(
                attempt=bigquery_pb.Attempt(
                    key="feedfacefeedface",
                    luci_project="chromium",
                    gerrit_changes=[bigquery_pb.GerritChange(host="h", change=1)],
                )
            )
        )
        assert call(url, "ReportFinishedRun", request, token=TOKEN).code is Code.OK
        wait_for(lambda: any("feedfacefeedface" in line for line in lines))
    finally:
        root.removeHandler(handler)
    entry = json.loads(next(line for line in lines if "feedfacefeedface" in line))
    assert entry["level"] == "WARNING"
    assert len(entry["trace_id"]) == 32 and len(entry["span_id"]) == 16
    assert all(TOKEN not in line for line in lines)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_http_export_to_loopback_receiver(server_factory):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        server = server_factory(
            env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
                "OTEL_SERVICE_NAME": "cvmigrate-test",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            }
        )
        reply = call(
            server.base_url,
            "FetchActiveRuns",
            migration_pb.FetchActiveRunsRequest(luci_project="chromium"),
        )
        assert reply.code is Code.OK

        def exported_names() -> set[str]:
            names = set()
            for path, body in list(_Receiver.received):
                if path != "/v1/traces":
                    continue
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    service = {
                        a.key: a.value.string_value for a in resource_spans.resource.attributes
                    }
                    assert service["service.name"] == "cvmigrate-test"
                    for scope in resource_spans.scope_spans:
                        names.update(span.name for span in scope.spans)
            return names

        names = wait_for(
            lambda: "migration.Migration/FetchActiveRuns" in exported_names() and exported_names()
        )
        assert "store.read" in names
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


GERRIT_TOKEN = "cvm-gerrit-telemetry-secret"


async def test_post_gerrit_message_trace_reaches_gerrit_and_run_manager_links_back(
    capture, tmp_path, monkeypatch
):
    from fake_runs import fake_changes, store_run
    from fakes.gerrit import FakeGerrit

    monkeypatch.setenv("GERRIT_TOKEN", GERRIT_TOKEN)
    async with FakeGerrit() as fake:
        fake.add_account(1000, username="cv", label_as={"Commit-Queue"}, submit=True)
        fake.add_account(1001)
        fake.allow_bearer(GERRIT_TOKEN, 1000)
        number = fake.add_change(owner=1001).number
        fake.vote(number, "Commit-Queue", 1001, 1)
        db_path = tmp_path / "cv.db"
        db = await Database.open(db_path)
        try:
            run = await db.write(store_run, fake_changes(fake, [number]))
        finally:
            await db.close()
        config = tmp_path / "cv.toml"
        config.write_text(
            f'[database]\npath = "{db_path}"\n'
            f'[[auth.tokens]]\nidentity = "project:chromium"\nsha256 = "{token_digest(TOKEN)}"\n'
            "[gerrit]\nmax_retries = 0\n"
            f'[[gerrit.hosts]]\nhost = "{fake.host}"\nbase_url = "{fake.base_url}"\n'
            'auth = "bearer"\ntoken_env = "GERRIT_TOKEN"\n'
            "[run_manager]\npoll_interval_s = 0.05\n"
        )
        capture.spans.clear()
        app = create_app(load_settings(config, environ={}))
        revision = fake.change(number).current.revision
        post = migration_pb.PostGerritMessageRequest(
            project="chromium",
            attempt_key=run.attempt_key,
            host=fake.host,
            change=number,
            revision=revision,
            comment="CQ is trying the patch.",
        )
        verify = migration_pb.ReportVerifiedRunRequest(
            run=migration_pb.ReportedRun(id=run.id),
            action=migration_pb.ReportVerifiedRunRequestAction.DRY_RUN_OK,
        )
        with serve_in_thread(app) as url:
            headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"}
            reply = await asyncio.to_thread(
                call, url, "PostGerritMessage", post, token=TOKEN, headers=headers
            )
            assert reply.code is Code.OK, reply
            reply = await asyncio.to_thread(call, url, "ReportVerifiedRun", verify, token=TOKEN)
            assert reply.code is Code.OK, reply

            def manager_spans():
                return [
                    s
                    for s in capture.spans.get_finished_spans()
                    if s.name == "run_manager.cancel_triggers"
                ]

            await asyncio.to_thread(wait_for, manager_spans)

    spans = capture.spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    (post_span,) = [s for s in spans if s.name == "migration.Migration/PostGerritMessage"]
    assert format(post_span.context.trace_id, "032x") == TRACE_ID
    post_children = [s for s in spans if s.parent and s.parent.span_id == post_span.context.span_id]
    names = [s.name for s in post_children]
    assert "store.read" in names and "gerrit.set_review" in names, names
    (review_span,) = [s for s in post_children if s.name == "gerrit.set_review"]
    assert review_span.kind is trace.SpanKind.CLIENT
    assert review_span.attributes["http.response.status_code"] == 200
    assert review_span.attributes["server.address"] == fake.host
    # Gerrit received the trace context of the very request span.
    (review_request,) = [
        r for r in fake.requests_matching("POST", "/review") if "trying" in str(r.json)
    ]
    assert review_request.headers["traceparent"] == (
        f"00-{TRACE_ID}-{review_span.context.span_id:016x}-01"
    )

    # The run manager's actions are linked to the ReportVerifiedRun that caused them: the
    # verification decides (cancel triggers), the follow-up action talks to Gerrit.
    (verify_span,) = [s for s in spans if s.name == "migration.Migration/ReportVerifiedRun"]
    for name in ("run_manager.cqd_verification_completed", "run_manager.cancel_triggers"):
        (action,) = [s for s in spans if s.name == name]
        assert [link.context.span_id for link in action.links] == [verify_span.context.span_id]
        assert action.attributes["cv.run_id"] == run.id
    descendants = set()
    for span in spans:
        parent = span.parent
        while parent is not None and parent.span_id in by_id:
            if parent.span_id == action.context.span_id:
                descendants.add(span.name)
                break
            parent = by_id[parent.span_id].parent
    assert {"gerrit.get_change", "gerrit.set_review", "store.write"} <= descendants, descendants

    # The ended Run's BigQuery row carries the same context, so the export span links to
    # the ReportVerifiedRun span too (tests/export/test_exporter.py checks that link).
    conn = sqlite3.connect(db_path)
    (row,) = outbox.list_rows(conn)
    conn.close()
    assert row.dedup_key == f"run-{run.id}"
    assert row.trace_context.startswith(
        f"00-{verify_span.context.trace_id:032x}-{verify_span.context.span_id:016x}-"
    )

    durations = capture.metric_points("gerrit.client.duration")
    assert {"gerrit.operation": "set_review", "http.response.status_code": 200} in [
        dict(p.attributes) for p in durations
    ]
    values = _all_attribute_values(spans)
    assert not any(GERRIT_TOKEN in v or TOKEN in v for v in values)


_TRACING_PROBE = """
import time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from cvmigrate import telemetry

assert telemetry.tracing() is False
trace.set_tracer_provider(TracerProvider())
# Installed behind telemetry's back (no refresh): seen once its "no" (kept a second) expires.
deadline = time.monotonic() + 5
while not telemetry.tracing():
    assert time.monotonic() < deadline, "the provider was never seen"
    time.sleep(0.05)
print("seen after", time.monotonic() - deadline + 5)
"""

_CONFIGURED_PROBE = """
from cvmigrate import telemetry
from cvmigrate.config import TelemetrySettings

assert telemetry.tracing() is False
assert telemetry.current_trace_context() == ""
telemetry.configure_telemetry(TelemetrySettings(traces_exporter="console"), environ={})
assert telemetry.tracing() is True  # at once: configure_telemetry refreshes
with telemetry.tracer().start_as_current_span("probe"):
    assert telemetry.current_trace_context().startswith("00-")
print("ok")
"""


@pytest.mark.parametrize("probe", [_TRACING_PROBE, _CONFIGURED_PROBE], ids=["api", "configured"])
def test_tracing_is_off_without_a_provider_and_seen_once_one_is_installed(probe):
    # A fresh interpreter: a tracer provider can be installed once per process.
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    if probe is _TRACING_PROBE:
        seconds = float(result.stdout.split()[-1])
        assert seconds <= 2.0
