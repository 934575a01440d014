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
from cvmigrate.store import events
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
            return await db.write(lambda c: create_run(c, changes=[change_info(1)]))
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
    assert ("store.read", "report_verified_run.<lambda>") in operations
    assert ("store.write", "report_verified_run.save") in operations
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
