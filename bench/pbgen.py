"""The official protobuf runtime's `_pb2` modules and connectrpc stubs for schemas/, built
into a temporary folder with grpc_tools (the load client, the connectrpc peer and the codec
comparison use them; betterproto2 is what is being measured, so the client never uses it).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

__all__ = ["ROOT", "generate", "load"]

ROOT = Path(__file__).resolve().parent.parent
_PROTOS = ("migration/migration.proto", "bigquery/attempt.proto", "gerrit/gerrit.proto")
_PACKAGE = "cvbenchpb"


def generate(out: Path) -> Path:
    """Run protoc into `out/cvbenchpb` (idempotent); returns `out` for `load`.

    protoc names modules after the proto folders (`migration`, `gerrit`), which are common
    names, so sibling imports are moved under one package of our own.
    """
    package = out / _PACKAGE
    if (package / "migration" / "migration_connect.py").exists():
        return out
    package.mkdir(parents=True, exist_ok=True)
    plugin = Path(sys.executable).parent / "protoc-gen-connectrpc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'schemas'}",
            f"--python_out={package}",
            f"--plugin=protoc-gen-connectrpc={plugin}",
            f"--connectrpc_out={package}",
            "--connectrpc_opt=protobuf=google",
            *_PROTOS,
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
            rf"from {_PACKAGE}.\1 import",
            text,
            flags=re.MULTILINE,
        )
        path.write_text(text, encoding="utf-8")
    return out


def load(out: Path) -> SimpleNamespace:
    """Import the generated modules: `.migration`, `.bigquery`, `.gerrit`, `.connect`."""
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))

    def module(name: str) -> ModuleType:
        return importlib.import_module(f"{_PACKAGE}.{name}")

    return SimpleNamespace(
        migration=module("migration.migration_pb2"),
        bigquery=module("bigquery.attempt_pb2"),
        gerrit=module("gerrit.gerrit_pb2"),
        connect=module("migration.migration_connect"),
    )
