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


# --- scoped API keys (people, contact) ---------------------------------------------------------

def key_for_scope(key: str | None, admin_hashes: list[str],
                  api_keys: list[tuple[str, str, list[str]]], scope: str) -> str | None | bool:
    """Who a bearer key is, if it may act in `scope` on this site.

    Returns "admin" for a site admin key (it may do everything), "key:<name>" for an API key
    holding the scope, False for a valid API key without it (a 403, not a 401), None for no
    valid key. `api_keys`: (name, hash, scopes) of the site's keys. Every hash is compared."""
    if check_admin_key(key, admin_hashes):
        return "admin"
    if not key:
        return None
    candidate = hash_admin_key(key).encode("ascii")
    found: tuple[str, list[str]] | None = None
    for name, h, scopes in api_keys:
        if hmac.compare_digest(candidate, h.encode("utf-8")):
            found = (name, scopes)
    if found is None:
        return None
    return f"key:{found[0]}" if scope in found[1] else False
