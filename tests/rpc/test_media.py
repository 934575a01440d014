"""Media type parsing (rpc/media.py), as Go's mime.ParseMediaType does it."""

from __future__ import annotations

import pytest

from cvmigrate.rpc.media import parse_media_type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/json", ("application/json", {})),
        ("Application/JSON; Charset=UTF-8", ("application/json", {"charset": "UTF-8"})),
        ("application/prpc; encoding=binary", ("application/prpc", {"encoding": "binary"})),
        ('application/prpc; encoding="json"', ("application/prpc", {"encoding": "json"})),
        ("*/*", ("*/*", {})),
        ("application/json;", ("application/json", {})),
    ],
)
def test_parses(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_media_type(value) == expected


@pytest.mark.parametrize(
    "value", ["", "/json", "application/", "a/b; x", "a/b; =1", 'a/b; x="1', "a/b; x=1; x=2"]
)
def test_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_media_type(value)
