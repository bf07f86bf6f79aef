"""The master secret and the per-site keys derived from it.

One secret per deployment (file or environment, shared by every worker); each site gets its own
token key, receipt signing key and pseudonym key by HMAC derivation, so a token of site A can
never verify for site B and no key is reused across purposes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cmp.config import ConfigError


def load_master_secret(secret_file: str | Path) -> bytes:
    """CONSENTRY_SECRET if set, else the secret file, created (0600) when missing."""
    env = os.environ.get("CONSENTRY_SECRET")
    if env:
        if len(env) < 32:
            raise ConfigError(["CONSENTRY_SECRET: must be at least 32 characters"])
        return env.encode()
    p = Path(secret_file)
    if not p.exists():
        # A missing folder is a typo far more often than a wish: refuse rather than make a new
        # secret somewhere nobody will back it up (every token and link depends on it).
        if not p.parent.is_dir():
            raise ConfigError([f"server.secret_file: folder {p.parent} does not exist "
                               f"(Consentry creates the secret, not its folder)"])
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    value = p.read_text().strip()
    if len(value) < 32:
        raise ConfigError([f"server.secret_file: {p} holds fewer than 32 characters"])
    return value.encode()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64U = re.compile(r"[A-Za-z0-9_-]*")


def b64u_decode(s: str) -> bytes:
    """Bytes from their canonical unpadded base64url form, and from no other.

    The standard decoder ignores padding, characters outside the alphabet and the unused low
    bits of the last character, so many strings decode to the same bytes: a signature with
    `==` or junk appended, or its last character changed, would still verify. Only the one
    string b64u() gives for the bytes is accepted; anything else is a ValueError."""
    if not isinstance(s, str) or not _B64U.fullmatch(s) or len(s) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if b64u(data) != s:
        raise ValueError("not the canonical base64url form")
    return data


def signed_parts(token: str, sig_bytes: int = 32) -> tuple[str, bytes] | None:
    """(payload, signature) of an itsdangerous `payload.signature` string whose signature is
    canonical base64url of `sig_bytes` bytes, else None. itsdangerous decodes signatures
    leniently, so this is checked before a token is handed to it."""
    payload, sep, sig = token.rpartition(".")
    if not sep or not payload:
        return None
    try:
        raw = b64u_decode(sig)
    except ValueError:
        return None
    return (payload, raw) if len(raw) == sig_bytes else None


class SiteKeys:
    """Keys for one site, derived once and cached."""

    def __init__(self, master: bytes, site: str) -> None:
        self.site = site
        self.token_key = self._derive(master, "consent-token")
        self.pseudonym_key = self._derive(master, "pseudonym")
        self.receipt_access_key = self._derive(master, "receipt-access")
        # Shared with the customer's backend (`consentry keys secrets`): it signs person hints
        # (cmp.hints) and the SMS provider's webhook calls with them.
        self.hint_key = self._derive(master, "person-hint")
        self.webhook_key = self._derive(master, "webhook")
        self.receipt_key = Ed25519PrivateKey.from_private_bytes(self._derive(master, "receipt"))
        pub = self.receipt_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.receipt_public = b64u(pub)
        self.receipt_key_id = hashlib.sha256(pub).hexdigest()[:16]

    def _derive(self, master: bytes, purpose: str) -> bytes:
        return hmac.new(master, f"consentry/{purpose}/{self.site}".encode(), hashlib.sha256).digest()

    def pseudonym(self, value: str) -> str:
        """Keyed pseudonym of an identifier (e-mail address ...): stable per site, not reversible."""
        return hmac.new(self.pseudonym_key, value.encode(), hashlib.sha256).hexdigest()


class Keyring:
    def __init__(self, master: bytes) -> None:
        self._master = master
        self._get = lru_cache(maxsize=None)(lambda site: SiteKeys(self._master, site))

    def site(self, site: str) -> SiteKeys:
        return self._get(site)

    def derive(self, purpose: str) -> bytes:
        """A deployment-wide key for one purpose (e.g. the dashboard session), not per site."""
        return hmac.new(self._master, f"consentry/{purpose}".encode(), hashlib.sha256).digest()
