"""Bot data: the machine-readable block CV and CQDaemon append to Gerrit messages (spec §5.4).

When CV cannot remove a `Commit-Queue` vote it posts a message that ends with a bot-data
block, so that the trigger computation (`changelist/trigger.py`, §3.2) ignores the votes it
could not remove. The block is `"Bot data: "` followed by one compact JSON object, separated
from a non-empty human message by a blank line::

    <human message>

    Bot data: {"action":"cancel","triggered_at":"2020-02-02T10:30:00Z","revision":"<sha>",...}

* `action`: `"start"` or `"cancel"`;
* `triggered_at`: RFC 3339 time of the trigger the action was about (fractional seconds
  without trailing zeros, `Z` for UTC), as Go's `time.Time` marshals it;
* `revision`: the current revision (patchset commit) the action applied to;
* `cls`: the Run's CLs as `["<host>:<change>", ...]`; omitted when empty.

Parsing follows Go's `encoding/json` as CV used it: the JSON starts right after the first
`"Bot data: "` in the message and must be the only thing after it (bar whitespace); unknown
keys are ignored, keys match case-insensitively, and missing `triggered_at`/`revision`
take zero values (0001-01-01T00:00:00Z, ""). One deliberate difference: a block without
an `action` is rejected instead of being read as an empty action, which CV ignored anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from cvmigrate.gerrit.truncate import MAX_MESSAGE_LENGTH, PLACEHOLDER, cut_utf8

__all__ = [
    "BOT_DATA_PREFIX",
    "BOT_DATA_SEPARATOR",
    "ZERO_TIME",
    "Action",
    "BotData",
    "BotDataTooLong",
    "ChangeID",
    "append_bot_data",
    "format_bot_data",
    "parse_bot_data",
]

BOT_DATA_PREFIX: Final[str] = "Bot data: "
"""Starts the bot-data block; the JSON object follows it directly."""

BOT_DATA_SEPARATOR: Final[str] = "\n\n"
"""Separates a non-empty human message from the bot-data block."""

ZERO_TIME: Final[datetime] = datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero `time.Time`: the `triggered_at` of a block that has none."""


class Action(StrEnum):
    """What CV (or CQDaemon) did to the change."""

    START = "start"
    """A Run was started for the change."""

    CANCEL = "cancel"
    """A Run was cancelled; votes up to `triggered_at` must no longer trigger."""


