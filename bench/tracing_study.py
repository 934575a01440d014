"""`python -m bench --scenario tracing`: the throughput cost of tracing, as a ratio.

Two `cvmigrate serve` processes on the same seeded store: tracing off (the default: no SDK
provider, only API calls) and tracing on (OTLP/HTTP traces and metrics to a loopback sink
that accepts and discards every export, so the cost measured is cvmigrate's: spans, their
attributes, batching and encoding). Each trial runs the CQDaemon mix and the two bursts on
both, interleaved (bench/hypercorn_study.py's runner).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.hypercorn_study import run_variant_study
from bench.run import Bench
from bench.scenario import Scenario
from bench.servers import start_cvmigrate

__all__ = ["run_tracing_study"]

_TRACED = "serve, tracing on (OTLP/HTTP)"


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and drops everything."""

    exports = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Sink.exports += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def run_tracing_study(scenario: Scenario, protocol: str, workdir: Path) -> dict[str, Any]:
    """Tracing off vs on; `results["tracing"]["summary"][label]["vs_serve"]` are the ratios."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=sink.serve_forever, name="otlp-sink", daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"

    def start_traced(bench: Bench) -> None:
        bench.servers[_TRACED] = start_cvmigrate(
            "traced",
            workdir,
            bench.config_path,
            env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_SERVICE_NAME": "cvmigrate-bench",
            },
        )

    try:
        results = run_variant_study(scenario, protocol, workdir, "tracing", [_TRACED], start_traced)
    finally:
        sink.shutdown()
        sink.server_close()
    results["tracing"]["otlp_exports_received"] = _Sink.exports
    return results
