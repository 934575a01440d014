"""Encryption at rest for netrc tokens: Fernet with the key in $CVMIGRATE_SECRET_KEY."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["SECRET_KEY_ENV", "SecretBox", "SecretKeyError", "new_secret_key"]

SECRET_KEY_ENV: Final = "CVMIGRATE_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)


class SecretKeyError(Exception):
    """The secret key is missing, malformed, or does not open a stored value."""


def new_secret_key() -> str:
    """A new key: URL-safe base64 of 32 random bytes (what `cvmigrate secret-key` prints)."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts and decrypts small secrets; the key never appears in repr or errors."""

    def __init__(self, key: str):
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} must be URL-safe base64 of 32 bytes "
                "(make one with `cvmigrate secret-key`)"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(***)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecretBox | None:
        """The box for $CVMIGRATE_SECRET_KEY, None if unset; raises SecretKeyError if bad."""
        environ = os.environ if environ is None else environ
        key = environ.get(SECRET_KEY_ENV, "")
        return cls(key) if key else None

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                f"stored secret cannot be decrypted with the current {SECRET_KEY_ENV}"
            ) from None
