"""`python -m bench.serve --app bare|peer|cvmigrate`: an app of bench/apps.py on hypercorn,
set up as `cvmigrate serve` sets it up (cli.py: a pre-bound TCP_NODELAY socket, no access
log, its default timeouts), plus the options under study: the event loop and worker count.

`--workers 0` serves in this process, as `cvmigrate serve` does; `--workers N` makes
hypercorn spawn N worker processes sharing the socket.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path

import hypercorn.config
import hypercorn.run

__all__ = ["main"]


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    """Parse the options, bind, write the port file and serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--app", required=True, choices=("bare", "peer", "cvmigrate"))
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--port-file", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ["BENCH_APP"] = args.app  # read by bench.apps in each worker
    sock = _listen("127.0.0.1", 0)
    config = hypercorn.config.Config()
    config.application_path = "bench.apps:app"
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    # cli.py's _serve with the default [server] settings.
    config.keep_alive_timeout = 30
    config.read_timeout = 60
    config.graceful_timeout = 10
    config.worker_class = args.loop
    config.workers = args.workers
    args.port_file.write_text(f"{sock.getsockname()[1]}\n", encoding="utf-8")
    return hypercorn.run.run(config)


if __name__ == "__main__":
    raise SystemExit(main())
