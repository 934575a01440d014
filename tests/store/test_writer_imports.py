"""The writer process imports the module of each write function it runs (and of the classes
in its arguments): those modules must not drag in the service's HTTP stack and clients, or
the writer's memory doubles (store/writer.py, README "Protocols")."""

from __future__ import annotations

import json
import subprocess
import sys

WRITE_MODULES = [
    "cvmigrate.store.writer",
    "cvmigrate.store.cls",
    "cvmigrate.store.credentials",
    "cvmigrate.store.events",
    "cvmigrate.store.outbox",
    "cvmigrate.store.reports",
    "cvmigrate.store.runs",
    "cvmigrate.migration.report_runs_save",
    "cvmigrate.migration.report_verified_run_save",
    "cvmigrate.migration.report_finished_run_save",
    "cvmigrate.runs.commits",
    "cvmigrate.poller.commit",
    "cvmigrate.export.rows",
]
HEAVY = ["aiohttp", "aiosqlite", "httpx", "hypercorn", "starlette", "opentelemetry.sdk"]


def test_modules_of_write_functions_import_no_http_stack_or_client():
    program = (
        "import importlib, json, sys\n"
        f"for name in {WRITE_MODULES!r}: importlib.import_module(name)\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if any(m == h or m.startswith(h + '.') for h in heavy)"
        " or m in ('cvmigrate.migration.deps', 'cvmigrate.app'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []
