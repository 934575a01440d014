"""What one poller pass saw and did."""

from __future__ import annotations

import dataclasses

from cvmigrate.poller.commit import CommitOutcome
from cvmigrate.poller.plan import Key

__all__ = ["PassReport"]


@dataclasses.dataclass(slots=True, kw_only=True)
class PassReport:
    """Counts, Gerrit failures and the Runs created, cancelled, delayed and claimed."""

    full: bool = False
    """Whether the pass was a full sweep (no `after:`)."""
    queried: int = 0
    fetched: int = 0
    query_failures: list[str] = dataclasses.field(default_factory=list)
    """Hosts whose query failed."""
    fetch_failures: list[Key] = dataclasses.field(default_factory=list)
    outcome: CommitOutcome = dataclasses.field(default_factory=CommitOutcome)

    @property
    def gerrit_ok(self) -> bool:
        """No Gerrit call failed (else the loop backs off)."""
        return not self.query_failures and not self.fetch_failures

    def add(self, outcome: CommitOutcome) -> None:
        """Count another transaction's outcome in."""
        for name in ("cancelled", "delayed", "created", "claimed", "declined"):
            getattr(self.outcome, name).extend(getattr(outcome, name))
