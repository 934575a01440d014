"""What CV does for each reported action and Run mode (spec §5.2–§5.4), without storage."""

from __future__ import annotations

import pytest

from cvmigrate.proto import migration as migration_pb
from cvmigrate.runs.status import Status
from cvmigrate.runs.verification import (
    CancelAndEnd,
    EndWithoutAction,
    StartSubmission,
    decide_verification,
)

Action = migration_pb.ReportVerifiedRunRequestAction


def test_submit_on_full_run_starts_submission():
    assert decide_verification("FULL_RUN", Action.SUBMIT, "") == StartSubmission()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("DRY_RUN", "Dry run: This CL passed the CQ dry run."),
        ("QUICK_DRY_RUN", "Quick dry run: This CL passed the CQ dry run."),
    ],
)
def test_dry_run_ok_cancels_triggers_with_cv_text_then_succeeds(mode, message):
    assert decide_verification(mode, Action.DRY_RUN_OK, "ignored") == CancelAndEnd(
        message, Status.SUCCEEDED
    )


@pytest.mark.parametrize("mode", ["DRY_RUN", "FULL_RUN", "QUICK_DRY_RUN"])
def test_fail_cancels_triggers_with_final_message_then_fails(mode):
    assert decide_verification(mode, Action.FAIL, "Try jobs failed.") == CancelAndEnd(
        "Try jobs failed.", Status.FAILED
    )
    assert decide_verification(mode, Action.FAIL, "") == CancelAndEnd("", Status.FAILED)


@pytest.mark.parametrize(
    ("mode", "action", "text"),
    [
        pytest.param(
            "FULL_RUN", Action.DRY_RUN_OK, "ACTION_DRY_RUN_OK for a FULL_RUN", id="ok-full"
        ),
        pytest.param("DRY_RUN", Action.SUBMIT, "ACTION_SUBMIT for a DRY_RUN", id="submit-dry"),
        pytest.param("DRY_RUN", Action.UNSPECIFIED, "ACTION_UNSPECIFIED", id="unspecified"),
        pytest.param("FULL_RUN", 7, "unknown action 7", id="unknown"),
    ],
)
def test_impossible_actions_end_the_run_failed_without_gerrit(mode, action, text):
    decision = decide_verification(mode, int(action), "")
    assert isinstance(decision, EndWithoutAction)
    assert decision.status is Status.FAILED
    assert text in decision.end_message
