"""What CV tells users when a submission fails (spec §5.2 step 6).

The texts are CV's own (`run/impl/handler/submit.go` at the reference commit): the reason
for the failing CL, and for multi-CL Runs a suffix saying which CLs were and were not
submitted; CLs never attempted are told that their dependency failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Final

from cvmigrate.gerrit.errors import (
    GerritConflict,
    GerritError,
    GerritPermissionDenied,
    GerritPreconditionFailed,
    GerritQuotaExceeded,
)

__all__ = [
    "DEFAULT_MESSAGE",
    "TIMEOUT_MESSAGE",
    "FailedCL",
    "cl_failure_message",
    "cl_url",
    "submission_failure_messages",
]

DEFAULT_MESSAGE: Final = (
    "CV failed to submit this CL because of unexpected internal error. Please contact LUCI "
    "team: https://bit.ly/3sMReYs"
)
TIMEOUT_MESSAGE: Final = (
    "CV timed out while trying to submit this CL. Please contact LUCI team https://bit.ly/3sMReYs."
)
_FAILED_PRECONDITION: Final = (
    "Gerrit rejected submission with error: {}\n"
    "Hint: rebasing CL in Gerrit UI and re-submitting through CV usually works"
)
_PERMISSION_DENIED: Final = (
    "CV couldn't submit your CL because CV is not allowed to do so in your Gerrit project "
    "config. Contact your project admin or Chrome Operations team https://goo.gl/f3mzjN"
)
_RESOURCE_EXHAUSTED: Final = "CV failed to submit this CL because it is throttled by Gerrit"
_UNEXPECTED: Final = "CV failed to submit your CL because of unexpected error from Gerrit: {}"
_NONE_SUBMITTED: Final = "None of the CLs in the Run were submitted by CV.\nCLs: [{}]\n"
_PARTIALLY_SUBMITTED: Final = (
    "CV partially submitted the CLs in the Run.\nNot submitted: [{}]\nSubmitted: [{}]\n"
    "Please, use your judgement to determine if already submitted CLs have to be reverted, "
    "or if the remaining CLs could be manually submitted. If you think the partially "
    "submitted CLs may have broken the tip-of-tree of your project, consider notifying your "
    "infrastructure team/gardeners/sheriffs."
)
_NOT_ATTEMPTED: Final = (
    "CV didn't attempt to submit this CL because CV failed to submit its dependent CL(s): {}\n{}"
)


def cl_url(host: str, change: int) -> str:
    """How CV names a CL in messages: `https://<host>/<change>`."""
    return f"https://{host}/{change}"


def cl_failure_message(err: GerritError) -> str:
    """The reason shown on the CL whose submit Gerrit refused (CV's classifyGerritErr)."""
    if isinstance(err, GerritPermissionDenied):
        return _PERMISSION_DENIED
    if isinstance(err, GerritConflict | GerritPreconditionFailed):
        return _FAILED_PRECONDITION.format(err.detail or err.message)
    if isinstance(err, GerritQuotaExceeded):
        return _RESOURCE_EXHAUSTED
    return _UNEXPECTED.format(err.detail or err.message)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FailedCL:
    """The CL whose submission failed permanently, and why."""

    cl_id: int
    message: str


def submission_failure_messages(
    cls: Sequence[tuple[int, str]],
    submitted: Collection[int],
    *,
    failed: FailedCL | None = None,
    timeout: bool = False,
) -> dict[int, str]:
    """The message for each CL whose trigger is cancelled after a failed submission.

    `cls` are (CLID, URL) in submission order. With `failed`, that CL gets its reason and
    the never-attempted ones the "dependency failed" text; on `timeout` (or neither) every
    CL not submitted gets the timeout (or default) text. Submitted CLs get no message.
    """
    if len(cls) == 1:  # a single-CL Run: just the reason, no suffix
        cl_id = cls[0][0]
        if failed is not None:
            return {cl_id: failed.message}
        return {cl_id: TIMEOUT_MESSAGE if timeout else DEFAULT_MESSAGE}
    failed_id = failed.cl_id if failed is not None else None
    done = [url for cl_id, url in cls if cl_id in submitted]
    pending = [(cl_id, url) for cl_id, url in cls if cl_id not in submitted and cl_id != failed_id]
    not_submitted = [url for cl_id, url in cls if cl_id == failed_id] + [url for _, url in pending]
    if done:
        suffix = _PARTIALLY_SUBMITTED.format(", ".join(not_submitted), ", ".join(done))
    else:
        suffix = _NONE_SUBMITTED.format(", ".join(not_submitted))
    if failed is not None:
        failed_url = next(url for cl_id, url in cls if cl_id == failed_id)
        messages = {failed.cl_id: f"{failed.message}\n\n{suffix}"}
        messages.update((cl_id, _NOT_ATTEMPTED.format(failed_url, suffix)) for cl_id, _ in pending)
        return messages
    reason = TIMEOUT_MESSAGE if timeout else DEFAULT_MESSAGE
    return {cl_id: f"{reason}\n\n{suffix}" for cl_id, _ in pending}