class BotDataTooLong(ValueError):
    """The bot-data block (or the block plus a truncated human message) cannot fit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeID:
    """A Gerrit change as bot data names it: `<host>:<number>`."""

    host: str
    number: int

    def __str__(self) -> str:
        return f"{self.host}:{self.number}"

    @classmethod
    def parse(cls, text: str) -> ChangeID:
        """Parse `<host>:<number>`.

        Raises:
            ValueError: unless there is exactly one `:` followed by a decimal int64.
        """
        host, sep, number = text.partition(":")
        if not sep or ":" in number or not _INT64.fullmatch(number):
            raise ValueError(f"invalid change ID {text!r}")
        value = int(number)
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"change number out of range in {text!r}")
        return cls(host=host, number=value)


@dataclass(frozen=True, slots=True, kw_only=True)
class BotData:
    """One bot-data record: an action taken on a change at a revision."""

    action: Action
    triggered_at: datetime = ZERO_TIME
    revision: str = ""
    cls: tuple[ChangeID, ...] = ()


# Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits only.
_INT64: Final = re.compile(r"[+-]?[0-9]+")
# Go's RFC 3339 layout as time.Time.UnmarshalJSON accepts it.
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})",
    re.ASCII,  # \d must not match other scripts' digits
)
_FIELDS: Final = ("action", "triggered_at", "revision", "cls")


def _parse_time(text: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    # Nanoseconds truncate to microseconds. Votes are microsecond-precise, so "vote at or
    # before triggered_at" is decided the same way as with the full value.
    micros = int((fraction or "").ljust(6, "0")[:6])
    offset = timedelta(0)
    if zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours >= 24 or minutes >= 60:
            raise ValueError(f"invalid time zone offset in {text!r}")
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=hours, minutes=minutes)
    local = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=UTC
    )
    return local - offset


def _format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with trailing fractional zeros dropped (Go's RFC3339Nano)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: triggered_at must be timezone-aware")
    utc = moment.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Pairs(list[tuple[str, Any]]):
    """A decoded JSON object, kept as its (key, value) pairs in document order."""


def _from_json(text: str) -> BotData:
    obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_Pairs)
    if not isinstance(obj, _Pairs):
        raise ValueError("bot data is not a JSON object")
    values: dict[str, Any] = {}
    for key, value in obj:
        # Go matches struct fields case-insensitively; the last matching key wins.
        name = key if key in _FIELDS else key.casefold()
        if name in _FIELDS:
            values[name] = value
    action = values.get("action")
    if not isinstance(action, str):
        raise ValueError("bot data has no action")
    triggered_at = values.get("triggered_at")
    revision = values.get("revision")
    cls = values.get("cls")
    if triggered_at is not None and not isinstance(triggered_at, str):
        raise ValueError("triggered_at is not a string")
    if revision is not None and not isinstance(revision, str):
        raise ValueError("revision is not a string")
    # type() rather than isinstance(): a JSON object decodes to _Pairs, a list subclass.
    if cls is not None and not (type(cls) is list and all(isinstance(c, str) for c in cls)):
        raise ValueError("cls is not a list of strings")
    return BotData(
        action=Action(action),
        triggered_at=ZERO_TIME if triggered_at is None else _parse_time(triggered_at),
        revision=revision or "",
        cls=tuple(ChangeID.parse(c) for c in cls or ()),
    )


def parse_bot_data(message: str) -> BotData | None:
    """Return the bot data at the end of a Gerrit message, or None if it has none.

    Everything after the first `"Bot data: "` must be one valid bot-data JSON object
    (whitespace aside); anything else, including an unknown action, gives None.
    """
    index = message.find(BOT_DATA_PREFIX)
    if index < 0:
        return None
    try:
        return _from_json(message[index + len(BOT_DATA_PREFIX) :])
    except (ValueError, OverflowError, RecursionError):
        # json.JSONDecodeError and bad field values are ValueErrors; a time zone offset
        # that moves 0001-01-01 before year 1 overflows; anyone can post a message that
        # nests JSON arrays deeper than the interpreter's recursion limit.
        return None


def _to_json(bot_data: BotData) -> str:
    obj: dict[str, Any] = {
        "action": str(bot_data.action),
        "triggered_at": _format_time(bot_data.triggered_at),
        "revision": bot_data.revision,
    }
    if bot_data.cls:
        obj["cls"] = [str(cl) for cl in bot_data.cls]
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # Go's json.Marshal escapes these for safe embedding in HTML.
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text


_GO_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def format_bot_data(bot_data: BotData) -> str:
    """Return the bot-data block, `"Bot data: " + compact JSON`, with no separator."""
    return BOT_DATA_PREFIX + _to_json(bot_data)


def append_bot_data(
    human_message: str, bot_data: BotData, max_length: int = MAX_MESSAGE_LENGTH
) -> str:
    """Return `human_message`, a blank line and the bot-data block, within `max_length` bytes.

    An empty human message gives the block alone. If the whole does not fit, the human
    message is cut to whole code points and followed by the truncation placeholder, then
    the separator and the block (CV's `botdata.Append`; CV cut at a byte, possibly inside a
    code point, which a Python string cannot hold).

    Raises:
        BotDataTooLong: if the block alone exceeds `max_length` bytes, or leaves no room
            for any of a human message that does not fit.
    """
    block = format_bot_data(bot_data)
    block_len = len(block.encode("utf-8"))
    human_len = len(human_message.encode("utf-8", "surrogatepass"))
    sep_len = len(BOT_DATA_SEPARATOR)
    if block_len > max_length:
        raise BotDataTooLong(f"bot data too long; max length: {max_length}, got {block_len}")
    if human_len == 0:
        return block
    if human_len + sep_len + block_len <= max_length:
        return human_message + BOT_DATA_SEPARATOR + block
    keep = max_length - block_len - sep_len - len(PLACEHOLDER.encode("utf-8"))
    if keep <= 0:
        raise BotDataTooLong(
            f"bot data too long to display human message; max length: {max_length}, got {block_len}"
        )
    return cut_utf8(human_message, keep) + PLACEHOLDER + BOT_DATA_SEPARATOR + block
