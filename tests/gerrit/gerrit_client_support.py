"""Constants and helpers shared by the Gerrit client tests (fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

from cvmigrate.gerrit.client import GerritClient

__all__ = [
    "BASIC_VALUE",
    "BEARER_TOKEN",
    "CV",
    "ENV",
    "NETRC_TOKEN",
    "OWNER",
    "SECRETS",
    "TOKEN_ENV",
    "VOTER",
    "MakeClient",
    "RecordingSleep",
    "assert_no_secret",
    "netrc_lookup",
]

CV, OWNER, VOTER = 1000, 1001, 1002
BEARER_TOKEN = "bearer-s3cret-token"
BASIC_VALUE = "cv-bot:basic-s3cret-pw"
NETRC_TOKEN = "git-cv.example.com=netrc-s3cret-token"
SECRETS = (BEARER_TOKEN, "basic-s3cret-pw", "netrc-s3cret-token")
ENV = {"GERRIT_BEARER": BEARER_TOKEN, "GERRIT_BASIC": BASIC_VALUE}
TOKEN_ENV = {"bearer": "GERRIT_BEARER", "basic": "GERRIT_BASIC", "netrc": "", "none": ""}


class RecordingSleep:
    """Stands in for asyncio.sleep: records the backoff delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def netrc_lookup(host_name: str) -> str | None:
    return NETRC_TOKEN if host_name == "gerrit.example.com" else None


MakeClient = Callable[..., GerritClient]
"""make_client(auth="bearer", *, environ=ENV, max_retries=3, timeouts=None, base_url=None)"""


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
