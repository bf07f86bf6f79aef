"""Dashboard login: per-site users (scrypt hashes in the config) or a site's admin key.

A session names, per site it grants, a fingerprint of the credential that granted it. Every
request checks the fingerprint against the current config, so removing a user, changing a
password or revoking an admin key ends existing sessions for that site at once, without a
server-side session store. The cookie is signed (itsdangerous) with a key derived from the
master secret, and carries a random CSRF token that every form must echo.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from cmp.adminkeys import check_admin_key
from cmp.config import Config
from dashboards.passwords import check_password, hash_password

SESSION_SECONDS = 12 * 3600
# Checked when the name is unknown, so a guess costs the same time whether or not it exists.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def fingerprint(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Session:
    who: str  # "user:<name>" or "admin key"
    grants: dict[str, str]  # site -> fingerprint of the stored hash that granted it
    csrf: str

    @property
    def sites(self) -> list[str]:
        return sorted(self.grants)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


class Auth:
    def __init__(self, config: Config, admin_hashes: Callable[[str], list[str]],
                 secret: bytes) -> None:
        self.config = config
        self.admin_hashes = admin_hashes
        self._signer = URLSafeTimedSerializer(secret, salt="consentry-dashboard-session")

    # --- logging in -----------------------------------------------------------------------
    def login_password(self, name: str, password: str) -> Session | None:
        grants: dict[str, str] = {}
        for site_id, site in self.config.sites.items():
            stored = site.users.get(name)
            if stored is not None and check_password(password, stored):
                grants[site_id] = fingerprint(stored)
        if not grants:
            if not any(name in s.users for s in self.config.sites.values()):
                check_password(password, _DUMMY)
            return None
        return Session(f"user:{name}", grants, secrets.token_urlsafe(24))

    def login_key(self, key: str) -> Session | None:
        grants: dict[str, str] = {}
        for site_id in self.config.sites:
            for h in self.admin_hashes(site_id):
                if check_admin_key(key, [h]):
                    grants[site_id] = fingerprint(h)
        if not grants:
            return None
        return Session("admin key", grants, secrets.token_urlsafe(24))

    # --- the cookie -----------------------------------------------------------------------
    def dumps(self, s: Session) -> str:
        return self._signer.dumps({"w": s.who, "g": s.grants, "c": s.csrf})

    def loads(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_SECONDS)
            s = Session(str(data["w"]), {str(k): str(v) for k, v in data["g"].items()},
                        str(data["c"]))
        except (BadSignature, KeyError, TypeError, AttributeError, ValueError):
            return None
        live = {site: fp for site, fp in s.grants.items() if self._still_valid(s.who, site, fp)}
        return Session(s.who, live, s.csrf) if live else None

    def _still_valid(self, who: str, site_id: str, fp: str) -> bool:
        site = self.config.sites.get(site_id)
        if site is None:
            return False
        if who.startswith("user:"):
            stored = site.users.get(who.removeprefix("user:"))
            return stored is not None and hmac.compare_digest(fingerprint(stored), fp)
        return any(hmac.compare_digest(fingerprint(h), fp) for h in self.admin_hashes(site_id))


def new_form_token() -> str:
    """A token for the pre-login form (double-submit: cookie and hidden field must agree)."""
    return secrets.token_urlsafe(24)
