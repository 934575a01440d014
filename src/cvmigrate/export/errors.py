"""What a failed BigQuery insert means for its rows: the one place retry decisions are made.

```
insert request
├── raised an exception ─────── request_failure()
│   ├── SPLIT      400 / 413: BigQuery refused the whole request; halve it to find the row
│   └── TRANSIENT  anything else: every row stays pending and is retried with backoff
└── answered with insertErrors ─ row_verdict() for each row named in them
    ├── REJECTED   reason `invalid`: the row can never be inserted → dead, with the text
    ├── STOPPED    only `stopped`: a good row BigQuery did not write because another row
    │              of the request was invalid → re-sent at once, never dead
    └── TRANSIENT  any other reason (timeout, backendError, …) → retried with backoff
```
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from google.api_core import exceptions as google_exceptions

__all__ = ["RequestFailure", "RowVerdict", "describe", "request_failure", "row_verdict"]

# HTTP statuses for which the request itself, not the service, is at fault: 400 (malformed or
# too many rows) and 413 (payload over BigQuery's 10 MB limit).
_WHOLE_REQUEST_REFUSED = frozenset({400, 413})


class RequestFailure(enum.Enum):
    """What to do with the rows of a request that raised."""

    SPLIT = "split"
    """Send the rows in two halves; a single row refused this way is dead."""
    TRANSIENT = "transient"
    """Keep every row pending and retry later with backoff."""


class RowVerdict(enum.Enum):
    """What BigQuery's insertErrors entry says about one row."""

    REJECTED = "rejected"
    """The row is invalid (reason `invalid`): mark it dead with the error text."""
    STOPPED = "stopped"
    """The row is fine but was not written because another row was invalid: re-send."""
    TRANSIENT = "transient"
    """Some other failure for this row: retry later with backoff."""


def request_failure(exc: BaseException) -> RequestFailure:
    """Classify an exception raised by an insert request."""
    if isinstance(exc, google_exceptions.GoogleAPICallError):
        if exc.code in _WHOLE_REQUEST_REFUSED:
            return RequestFailure.SPLIT
    # Default transient, on purpose: 5xx, 429, timeouts, a missing table (404) or missing
    # permission (403) are not the rows' fault, and a pending row is never lost while a dead
    # one needs an operator. An unknown failure must not throw data away.
    return RequestFailure.TRANSIENT


def row_verdict(errors: Iterable[Mapping[str, Any]]) -> RowVerdict:
    """Classify the `errors` list of one row's insertErrors entry."""
    reasons = {str(error.get("reason", "")) for error in errors}
    if "invalid" in reasons:
        return RowVerdict.REJECTED
    if reasons == {"stopped"}:
        return RowVerdict.STOPPED
    return RowVerdict.TRANSIENT


def describe(errors: Iterable[Mapping[str, Any]]) -> str:
    """One line for `outbox list`: `invalid at end_time: Cannot convert …` per error."""
    parts = []
    for error in errors:
        text = str(error.get("reason") or "error")
        if error.get("location"):
            text += f" at {error['location']}"
        if error.get("message"):
            text += f": {error['message']}"
        parts.append(text)
    return "; ".join(parts) or "rejected without a reason"
