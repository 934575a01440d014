"""Message truncation: keep Gerrit messages within Gerrit's byte limit (spec §4.5.1).

Gerrit rejects review messages longer than 16384 bytes of UTF-8. A longer message keeps its
first 16352 bytes, minus any trailing bytes of a code point the cut split, and ends with
the 32-byte placeholder `"\\n...[truncated too long message]"`. The result is at most 16384
bytes and always valid UTF-8. Lengths are counted in bytes, never in characters.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_MESSAGE_LENGTH", "PLACEHOLDER", "cut_utf8", "truncate_message"]

MAX_MESSAGE_LENGTH: Final[int] = 16384
"""Largest Gerrit message CV sends, in UTF-8 bytes (`gerrit.MaxMessageLength`)."""

PLACEHOLDER: Final[str] = "\n...[truncated too long message]"
"""Appended to a truncated message; 32 bytes (`gerrit.PlaceHolder`)."""

# Python strings may hold lone surrogates (e.g. from a JSON "\ud800" escape); they are not
# valid UTF-8, so "surrogatepass" encodes each as the 3 bytes Go would have carried, and
# the cut below still only ever happens between whole code points.
_ERRORS: Final = "surrogatepass"


def _utf8_width(lead: int) -> int:
    """Bytes in the UTF-8 sequence that starts with byte `lead`."""
    if lead < 0x80:
        return 1
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


def _cut_bytes(data: bytes, limit: int) -> bytes:
    """The longest prefix of UTF-8 `data` of at most `limit` bytes that ends on a code point."""
    if len(data) <= limit:
        return data
    if limit <= 0:
        return b""
    # Scan back from the cut over continuation bytes (10xxxxxx) to the start byte of the
    # last code point; drop it if it does not fit entirely (spec §4.5.1).
    start = limit - 1
    while start > 0 and data[start] & 0xC0 == 0x80:
        start -= 1
    if start + _utf8_width(data[start]) > limit:
        return data[:start]
    return data[:limit]


def cut_utf8(text: str, max_bytes: int) -> str:
    """Return the longest prefix of `text` whose UTF-8 encoding is at most `max_bytes` long."""
    data = text.encode("utf-8", _ERRORS)
    if len(data) <= max_bytes:
        return text
    return _cut_bytes(data, max_bytes).decode("utf-8", _ERRORS)


_PLACEHOLDER_BYTES: Final = len(PLACEHOLDER.encode("utf-8"))


def truncate_message(msg: str) -> str:
    """Return `msg` unchanged if it fits in 16384 UTF-8 bytes, else its truncation (§4.5.1).

    A truncated message is the longest whole-code-point prefix of at most 16352 bytes
    followed by `PLACEHOLDER`, so the result is at most `MAX_MESSAGE_LENGTH` bytes.
    """
    data = msg.encode("utf-8", _ERRORS)
    if len(data) <= MAX_MESSAGE_LENGTH:
        return msg
    kept = _cut_bytes(data, MAX_MESSAGE_LENGTH - _PLACEHOLDER_BYTES)
    return kept.decode("utf-8", _ERRORS) + PLACEHOLDER
