"""`python -m tests.fakes.gerrit --port 8081 --seed demo`: serve the fake until Ctrl-C.

Point a `[[gerrit.hosts]]` entry's base_url at the printed URL; `--bearer` sets the accepted
token (for account 1000, CV's account in the demo seed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .seed import CV_ACCOUNT, seed_demo
from .server import FakeGerrit


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeGerrit(host=args.host_name)
    if args.seed == "demo":
        seed_demo(fake)
    fake.allow_bearer(args.bearer, CV_ACCOUNT)
    if args.basic:
        fake.allow_basic(args.basic, CV_ACCOUNT)
    await fake.start(args.bind, args.port)
    print(f"fake Gerrit {fake.host} at {fake.base_url} (Bearer {args.bearer})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.gerrit", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", choices=["none", "demo"], default="demo")
    parser.add_argument("--host-name", default="gerrit.example.com")
    parser.add_argument("--bearer", default="fake-token", help="accepted Bearer token")
    parser.add_argument("--basic", default="", help="also accept Basic user:password")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
