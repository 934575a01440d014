"""Servers under test as subprocesses on 127.0.0.1: `cvmigrate serve` itself, and the apps of
bench/apps.py through `python -m bench.serve`; with their CPU time and memory (psutil).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench.pbgen import ROOT

__all__ = ["Server", "start_app", "start_cvmigrate", "write_config"]

_READY_TIMEOUT_S = 30.0


def _run_manager_idle() -> list[str]:
    """Config lines that keep the run manager from polling during the benchmark.

    There is no Gerrit here: every event a ReportVerifiedRun queues would fail in Gerrit
    and be retried with backoff, a background load that grows with every write and has
    nothing to do with serving RPCs. So the manager polls once an hour; its events stay
    queued in the store. (Only if this build has the setting.)
    """
    from cvmigrate.config import Settings

    section = Settings.model_fields.get("run_manager")
    annotation = getattr(section, "annotation", None)
    if annotation is None or "poll_interval_s" not in getattr(annotation, "model_fields", {}):
        return []
    return ["[run_manager]", "poll_interval_s = 3600.0", ""]


def write_config(path: Path, db_path: Path, token_digests: dict[str, str]) -> Path:
    """A cvmigrate TOML config: loopback, the seeded database, one token per project,
    and the run manager idle (see `_run_manager_idle`)."""
    lines = [
        "[server]",
        'bind = "127.0.0.1:0"',
        "",
        "[database]",
        f"path = {json.dumps(str(db_path))}",
        "",
        *_run_manager_idle(),
    ]
    for identity, digest in sorted(token_digests.items()):
        lines += ["[[auth.tokens]]", f"identity = {json.dumps(identity)}", f'sha256 = "{digest}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclasses.dataclass(kw_only=True)
class Server:
    """A running server process (with hypercorn workers as children, if any)."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    startup_s: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        try:
            main = psutil.Process(self.proc.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its workers so far."""
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def loop_cpu_seconds(self) -> float:
        """User + system CPU time so far of each process's main thread, the one that runs
        the event loop (not the database writer process, nor the reader threads): busy near
        1.0 of the wall time, it is the limit; well below, it waited (for requests, for the
        GIL, or for a core)."""
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                if _is_db_writer(process):
                    continue  # cvmigrate's database writer process runs no event loop
                for thread in process.threads():
                    if thread.id == process.pid:
                        total += thread.user_time + thread.system_time
        return total

    def rss_bytes(self) -> int:
        """Resident memory now, summed over the server's processes."""
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def peak_rss_bytes(self) -> int:
        """The largest resident size each process reached (VmHWM), summed."""
        total = 0
        for process in self.processes():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        return total

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for process in reversed(self.processes()):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        process.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _is_db_writer(process: psutil.Process) -> bool:
    return any("cvmigrate.store.writer" in part for part in process.cmdline())


def _probe(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status < 500
    except OSError:
        return False
    finally:
        connection.close()


def _start(
    name: str, argv: list[str], workdir: Path, env: dict[str, str], ready_path: str
) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / f"{name}.port"
    port_file.unlink(missing_ok=True)
    log_path = workdir / f"{name}.log"
    started = time.perf_counter()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, close_fds=True
        )
    deadline = started + _READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log_path.read_text(errors='replace')}")
        text = port_file.read_text() if port_file.exists() else ""
        if text.strip() and _probe(int(text), ready_path):
            return Server(
                name=name,
                proc=proc,
                port=int(text),
                log_path=log_path,
                startup_s=time.perf_counter() - started,
            )
        if time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError(f"{name} not ready within {_READY_TIMEOUT_S}s")
        time.sleep(0.005)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVMIGRATE_", "OTEL_"))}
    env.update(extra or {})
    return env


def start_cvmigrate(
    name: str, workdir: Path, config_path: Path, env: dict[str, str] | None = None
) -> Server:
    """`cvmigrate serve --config F --port-file F`, ready when /healthz answers."""
    bin_dir = Path(sys.executable).parent
    argv = [
        str(bin_dir / "cvmigrate"),
        "serve",
        "--config",
        str(config_path),
        "--port-file",
        str(workdir / f"{name}.port"),
    ]
    return _start(name, argv, workdir, _env(env), "/healthz")


def start_app(
    name: str,
    workdir: Path,
    app: str,
    *,
    loop: str = "asyncio",
    workers: int = 0,
    env: dict[str, str] | None = None,
) -> Server:
    """`python -m bench.serve --app APP` (see bench/serve.py)."""
    argv = [
        sys.executable,
        "-m",
        "bench.serve",
        "--app",
        app,
        "--loop",
        loop,
        "--workers",
        str(workers),
        "--port-file",
        str(workdir / f"{name}.port"),
    ]
    ready = "/healthz" if app == "cvmigrate" else "/"
    return _start(name, argv, workdir, _env(env), ready)


def describe(server: Server) -> dict[str, Any]:
    """What the result file says about a server."""
    return {"name": server.name, "pid": server.proc.pid, "port": server.port}
