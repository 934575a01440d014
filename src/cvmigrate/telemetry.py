"""OpenTelemetry: tracer/meter providers from the standard OTEL_* settings, attribute names,
trace-context helpers for background work, and structured logs.

Default: no SDK provider is installed, so every span and instrument is the API's no-op and
costs only the call. `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` = `otlp` (OTLP/HTTP,
`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`) or `console`
turn export on; `[telemetry]` in the config file sets the same options, the environment wins.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Link

if TYPE_CHECKING:
    from cvmigrate.config import TelemetrySettings

__all__ = [
    "ATTR_ATTEMPT_KEY",
    "ATTR_LUCI_PROJECT",
    "ATTR_RUN_ID",
    "JsonLogFormatter",
    "Telemetry",
    "configure_logging",
    "configure_telemetry",
    "current_trace_context",
    "links_from",
    "meter",
    "tracer",
    "tracing",
]

# Attribute names (OpenTelemetry semantic conventions, plus CV's own under `cv.`).
ATTR_RPC_SYSTEM: Final = "rpc.system"
ATTR_RPC_SERVICE: Final = "rpc.service"
ATTR_RPC_METHOD: Final = "rpc.method"
ATTR_RPC_GRPC_STATUS_CODE: Final = "rpc.grpc.status_code"
ATTR_LUCI_PROJECT: Final = "cv.luci_project"
ATTR_RUN_ID: Final = "cv.run_id"
ATTR_ATTEMPT_KEY: Final = "cv.attempt_key"
ATTR_DB_SYSTEM: Final = "db.system"
ATTR_DB_OPERATION: Final = "db.operation.name"
ATTR_HTTP_METHOD: Final = "http.request.method"
ATTR_HTTP_STATUS: Final = "http.response.status_code"
ATTR_SERVER_ADDRESS: Final = "server.address"
ATTR_URL_TEMPLATE: Final = "url.template"

CV_ATTRIBUTES: Final = frozenset({ATTR_LUCI_PROJECT, ATTR_RUN_ID, ATTR_ATTEMPT_KEY})

_INSTRUMENTATION: Final = "cvmigrate"


_TRACER: Final = trace.get_tracer(_INSTRUMENTATION)
"""A proxy until a provider is set (once per process), then the provider's tracer: asking
the provider on every span cost ~2% of the server's CPU under load (bench/, issue 8)."""


def tracer() -> trace.Tracer:
    """cvmigrate's tracer from the global provider (a no-op until one is configured)."""
    return _TRACER


_TRACING_RECHECK_S: Final = 1.0
_tracing = False
_tracing_checked_at = -_TRACING_RECHECK_S


def tracing(*, refresh: bool = False) -> bool:
    """Whether spans go anywhere: a tracer provider other than the API's no-op is installed.

    The hot paths (every RPC, every store call) skip their spans and trace-context work
    when it is not: the no-op span machinery cost ~6% of the server's CPU under the
    CQDaemon mix (bench/, issue 8). Asking the API each time costs too (it reads the
    environment), so a "no" is kept for a second; `configure_telemetry` (and anything else
    that installs a provider) passes `refresh=True` so that it counts at once. A provider
    can be set once per process, so once true this stays true.
    """
    global _tracing, _tracing_checked_at
    if _tracing:
        return True
    now = time.monotonic()
    if refresh or now - _tracing_checked_at >= _TRACING_RECHECK_S:
        _tracing_checked_at = now
        provider = trace.get_tracer_provider()
        _tracing = not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    return _tracing


def meter() -> metrics.Meter:
    """cvmigrate's meter from the global provider (a no-op until one is configured)."""
    return metrics.get_meter(_INSTRUMENTATION)


def current_trace_context() -> str:
    """The current span's context as a W3C `traceparent` value ('' outside a span), to
    store with work done later (run-manager events, outbox rows)."""
    if not tracing():
        return ""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def links_from(*trace_contexts: str) -> list[Link]:
    """Span links to the spans whose stored `traceparent` values are given."""
    links = []
    for value in trace_contexts:
        if not value:
            continue
        span_context = trace.get_current_span(
            propagate.extract({"traceparent": value})
        ).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    return links


@dataclasses.dataclass(slots=True)
class Telemetry:
    """The providers this process installed (None when export is off)."""

    tracer_provider: Any = None
    meter_provider: Any = None

    def shutdown(self) -> None:
        """Flush and stop exporters (at process exit)."""
        for provider in (self.tracer_provider, self.meter_provider):
            if provider is not None:
                provider.shutdown()


def _setting(environ: Mapping[str, str], name: str, configured: str) -> str:
    return environ.get(f"OTEL_{name.upper()}", "") or configured


def configure_telemetry(
    settings: TelemetrySettings, environ: Mapping[str, str] | None = None
) -> Telemetry:
    """Install global tracer/meter providers as the settings ask; returns them."""
    environ = os.environ if environ is None else environ
    traces = _setting(environ, "traces_exporter", settings.traces_exporter).lower()
    metrics_exporter = _setting(environ, "metrics_exporter", settings.metrics_exporter).lower()
    result = Telemetry()
    if traces in ("", "none") and metrics_exporter in ("", "none"):
        return result
    from opentelemetry.sdk.resources import Resource

    endpoint = _setting(environ, "exporter_otlp_endpoint", settings.exporter_otlp_endpoint)
    protocol = _setting(environ, "exporter_otlp_protocol", settings.exporter_otlp_protocol)
    if "otlp" in (traces, metrics_exporter) and protocol not in ("", "http/protobuf"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: only http/protobuf is built in"
        )
    resource = Resource.create(
        {"service.name": _setting(environ, "service_name", settings.service_name)}
    )
    base = endpoint.rstrip("/") if endpoint else ""
    if traces not in ("", "none"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        provider = TracerProvider(resource=resource)
        if traces == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter: Any = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
        elif traces == "console":
            exporter = ConsoleSpanExporter()
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER {traces!r} is not one of none, otlp, console")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        tracing(refresh=True)
        result.tracer_provider = provider
    if metrics_exporter not in ("", "none"):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )

        if metrics_exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )

            metric_exporter: Any = OTLPMetricExporter(
                endpoint=f"{base}/v1/metrics" if base else None
            )
        elif metrics_exporter == "console":
            metric_exporter = ConsoleMetricExporter()
        else:
            raise ValueError(
                f"OTEL_METRICS_EXPORTER {metrics_exporter!r} is not one of none, otlp, console"
            )
        meter_provider = MeterProvider(
            resource=resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter)]
        )
        metrics.set_meter_provider(meter_provider)
        result.meter_provider = meter_provider
    return result


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with `trace_id`/`span_id` when logged inside a span."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the trace ID when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            line += f" trace_id={span_context.trace_id:032x} span_id={span_context.span_id:016x}"
        return line


def configure_logging(*, json_lines: bool | None = None, level: int = logging.INFO) -> None:
    """Root logging: JSON lines when stderr is not a terminal (or `json_lines=True`)."""
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLogFormatter()
        if json_lines
        else _TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
