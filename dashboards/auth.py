"""Dashboard login: per-site users and operators (scrypt hashes in the config) or a site's
admin key.

Two roles. Users and admin keys see every view. Operators (customer service, `operators` in
the site config) find a person, see and record their choices and read the ledger lookup; they
never export, erase, verify the chain or see the consent, e-mail and recipients statistics
or the impact assessments
(what a caller on the phone needs is one person's state, not the site's numbers or its DSAR
tools).

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
OPERATOR = "operator:"
# What each role may do; routes ask for one capability each.
CAPABILITIES = frozenset({"consent", "email", "ledger", "verify", "export", "erase", "people",
                          "recipients", "assessments"})
OPERATOR_MAY = frozenset({"ledger", "people"})
# Checked when the name is unknown, so a guess costs the same time whether or not it exists.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def fingerprint(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Session:
    who: str  # "user:<name>", "operator:<name>" or "admin key"
    grants: dict[str, str]  # site -> fingerprint of the stored hash that granted it
    csrf: str

    @property
    def sites(self) -> list[str]:
        return sorted(self.grants)

    @property
    def is_operator(self) -> bool:
        return self.who.startswith(OPERATOR)

    @property
    def name(self) -> str:
        """Who acted, as the ledger's `operator`: an operator's bare name, else `who`."""
        return self.who.removeprefix(OPERATOR) if self.is_operator else self.who

    def may(self, capability: str) -> bool:
        assert capability in CAPABILITIES, capability
        return capability in OPERATOR_MAY if self.is_operator else True

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
        """A user's session if the name and password are a user's on any site, else an
        operator's. One role per session: a name that is a user on one site and an operator on
        another logs in as the user (config check forbids both on one site)."""
        known = False
        for role, table in (("user:", "users"), (OPERATOR, "operators")):
            grants: dict[str, str] = {}
            for site_id, site in self.config.sites.items():
                stored = getattr(site, table).get(name)
                if stored is not None:
                    known = True
                    if check_password(password, stored):
                        grants[site_id] = fingerprint(stored)
            if grants:
                return Session(f"{role}{name}", grants, secrets.token_urlsafe(24))
        if not known:
            check_password(password, _DUMMY)
        return None

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
        if who.startswith(OPERATOR):
            stored = site.operators.get(who.removeprefix(OPERATOR))
            return stored is not None and hmac.compare_digest(fingerprint(stored), fp)
        return any(hmac.compare_digest(fingerprint(h), fp) for h in self.admin_hashes(site_id))


def new_form_token() -> str:
    """A token for the pre-login form (double-submit: cookie and hidden field must agree)."""
    return secrets.token_urlsafe(24)
