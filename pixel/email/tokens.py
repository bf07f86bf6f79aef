"""Signed e-mail tokens: open pixel, click, unsubscribe and signup confirmation.

Compact on purpose (the pixel's hot path verifies one per request): `~`-separated fields, the
kind first so a token of one kind is never accepted as another, then the site that selects the
key, signed with itsdangerous (HMAC-SHA256, no per-call key derivation). The click destination
travels inside the token, base64url-encoded, so a request can never choose where it goes.

    o~site~campaign~message~recipient~list~tracked~sent
    c~site~campaign~message~recipient~list~tracked~sent~link~destination
    u~site~recipient~list~campaign~message
    s~site~signup
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer

from cmp.keys import Keyring, b64u_decode, signed_parts

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HONEYPOT = -1  # link index of the hidden link no person can see


class BadToken(Exception):
    """Forged, altered, truncated, of another kind or for an unknown site."""


@dataclass(frozen=True, slots=True)
class OpenToken:
    site: str
    campaign: str
    message: str
    recipient: str
    list: str
    tracked: bool  # the recipient's regime/consent allowed tracking when the mail was prepared
    sent: int


@dataclass(frozen=True, slots=True)
class ClickToken:
    site: str
    campaign: str
    message: str
    recipient: str
    list: str
    tracked: bool
    sent: int
    link: int
    destination: str


@dataclass(frozen=True, slots=True)
class UnsubToken:
    site: str
    recipient: str
    list: str
    campaign: str
    message: str


def _b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).rstrip(b"=").decode()


def _unb64(s: str) -> str:
    return b64u_decode(s).decode()


def check_id(name: str, value: str) -> str:
    if not ID_RE.match(value):
        raise ValueError(f"{name} must be 1-64 letters, digits, '-' or '_': {value!r}")
    return value


class EmailTokens:
    """Per-site signers, built once and cached (the key is derived from the site's token key)."""

    def __init__(self, keyring: Keyring, sites: set[str] | frozenset[str]) -> None:
        self._keyring = keyring
        self._sites = frozenset(sites)
        self._signers: dict[str, Signer] = {}

    def _signer(self, site: str) -> Signer:
        s = self._signers.get(site)
        if s is None:
            if site not in self._sites:
                raise BadToken("unknown site")
            key = hmac.new(self._keyring.site(site).token_key, b"consentry/email-token",
                           hashlib.sha256).digest()
            s = self._signers[site] = Signer(key, key_derivation="none",
                                             digest_method=hashlib.sha256)
        return s

    def _sign(self, site: str, fields: list[str]) -> str:
        return self._signer(site).sign("~".join(fields)).decode()

    def _fields(self, token: str, kind: str, n: int) -> list[str]:
        # The site is read before the signature is checked only to pick the key.
        parts = token.split("~", 2)
        if len(parts) < 3 or parts[0] != kind:
            raise BadToken("not a token of this kind")
        # itsdangerous decodes the signature leniently (junk or `==` appended, the last
        # character's unused bits changed): only the canonical form is a link we made.
        if signed_parts(token) is None:
            raise BadToken("bad signature")
        try:
            payload = self._signer(parts[1]).unsign(token).decode()
        except (BadSignature, UnicodeError, ValueError):
            raise BadToken("bad signature") from None
        f = payload.split("~")
        if len(f) != n:
            raise BadToken("malformed")
        return f

    # --- open ---------------------------------------------------------------------------------
    def open_token(self, site: str, campaign: str, message: str, recipient: str, list_id: str,
                   tracked: bool, sent: int) -> str:
        return self._sign(site, ["o", site, campaign, message, recipient, list_id,
                                 "1" if tracked else "0", str(sent)])

    def verify_open(self, token: str) -> OpenToken:
        f = self._fields(token, "o", 8)
        try:
            return OpenToken(f[1], f[2], f[3], f[4], f[5], f[6] == "1", int(f[7]))
        except ValueError:
            raise BadToken("malformed") from None

    # --- click --------------------------------------------------------------------------------
    def click_token(self, site: str, campaign: str, message: str, recipient: str, list_id: str,
                    tracked: bool, sent: int, link: int, destination: str) -> str:
        return self._sign(site, ["c", site, campaign, message, recipient, list_id,
                                 "1" if tracked else "0", str(sent), str(link), _b64(destination)])

    def verify_click(self, token: str) -> ClickToken:
        f = self._fields(token, "c", 10)
        try:
            return ClickToken(f[1], f[2], f[3], f[4], f[5], f[6] == "1", int(f[7]), int(f[8]),
                              _unb64(f[9]))
        except (ValueError, binascii.Error, UnicodeError):
            raise BadToken("malformed") from None

    # --- unsubscribe --------------------------------------------------------------------------
    def unsub_token(self, site: str, recipient: str, list_id: str, campaign: str,
                    message: str) -> str:
        return self._sign(site, ["u", site, recipient, list_id, campaign, message])

    def verify_unsub(self, token: str) -> UnsubToken:
        f = self._fields(token, "u", 6)
        return UnsubToken(f[1], f[2], f[3], f[4], f[5])

    # --- signup confirmation ------------------------------------------------------------------
    def confirm_token(self, site: str, signup_id: str) -> str:
        return self._sign(site, ["s", site, signup_id])

    def verify_confirm(self, token: str) -> tuple[str, str]:
        f = self._fields(token, "s", 3)
        return f[1], f[2]
