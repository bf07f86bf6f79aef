"""Admin keys: the config stores only "sha256:<hex>" hashes, never a key.

Keys are 256-bit random tokens, so an unsalted SHA-256 is enough (nothing to brute-force) and
keeps the hash reproducible by hand: `printf %s KEY | sha256sum`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "sha256:"


def hash_admin_key(key: str) -> str:
    return PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_admin_key() -> tuple[str, str]:
    """A fresh key and the hash to put in `admin_key_hashes`; show the key once, store the hash."""
    key = secrets.token_urlsafe(32)
    return key, hash_admin_key(key)


def check_admin_key(key: str | None, hashes: list[str]) -> bool:
    """True if `key` matches one of `hashes`.

    Every hash is compared, in constant time, so timing tells neither whether nor which one
    matched. An empty key never matches (the starter config's placeholder is the empty key's hash).
    """
    if not key:
        return False
    candidate = hash_admin_key(key).encode("ascii")
    matched = False
    for h in hashes:
        matched |= hmac.compare_digest(candidate, h.encode("utf-8"))
    return matched


# The starter config's placeholder: it can never match (empty keys are refused), and
# `consentry init` swaps it for the hash of a key it generates and prints.
PLACEHOLDER_HASH = hash_admin_key("")
