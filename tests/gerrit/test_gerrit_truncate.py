"""Gerrit messages are cut to 16384 UTF-8 bytes on a code point boundary (spec §4.5.1)."""

from __future__ import annotations

import pytest

from cvmigrate.gerrit.truncate import MAX_MESSAGE_LENGTH, PLACEHOLDER, cut_utf8, truncate_message

KEEP = MAX_MESSAGE_LENGTH - 32  # 16352


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def test_constants_match_cv() -> None:
    assert MAX_MESSAGE_LENGTH == 16384
    assert PLACEHOLDER == "\n...[truncated too long message]"
    assert utf8_len(PLACEHOLDER) == 32


@pytest.mark.parametrize("msg", ["", "short", "x" * 16383, "x" * 16384], ids=len)
def test_message_within_limit_is_unchanged(msg: str) -> None:
    assert truncate_message(msg) is msg


def test_message_one_byte_over_keeps_16352_bytes_plus_placeholder() -> None:
    result = truncate_message("x" * 16385)
    assert result == "x" * KEEP + PLACEHOLDER
    assert utf8_len(result) == MAX_MESSAGE_LENGTH


def test_limit_is_bytes_not_characters() -> None:
    msg = "é" * 8192  # 8192 characters, 16384 bytes: fits exactly.
    assert truncate_message(msg) is msg
    over = "é" * 8193  # 8193 characters, 16386 bytes: too long.
    assert truncate_message(over) == "é" * (KEEP // 2) + PLACEHOLDER


STRADDLING = [
    pytest.param(char, before, id=f"{len(char.encode())}-byte-{before}-before-cut")
    for char in ("é", "€", "😀")
    for before in range(1, len(char.encode()))
]


@pytest.mark.parametrize(("char", "bytes_before_cut"), STRADDLING)
def test_code_point_straddling_the_cut_is_dropped(char: str, bytes_before_cut: int) -> None:
    prefix = "a" * (KEEP - bytes_before_cut)
    msg = prefix + char + "z" * 100
    assert truncate_message(msg) == prefix + PLACEHOLDER


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_code_point_ending_exactly_at_the_cut_is_kept(char: str) -> None:
    prefix = "a" * (KEEP - utf8_len(char))
    msg = prefix + char + "z" * 100
    assert truncate_message(msg) == prefix + char + PLACEHOLDER


@pytest.mark.parametrize("char", ["é", "€", "😀", "a"])
@pytest.mark.parametrize("offset", range(4))
def test_result_is_always_within_limit_and_valid_utf8(char: str, offset: int) -> None:
    msg = "b" * offset + char * 20000
    result = truncate_message(msg)
    data = result.encode("utf-8")  # strict: raises if not valid UTF-8
    assert len(data) <= MAX_MESSAGE_LENGTH
    assert len(data) >= MAX_MESSAGE_LENGTH - 3
    assert result.endswith(PLACEHOLDER)
    assert msg.startswith(result.removesuffix(PLACEHOLDER))


def test_one_megabyte_comment_is_truncated() -> None:
    msg = ("linter warning: line too long ✗\n" * 40000)[: 1 << 20]
    assert utf8_len(msg) > 1 << 20
    result = truncate_message(msg)
    assert utf8_len(result) <= MAX_MESSAGE_LENGTH
    assert result.endswith(PLACEHOLDER)
    assert msg.startswith(result.removesuffix(PLACEHOLDER))


def test_lone_surrogate_counts_as_three_bytes_and_is_never_split() -> None:
    prefix = "a" * (KEEP - 1)
    msg = prefix + "\ud800" + "z" * 100
    assert truncate_message(msg) == prefix + PLACEHOLDER


def test_cut_utf8_returns_longest_fitting_prefix() -> None:
    assert cut_utf8("héllo", 10) == "héllo"
    assert cut_utf8("héllo", 2) == "h"
    assert cut_utf8("héllo", 3) == "hé"
    assert cut_utf8("😀😀", 7) == "😀"
    assert cut_utf8("😀", 3) == ""
    assert cut_utf8("abc", 0) == ""
