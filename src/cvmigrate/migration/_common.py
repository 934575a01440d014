"""Helpers shared by the handlers: storage errors as RPC errors, Run lookup."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from cvmigrate.rpc.codes import Code
from cvmigrate.rpc.errors import RpcError
from cvmigrate.store.db import StoreError

__all__ = ["store_errors"]

log = logging.getLogger("cvmigrate.migration")


@contextlib.contextmanager
def store_errors(action: str) -> Iterator[None]:
    """Storage failures become UNAVAILABLE (retryable): the caller must never see a silent OK."""
    try:
        yield
    except StoreError as exc:
        log.error("%s failed: %s", action, exc)
        raise RpcError(Code.UNAVAILABLE, f"{action} failed, retry later") from exc
