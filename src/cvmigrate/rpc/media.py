"""Parsing of HTTP media types (`type/subtype; key=value`), as Go's mime.ParseMediaType."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_media_type"]

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """(lower-case media type, parameters with lower-case names); raises ValueError."""
    media_type, _, rest = value.partition(";")
    media_type = media_type.strip().lower()
    major, slash, minor = media_type.partition("/")
    if not _TOKEN.fullmatch(major) or (slash and not _TOKEN.fullmatch(minor)):
        raise ValueError(f"invalid media type {media_type!r}")
    params: dict[str, str] = {}
    while rest.strip():
        rest = rest.lstrip()
        key, eq, rest = rest.partition("=")
        key = key.strip().lower()
        if not eq or not _TOKEN.fullmatch(key):
            raise ValueError("invalid media type parameter")
        rest = rest.lstrip()
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise ValueError("unterminated quoted parameter value")
            param, rest = rest[1:end], rest[end + 1 :]
            rest = rest.lstrip()
            if rest and not rest.startswith(";"):
                raise ValueError("invalid media type parameter")
            rest = rest[1:]
        else:
            param, _, rest = rest.partition(";")
            param = param.strip()
            if not _TOKEN.fullmatch(param):
                raise ValueError("invalid media type parameter value")
        if key in params:
            raise ValueError(f"duplicate parameter {key!r}")
        params[key] = param
    return media_type, params
