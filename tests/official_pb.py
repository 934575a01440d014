"""The official protobuf runtime's `_pb2` modules and connectrpc client stubs for schemas/.

Tests use them to build and read messages independently of betterproto2 and our codec.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ("migration/migration.proto", "bigquery/attempt.proto", "gerrit/gerrit.proto")


@contextlib.contextmanager
def generated(out: Path) -> Iterator[SimpleNamespace]:
    """Generate into `out/cvpb` and import: `.migration`, `.bigquery`, `.gerrit`, `.connect`.

    protoc names the modules after the proto directories (`migration`, `gerrit`), which
    tests/migration and tests/gerrit would shadow, so sibling imports are moved under `cvpb`.
    """
    package = out / "cvpb"
    package.mkdir()
    plugin = Path(sys.executable).parent / "protoc-gen-connectrpc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'schemas'}",
            f"--python_out={package}",
            f"--pyi_out={package}",
            f"--plugin=protoc-gen-connectrpc={plugin}",
            f"--connectrpc_out={package}",
            "--connectrpc_opt=protobuf=google",
            *PROTOS,
        ],
        check=True,
        cwd=ROOT,
    )
    for directory in (package, *(p for p in package.iterdir() if p.is_dir())):
        (directory / "__init__.py").touch()
    for path in package.rglob("*_pb2.py"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(
            r"^from (migration|gerrit|bigquery) import",
            r"from cvpb.\1 import",
            text,
            flags=re.MULTILINE,
        )
        path.write_text(text, encoding="utf-8")
    sys.path.insert(0, str(out))
    try:
        yield SimpleNamespace(
            migration=importlib.import_module("cvpb.migration.migration_pb2"),
            bigquery=importlib.import_module("cvpb.bigquery.attempt_pb2"),
            gerrit=importlib.import_module("cvpb.gerrit.gerrit_pb2"),
            connect=importlib.import_module("cvpb.migration.migration_connect"),
        )
    finally:
        sys.path.remove(str(out))
