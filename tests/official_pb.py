"""The official protobuf runtime's `_pb2` modules and connectrpc client stubs for schemas/.

Tests use them to build and read messages independently of betterproto2 and our codec.
The generation itself is bench/pbgen.py's (the benchmarks need the same modules).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` is a package at the project root
    sys.path.insert(0, str(ROOT))

from bench import pbgen  # noqa: E402 (needs the root on sys.path)


@contextlib.contextmanager
def generated(out: Path) -> Iterator[SimpleNamespace]:
    """Generate into `out` and import: `.migration`, `.bigquery`, `.gerrit`, `.connect`."""
    modules = pbgen.load(pbgen.generate(out))
    try:
        yield modules
    finally:
        sys.path.remove(str(out))
