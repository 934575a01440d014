"""The fuzz run's tally: inputs sent, reported in pytest's summary (`make fuzz` shows it)."""

from __future__ import annotations

from collections import Counter

import pytest

_TALLY = pytest.StashKey[Counter[str]]()


@pytest.fixture(scope="session")
def fuzz_tally(request: pytest.FixtureRequest) -> Counter[str]:
    """Counts by kind; `inputs` is every request a fuzz test sent."""
    return request.config.stash.setdefault(_TALLY, Counter())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tally = terminalreporter.config.stash.get(_TALLY, None)
    if tally is not None:
        terminalreporter.write_line(f"fuzz: {tally['inputs']} inputs tried")
