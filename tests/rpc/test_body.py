"""Reading request bodies under a limit, and capped gzip decompression (rpc/body.py)."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterable

import pytest

from cvmigrate.rpc.body import BodyTooLarge, gunzip, read_body
from cvmigrate.rpc.codec import DecodeError


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_reads_chunks_up_to_the_limit() -> None:
    assert await read_body(_chunks([b"ab", b"cd", b""]), limit=4, gzip=False) == b"abcd"


async def test_stops_reading_past_the_limit() -> None:
    consumed: list[bytes] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            consumed.append(b"x" * 10)
            yield b"x" * 10

    with pytest.raises(BodyTooLarge):
        await read_body(endless(), limit=25, gzip=False)
    assert len(consumed) == 3


async def test_rejects_a_declared_length_over_the_limit_without_reading() -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(_chunks([]), limit=10, gzip=False, declared_length=11)


async def test_decompresses_gzip_in_any_chunking() -> None:
    payload = os.urandom(3000) + b"a" * 5000
    compressed = gzip.compress(payload)
    for size in (1, 7, 4096):
        body = await read_body(_chunks(_split(compressed, size)), limit=8000, gzip=True)
        assert body == payload


async def test_decompresses_concatenated_gzip_members() -> None:
    compressed = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert await read_body(_chunks([compressed]), limit=100, gzip=True) == b"hello world"


async def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # ~50 KB inflating to 50 MiB
    assert len(bomb) < 100 * 1024
    with pytest.raises(BodyTooLarge):
        await read_body(_chunks(_split(bomb, 1024)), limit=1024 * 1024, gzip=True)


def test_inflated_pieces_never_exceed_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    largest: list[int] = []
    real = zlib.decompressobj

    class Spy:
        def __init__(self, *args: int) -> None:
            self._inner = real(*args)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            assert max_length > 0
            out = self._inner.decompress(data, max_length)
            largest.append(len(out))
            return out

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Spy)
    with pytest.raises(BodyTooLarge):
        gunzip(gzip.compress(b"\0" * (10 * 1024 * 1024)), limit=4096)
    assert max(largest) <= 4097


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not gzip at all", id="not-gzip"),
        pytest.param(gzip.compress(b"hello")[:-6], id="truncated"),
        pytest.param(gzip.compress(b"hello") + b"trailing", id="trailing-garbage"),
    ],
)
async def test_rejects_invalid_gzip(data: bytes) -> None:
    with pytest.raises(DecodeError, match="gzip"):
        await read_body(_chunks([data]), limit=1000, gzip=True)


async def test_an_empty_gzip_body_is_an_empty_message() -> None:
    assert await read_body(_chunks([b""]), limit=10, gzip=True) == b""
    assert gunzip(b"", limit=10) == b""


async def test_a_10_mb_gzip_bomb_under_a_1_mib_limit_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (10 * 1000 * 1000))  # ~10 KB on the wire
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            await read_body(_chunks(_split(bomb, 16 * 1024)), limit=1024 * 1024, gzip=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # At most the limit (plus a byte) is ever inflated, held once while being appended.
    assert peak < 3 * 1024 * 1024, peak
