"""What users are told when a submission fails: CV's texts (spec §5.2 step 6)."""

from __future__ import annotations

import pytest

from cvmigrate.gerrit.errors import classify
from cvmigrate.runs.submit_messages import (
    DEFAULT_MESSAGE,
    TIMEOUT_MESSAGE,
    FailedCL,
    cl_failure_message,
    cl_url,
    submission_failure_messages,
)

A, B, C = (1, cl_url("g-review", 11)), (2, cl_url("g-review", 12)), (3, cl_url("g-review", 13))
PARTIAL = (
    "CV partially submitted the CLs in the Run.\nNot submitted: [{}]\nSubmitted: [{}]\n"
    "Please, use your judgement to determine if already submitted CLs have to be reverted, "
    "or if the remaining CLs could be manually submitted. If you think the partially "
    "submitted CLs may have broken the tip-of-tree of your project, consider notifying your "
    "infrastructure team/gardeners/sheriffs."
)


def test_cl_url_is_host_and_change():
    assert cl_url("chromium-review.googlesource.com", 42) == (
        "https://chromium-review.googlesource.com/42"
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(
            403,
            "submit not permitted",
            "CV couldn't submit your CL because CV is not allowed to do so in your Gerrit "
            "project config. Contact your project admin or Chrome Operations team "
            "https://goo.gl/f3mzjN",
            id="403",
        ),
        pytest.param(
            409,
            "blocked by Code-Review",
            "Gerrit rejected submission with error: blocked by Code-Review\nHint: rebasing CL "
            "in Gerrit UI and re-submitting through CV usually works",
            id="409",
        ),
        pytest.param(
            429,
            "quota",
            "CV failed to submit this CL because it is throttled by Gerrit",
            id="429",
        ),
        pytest.param(
            422,
            "Account 'x' not found",
            "CV failed to submit your CL because of unexpected error from Gerrit: "
            "Account 'x' not found",
            id="422",
        ),
    ],
)
def test_cl_failure_message_per_gerrit_error(status, body, expected):
    assert cl_failure_message(classify(status, body, context="POST x")) == expected


def test_single_cl_run_gets_only_the_reason():
    failed = FailedCL(cl_id=1, message="Gerrit rejected it")
    assert submission_failure_messages([A], set(), failed=failed) == {1: "Gerrit rejected it"}
    assert submission_failure_messages([A], set(), timeout=True) == {1: TIMEOUT_MESSAGE}
    assert submission_failure_messages([A], set()) == {1: DEFAULT_MESSAGE}


def test_multi_cl_failure_names_the_failed_cl_and_dependants_were_not_attempted():
    failed = FailedCL(cl_id=2, message="Gerrit rejected it")
    messages = submission_failure_messages([A, B, C], {1}, failed=failed)
    suffix = PARTIAL.format(f"{B[1]}, {C[1]}", A[1])
    assert messages == {
        2: f"Gerrit rejected it\n\n{suffix}",
        3: "CV didn't attempt to submit this CL because CV failed to submit its dependent "
        f"CL(s): {B[1]}\n{suffix}",
    }


def test_multi_cl_failure_of_the_first_cl_says_none_were_submitted():
    failed = FailedCL(cl_id=1, message="no")
    messages = submission_failure_messages([A, B], set(), failed=failed)
    suffix = f"None of the CLs in the Run were submitted by CV.\nCLs: [{A[1]}, {B[1]}]\n"
    assert messages[1] == f"no\n\n{suffix}"
    assert messages[2].endswith(f"{A[1]}\n{suffix}")


def test_multi_cl_timeout_tells_every_unsubmitted_cl():
    messages = submission_failure_messages([A, B, C], {1}, timeout=True)
    suffix = PARTIAL.format(f"{B[1]}, {C[1]}", A[1])
    assert messages == {2: f"{TIMEOUT_MESSAGE}\n\n{suffix}", 3: f"{TIMEOUT_MESSAGE}\n\n{suffix}"}
