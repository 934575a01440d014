"""Reading request bodies under a size limit, with streaming gzip decompression.

The limit is enforced while reading (a lying or absent Content-Length cannot make us
buffer more) and again on the decompressed bytes, which are produced in capped pieces so
a gzip bomb never allocates more than the limit.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable
from typing import Final

from cvmigrate.rpc.wire_check import DecodeError

__all__ = ["BodyTooLarge", "gunzip", "read_body"]

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


class BodyTooLarge(Exception):
    """The request message is over the limit (before or after decompression)."""


async def read_body(
    chunks: AsyncIterable[bytes], *, limit: int, gzip: bool, declared_length: int | None = None
) -> bytes:
    """The whole request message, decompressed if `gzip`.

    Raises BodyTooLarge past `limit` bytes and DecodeError for invalid gzip data.
    """
    if declared_length is not None and declared_length > limit:
        raise BodyTooLarge
    if gzip:
        # The compressed bytes are capped as well, so neither form is buffered past it.
        inflater = _Inflater(limit)
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise BodyTooLarge
            inflater.feed(chunk)
        return inflater.finish()
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def gunzip(data: bytes, *, limit: int) -> bytes:
    """Decompress a whole gzip message (Connect GET); same errors as read_body."""
    inflater = _Inflater(limit)
    inflater.feed(data)
    return inflater.finish()


class _Inflater:
    """Incremental gzip decoding of one or more concatenated members, capped at `limit`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._output = bytearray()
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._received = False

    def feed(self, data: bytes) -> None:
        if data:
            self._received = True
        while data:
            # max_length must stay positive: 0 would mean "unlimited".
            room = self._limit + 1 - len(self._output)
            try:
                self._output += self._inflater.decompress(data, room)
            except zlib.error as exc:
                raise DecodeError(f"invalid gzip data: {exc}") from None
            if len(self._output) > self._limit:
                raise BodyTooLarge
            if self._inflater.eof:
                # Another member may follow (Go's gzip reader is multistream too).
                data = self._inflater.unused_data
                if data:
                    self._inflater = zlib.decompressobj(_GZIP_WBITS)
            else:
                data = self._inflater.unconsumed_tail

    def finish(self) -> bytes:
        # A zero-length body is not decompressed (Connect spec) and means an empty message.
        if self._received and not self._inflater.eof:
            raise DecodeError("invalid gzip data: truncated")
        return bytes(self._output)
