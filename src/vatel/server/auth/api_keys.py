"""API keys: ``vtl_`` + 43 random URL-safe characters (256 bits), stored only as a SHA-256 hash.

A key has far more entropy than a password, so a plain fast hash is safe against guessing and
keeps every request's check to one indexed lookup; the database never holds a usable key.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "vtl_"
DISPLAY_PREFIX_LENGTH = 8


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(key: str) -> str:
    """What ``vatel keys list`` shows of a key: enough to recognise it, useless to an attacker."""
    return key[: len(KEY_PREFIX) + DISPLAY_PREFIX_LENGTH]


def bearer_key(authorization: str | None) -> str | None:
    """The key from ``Authorization: Bearer <key>``, or ``None`` when the header is absent or odd."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > 512:
        return None
    return value
