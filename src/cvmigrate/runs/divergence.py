"""How CQDaemon's view of a project's attempts differs from CV's RUNNING Runs (ReportRuns)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from cvmigrate.runs.model import Run

__all__ = ["Divergence", "divergence"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Divergence:
    only_cqdaemon: tuple[str, ...]
    """Attempt keys CQDaemon works on that match no RUNNING CV Run."""
    only_cv: tuple[str, ...]
    """IDs of RUNNING CV Runs whose attempt key CQDaemon did not report."""

    @property
    def total(self) -> int:
        return len(self.only_cqdaemon) + len(self.only_cv)


def divergence(
    reported_attempt_keys: Iterable[str], running: Iterable[Run | tuple[str, str]]
) -> Divergence:
    """Both directions of the difference, each sorted. `running` holds CV's RUNNING Runs,
    as Runs or as (attempt key, Run ID) pairs."""
    reported = set(reported_attempt_keys)
    pairs = [(r.attempt_key, r.id) if isinstance(r, Run) else r for r in running]
    cv_keys = {attempt_key for attempt_key, _ in pairs}
    return Divergence(
        only_cqdaemon=tuple(sorted(reported - cv_keys)),
        only_cv=tuple(
            sorted(run_id for attempt_key, run_id in pairs if attempt_key not in reported)
        ),
    )
