"""The Gerrit calls the run manager and PostGerritMessage make (gerrit.client.GerritClient
satisfies them), and which of their failures mean "try again later"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cvmigrate.gerrit.errors import (
    GerritCredentialsError,
    GerritError,
    GerritHostNotConfigured,
    is_transient,
)
from cvmigrate.proto import gerrit

__all__ = ["GerritApi", "GerritMessages", "retry_later"]


class GerritMessages(Protocol):
    """Reading a change and posting to it: what PostGerritMessage needs as well."""

    async def get_change(
        self,
        host: str,
        number: int,
        *,
        project: str | None = None,
        options: Sequence[str | gerrit.QueryOption] = (),
    ) -> gerrit.ChangeInfo: ...

    async def set_review(
        self, host: str, request: gerrit.SetReviewRequest
    ) -> gerrit.ReviewResult: ...


class GerritApi(GerritMessages, Protocol):
    """The three Gerrit calls the run manager needs (spec/gerrit.md §2)."""

    async def submit_revision(
        self, host: str, request: gerrit.SubmitRevisionRequest
    ) -> gerrit.ChangeInfo: ...


def retry_later(err: GerritError) -> bool:
    """True if the action should be retried rather than given up: a transient failure, or
    no request could be sent at all (host not configured, no credential). The latter is an
    operator's to fix; treating it as Gerrit's refusal would end Runs wrongly."""
    return is_transient(err) or isinstance(err, GerritHostNotConfigured | GerritCredentialsError)
