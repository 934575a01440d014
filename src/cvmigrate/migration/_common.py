"""Helpers shared by the handlers: storage errors as RPC errors, Run lookup."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store.db import StoreError, StoreUnavailable

__all__ = ["store_errors"]

log = logging.getLogger("cvmigrate.migration")


@contextlib.contextmanager
def store_errors(action: str) -> Iterator[None]:
    """Storage failures become UNAVAILABLE (retryable): the caller must never see a silent OK."""
    try:
        yield
    except StoreError as exc:
        log.error("%s failed: %s", action, exc)
        # The reason (locked, disk full) tells the operator what to fix; it holds no SQL.
        reason = f" ({exc.reason})" if isinstance(exc, StoreUnavailable) else ""
        raise RpcError(Code.UNAVAILABLE, f"{action} failed{reason}, retry later") from exc
