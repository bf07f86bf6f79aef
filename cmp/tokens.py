"""Signed consent tokens (the banner's first-party cookie) and receipt links.

A consent token carries the choices themselves, so the pixel, tag gate and middleware decide
without a database read; the ledger stays the proof. Keys are per site and purpose-derived
(cmp.keys), so itsdangerous runs without its own per-call key derivation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from cmp.keys import Keyring, b64u, signed_parts
from cmp.types import Choices

_SIGNER = {"key_derivation": "none", "digest_method": hashlib.sha256}
_PAYLOAD = re.compile(r"\.?[A-Za-z0-9_-]+")


class TokenError(Exception):
    """A token that is forged, altered, expired or for another site."""


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Verified consent presented by a visitor."""

    site: str
    subject: str
    revision: int
    regime: str
    purposes: frozenset[str]
    vendors: frozenset[str]
    separate: frozenset[str]
    gpc: bool
    issued: int
    expires: int

    def allows(self, purpose: str) -> bool:
        return purpose in self.purposes

    def allows_vendor(self, vendor: str) -> bool:
        return vendor in self.vendors

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site, "consent_id": self.subject, "revision": self.revision,
            "regime": self.regime, "purposes": sorted(self.purposes),
            "vendors": sorted(self.vendors), "separate": sorted(self.separate),
            "gpc": self.gpc, "issued": self.issued, "expires": self.expires,
        }


class TokenService:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._consent: dict[str, URLSafeSerializer] = {}

    def _ser(self, cache: dict[str, URLSafeSerializer], site: str, attr: str) -> URLSafeSerializer:
        ser = cache.get(site)
        if ser is None:
            key = getattr(self._keyring.site(site), attr)
            ser = cache[site] = URLSafeSerializer(key, signer_kwargs=_SIGNER)
        return ser

    def issue(self, *, site: str, subject: str, revision: int, regime: str, choices: Choices,
              gpc: bool, lifetime_days: int, now: float | None = None) -> tuple[str, int]:
        issued = int(now if now is not None else time.time())
        expires = issued + lifetime_days * 86400
        body = {
            "s": site, "c": subject, "r": revision, "rg": regime,
            "p": sorted(k for k, v in choices.purposes.items() if v),
            "v": sorted(k for k, v in choices.vendors.items() if v),
            "x": sorted(k for k, v in choices.separate.items() if v),
            "g": int(gpc), "i": issued, "e": expires,
        }
        return self._ser(self._consent, site, "token_key").dumps(body), expires

    def verify(self, site: str, token: str | None, now: float | None = None) -> ConsentState:
        if not token:
            raise TokenError("no consent token")
        # Only the form issue() gives: payload (optionally "." for compressed) in the base64url
        # alphabet, then the canonical signature. Anything appended or altered is refused.
        parts = signed_parts(token)
        if parts is None or not _PAYLOAD.fullmatch(parts[0]):
            raise TokenError("consent token signature is invalid")
        try:
            body = self._ser(self._consent, site, "token_key").loads(token)
        except BadSignature:
            raise TokenError("consent token signature is invalid") from None
        try:
            state = ConsentState(
                site=body["s"], subject=body["c"], revision=int(body["r"]), regime=body["rg"],
                purposes=frozenset(body["p"]), vendors=frozenset(body["v"]),
                separate=frozenset(body["x"]), gpc=bool(body["g"]), issued=int(body["i"]),
                expires=int(body["e"]))
        except (KeyError, TypeError, ValueError):
            raise TokenError("consent token is malformed") from None
        if state.site != site:
            raise TokenError("consent token belongs to another site")
        if state.expires <= (now if now is not None else time.time()):
            raise TokenError("consent token has expired")
        return state

    def receipt_access(self, site: str, subject: str) -> str:
        """The unguessable part of a receipt link: a 128-bit HMAC of the consent id.

        The link itself names site and consent id, so a bare MAC is enough (and is computed
        on every consent, so it is kept cheaper than a serialised token)."""
        key = self._keyring.site(site).receipt_access_key
        return b64u(hmac.new(key, subject.encode(), hashlib.sha256).digest()[:16])

    def check_receipt_access(self, site: str, subject: str, token: str | None) -> bool:
        if not token:
            return False
        return hmac.compare_digest(token.encode(), self.receipt_access(site, subject).encode())
