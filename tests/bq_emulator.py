"""The local BigQuery emulator (local-bigquery, spec/bigquery.md §1) as a loopback subprocess.

It runs from its own Python 3.13 venv, `.venv-bqemu`, which `make .venv-bqemu/.installed`
creates (a prerequisite of `make test`). DuckDB looks for its extensions under
`$HOME/.duckdb`; the Makefile installs them under `.venv-bqemu/home` and the emulator runs
with that HOME, so the venv is self-contained and the user's home is left alone.
Used by tests/export and bench/bench_exporter.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx
from harness import wait_for

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bqemu"
STAMP = VENV / ".installed"
PROJECT = "test-project"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorNotInstalled(RuntimeError):
    """The emulator venv is missing: run `make .venv-bqemu/.installed`."""


class LocalBigQuery:
    """One emulator process: 127.0.0.1 only, free ports, its own data directory.

    `stop()` then `start()` restarts it on the same ports and data (tables survive; the
    emulator's insertId memory does not, as with a real outage).
    """

    def __init__(self, data_dir: Path, *, project: str = PROJECT, log_path: Path | None = None):
        if not STAMP.exists():
            raise EmulatorNotInstalled(
                f"{VENV} is not installed: run `make .venv-bqemu/.installed` (make test does)"
            )
        self.data_dir = data_dir
        self.project = project
        self.log_path = log_path or data_dir.with_suffix(".log")
        self.port = free_port()
        self.grpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LocalBigQuery:
        """Start and wait until it answers (about 3 s); raises if it exits or times out."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HOME": str(VENV / "home")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(VENV / "bin" / "local-bigquery"),
                    "serve",
                    "--host",  # the emulator's default is 0.0.0.0
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--grpc-port",
                    str(self.grpc_port),
                    "--project",
                    self.project,
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        url = f"{self.endpoint}/bigquery/v2/projects/{self.project}/datasets"

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(url, timeout=2).status_code == 200
            return False

        try:
            wait_for(ready, timeout=timeout, interval=0.05)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"emulator not ready within {timeout}s:\n{self.log()}") from None
        return self

    def stop(self) -> None:
        """Stop this emulator by its PID (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
