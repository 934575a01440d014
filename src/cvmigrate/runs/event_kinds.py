"""The kinds of run-manager events (rows of `run_events`) and who queues them.

External (written by the RPCs that cause them):
- `cqd_verification_completed` — ReportVerifiedRun (§4.3); payload `{"action": int}`.
- `cqd_finished` — ReportFinishedRun (§4.2), or the poller when a Run claims an earlier
  unclaimed report.

Internal (written by the run manager itself, each in the transaction that decided it, so a
restart resumes the action instead of deciding again):
- `submit` — a full run waits for, or holds, its project's submit slot (§5.2);
- `cancel_triggers` — remove the CQ votes of some CLs with a message each, then end the Run
  (§5.3, §5.4, §5.2 step 6); payload `{"messages": {"<clid>": text}, "status": int,
  "end_message": text}`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CANCEL_TRIGGERS", "CQD_FINISHED", "CQD_VERIFICATION_COMPLETED", "SUBMIT"]

CQD_VERIFICATION_COMPLETED: Final = "cqd_verification_completed"
CQD_FINISHED: Final = "cqd_finished"
SUBMIT: Final = "submit"
CANCEL_TRIGGERS: Final = "cancel_triggers"
