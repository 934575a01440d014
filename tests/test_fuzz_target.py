"""`make fuzz`: the long fuzz run (5000 inputs) and its report of how many were tried.

The recipe is read with `make -n` and run with a small count, so the test takes seconds
and never triggers the Makefile's set-up steps.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

from harness import ROOT


def _recipe(*args: str) -> str:
    """The command `make fuzz` runs (the line that starts pytest)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FUZZ_EXAMPLES", "MAKEFLAGS")}
    dry_run = subprocess.run(
        ["make", "-n", "fuzz", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (line,) = [line for line in dry_run.stdout.splitlines() if "pytest tests/fuzz" in line]
    return line


def test_make_fuzz_runs_the_fuzz_tests_with_5000_inputs():
    assert _recipe().startswith("FUZZ_EXAMPLES=5000 ")


def test_make_fuzz_reports_how_many_inputs_were_tried():
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    words = shlex.split(_recipe("FUZZ_EXAMPLES=7"))
    while "=" in words[0]:  # the recipe's VAR=value prefix
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    run = subprocess.run(
        [*words, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"^fuzz: (\d+) inputs tried$", run.stdout, re.MULTILINE)
    assert found, run.stdout
    assert int(found.group(1)) >= 7
