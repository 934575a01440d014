"""Whether a message was already posted on a change: how CV avoids posting twice.

Gerrit has no idempotent "post once" (spec/gerrit.md §4), so CV reads the change's
messages first and skips posting when one dated at or after a reference time (the Run's
or trigger's time) already contains the text, trimmed, or its truncation (what is posted
when the text is too long, §4.5.1). Gerrit prefixes review messages with `Patch Set N:`,
hence "contains" rather than "equals".
"""

from __future__ import annotations

from datetime import datetime

from cvmigrate.proto import gerrit

from .truncate import truncate_message

__all__ = ["already_posted"]


def already_posted(info: gerrit.ChangeInfo, text: str, since: datetime) -> bool:
    """True if a message of `info` dated at or after `since` contains `text` trimmed, or
    its truncation. Messages without a date are never matched."""
    trimmed = text.strip()
    truncated = truncate_message(trimmed)
    return any(
        message.date is not None
        and message.date >= since
        and (trimmed in message.message or truncated in message.message)
        for message in info.messages
    )
