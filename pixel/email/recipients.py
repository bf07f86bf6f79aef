"""Recipients in the ledger: their e-mail consents (marketing per list, engagement tracking).

A recipient is `r_` + the site's keyed HMAC of the normalised address: stable per site, never
reversible, and the raw address is stored nowhere. Their consents are ledger events like a
visitor's (hash-chained, with the texts shown, the regime, the method and the evidence); the
current state is derived from those events. Suppression rows are a fast copy of withdrawals
for the pixel path, written in the unsubscribe's own transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp import CMP_NAME, __version__
from cmp.config import Config, EmailConfig, SiteConfig, canonical_json
from cmp.errors import ErrorKind, FieldError
from cmp.geo import truncate_ip
from cmp.grants import ContactReason, Permission, contact_verdict, email_tracking, supersedes
from cmp.identifiers import IdentifierError, pseudonym
from cmp.keys import Keyring
from cmp.ledger import NewEvent, Notice, StoredEvent, iso, parse_iso, utc_now
from cmp.policy import PolicyEngine
from cmp.storage.base import EmailConsentStore, EmailSignup, Engagement
from cmp.types import EventKind, Visitor
from cmp.uaclass import ua_class
from pixel.email.tokens import BadToken, EmailTokens, UnsubToken

ALL = "#all"  # suppression scope: every marketing list
TRACKING = "#tracking"  # suppression scope: no engagement logging


# One normalisation and one pseudonym for every identifier kind (cmp.identifiers).
AddressError = IdentifierError


@dataclass
class EmailState:
    """A recipient's e-mail consents derived from their ledger events."""

    lists: dict[str, bool] = field(default_factory=dict)
    tracking: bool | None = None  # None: never asked
    regime: str | None = None
    country: str | None = None
    language: str | None = None
    events: int = 0

    def subscribed(self, list_id: str) -> bool:
        return self.lists.get(list_id, False)


def email_state(events: list[StoredEvent]) -> EmailState:
    st = EmailState()
    for ev in events:
        p = ev.payload
        if p.get("channel") != "email":
            continue
        st.events += 1
        choice = p.get("email", {})
        st.lists.update(choice.get("lists", {}))
        if choice.get("tracking") is not None:
            st.tracking = bool(choice["tracking"])
        st.regime = p.get("regime") or st.regime
        st.country = p.get("country") or st.country
        st.language = p.get("language") or st.language
    return st


def tracking_allowed(email: EmailConfig, state: EmailState, suppressed: set[str]) -> bool:
    """Explicit tracking consent, or a regime the config lets track without it (unless refused)."""
    return email_tracking(state.tracking, state.regime,
                          without_consent=email.tracking_without_consent,
                          refused=TRACKING in suppressed)


class SignupIn(BaseModel):
    """Body of POST /v1/sites/{site}/email/signup (sent by the site's backend, admin key)."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    lists: list[str] = Field(min_length=1, max_length=50)
    tracking: bool | None = Field(None, description="the answer to engagement tracking; "
                                  "null when the form did not ask")
    language: str | None = Field(None, max_length=35)
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="where the person is")
    ip: str | None = Field(None, max_length=64, description="the person's IP (stored truncated)")
    user_agent: str | None = Field(None, max_length=512)


def parse_signup(data: Any) -> SignupIn:
    try:
        return SignupIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


def _collected_at(value: Any) -> str | None:
    """An import's consent date (ISO date or date-time; a date means its start, UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return iso(ts if ts.tzinfo else ts.replace(tzinfo=UTC))


def _refused_since(held: list[tuple[str, Permission]], list_id: str, grant: Permission) -> bool:
    reason, latest = contact_verdict(held, list_id, known=True, suppressed=False)
    return reason == ContactReason.OPTED_OUT and not supersedes(grant, latest)


@dataclass(frozen=True, slots=True)
class Pending:
    recipient: str
    signup_id: str
    confirm_url: str
    expires: str


@dataclass(frozen=True, slots=True)
class Confirmed:
    recipient: str
    lists: list[str]
    already: bool
    event: StoredEvent | None


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    recipient: str
    scopes: list[str]
    already: bool
    event: StoredEvent | None


class EmailConsents:
    """Recording and reading recipients' e-mail consents. No HTTP here."""

    def __init__(self, config: Config, storage: EmailConsentStore, policy: PolicyEngine, keyring: Keyring,
                 tokens: EmailTokens, public_url: str) -> None:
        self.config = config
        self.storage = storage
        self.policy = policy
        self.keyring = keyring
        self.tokens = tokens
        self.public_url = public_url.rstrip("/")

    def site(self, site_id: str) -> tuple[SiteConfig, EmailConfig]:
        site = self.config.sites.get(site_id)
        if site is None:
            raise FieldError("site", f"unknown site {site_id!r}", ErrorKind.UNKNOWN_SITE)
        if site.email is None:
            raise FieldError("site", f"site {site_id!r} has no [email] section",
                             ErrorKind.UNKNOWN_SITE)
        return site, site.email

    def base_url(self, email: EmailConfig) -> str:
        return email.base_url or self.public_url

    def recipient_id(self, site_id: str, address: str) -> str:
        return pseudonym(self.keyring.site(site_id), "email", address)

    async def state(self, site_id: str, recipient: str) -> EmailState:
        return email_state(await self.storage.events_for_subject(site_id, recipient))

    # --- what was shown -----------------------------------------------------------------------
    def texts(self, site: SiteConfig, email: EmailConfig, lang: str,
              lists: list[str]) -> dict[str, Any]:
        return {
            "channel": "email",
            "revision": site.revision,
            "language": lang,
            "controller": site.name,
            "sender": email.sender,
            "lists": {lid: {"title": email.lists[lid].title.get(lang, ""),
                            "description": email.lists[lid].description.get(lang, "")}
                      for lid in sorted(lists)},
            "tracking": email.tracking_text.get(lang, ""),
        }

    def _check_lists(self, email: EmailConfig, lists: list[str], field_name: str) -> None:
        for lid in lists:
            if lid not in email.lists:
                raise FieldError(f"{field_name}.{lid}" if field_name else lid, "unknown list")

    async def _append(self, site_id: str, site: SiteConfig, email: EmailConfig, recipient: str,
                      *, kind: EventKind | None, action: str, method: str, lists: dict[str, bool],
                      tracking: bool | None, regime: str | None, country: str | None,
                      language: str, evidence: dict[str, Any], ip: str | None = None,
                      ua: str | None = None, collected_at: str | None = None) -> StoredEvent:
        if kind is None:
            known = await self.storage.events_for_subject(site_id, recipient)
            kind = EventKind.UPDATE if known else EventKind.GRANT
        texts = self.texts(site, email, language, list(lists))
        texts_hash = hashlib.sha256(canonical_json(texts)).hexdigest()
        payload: dict[str, Any] = {
            "channel": "email",
            "regime": regime,
            "country": country,
            "revision": site.revision,
            "texts_hash": texts_hash,
            "language": language,
            "action": action,
            "email": {"lists": dict(sorted(lists.items())), "tracking": tracking},
            "ua_class": ua_class(ua),
            "method": method,
            "cmp": f"{CMP_NAME}/{__version__}",
            "evidence": evidence,
        }
        if collected_at:
            payload["collected_at"] = collected_at  # when the person chose (cmp/contacts.py)
        event = NewEvent.build(site=site_id, subject=recipient, kind=kind, payload=payload,
                               ip_truncated=truncate_ip(ip),
                               notice=Notice(texts_hash, site_id, site.revision, language, texts))
        return await self.storage.append(event)

    # --- double opt-in ------------------------------------------------------------------------
    async def signup(self, site_id: str, body: SignupIn) -> Pending:
        site, email = self.site(site_id)
        self._check_lists(email, body.lists, "lists")
        try:
            recipient = self.recipient_id(site_id, body.email)
        except AddressError as exc:
            raise FieldError("email", str(exc)) from None
        if body.language is not None and body.language not in site.languages:
            raise FieldError("language", f"{body.language!r} is not one of {site.languages}")
        visitor = Visitor(ip=body.ip, country=body.country, user_agent=body.user_agent)
        decision = self.policy.decide(site_id, visitor, body.language)
        now = utc_now()
        signup_id = secrets.token_urlsafe(12)
        request = {
            "lists": sorted(set(body.lists)), "tracking": body.tracking,
            # Without `language` the site's default stands in; the confirmation page then
            # follows the browser instead, and the consent records the page's language.
            "language": decision.language, "language_given": body.language is not None,
            "regime": decision.regime,
            "country": decision.country, "requested_at": iso(now),
            "ip": truncate_ip(body.ip), "ua_class": ua_class(body.user_agent),
            "texts_hash": hashlib.sha256(canonical_json(self.texts(
                site, email, decision.language, body.lists))).hexdigest(),
        }
        await self.storage.email_signup_create(signup_id, site_id, recipient, request, iso(now))
        token = self.tokens.confirm_token(site_id, signup_id)
        return Pending(recipient, signup_id, f"{self.base_url(email)}/e/s/{token}",
                       iso(now + timedelta(days=email.confirm_days)))

    async def _signup(self, token: str) -> tuple[str, SiteConfig, EmailConfig, EmailSignup]:
        """The pending sign-up a confirmation link names, or the FieldError a visitor sees."""
        try:
            site_id, signup_id = self.tokens.verify_confirm(token)
        except BadToken:
            raise FieldError("token", "this confirmation link is not valid") from None
        site, email = self.site(site_id)
        signup = await self.storage.email_signup(signup_id)
        if signup is None or signup.site != site_id:
            raise FieldError("token", "this confirmation link is not valid", ErrorKind.NOT_FOUND)
        return site_id, site, email, signup

    async def confirm(self, token: str, *, ip: str | None, ua: str | None,
                      page_language: str | None = None) -> Confirmed:
        """`page_language`: the confirmation page's, recorded as the consent's language when
        the signup named none (what the person read when they confirmed)."""
        site_id, site, email, signup = await self._signup(token)
        signup_id = signup.signup_id
        req = signup.request
        language = req["language"]
        if not req.get("language_given", True) and page_language in site.languages:
            language = page_language
        if signup.confirmed is not None:
            return Confirmed(signup.recipient, req["lists"], True, None)
        now = utc_now()
        if now > parse_iso(signup.created) + timedelta(days=email.confirm_days):
            raise FieldError("token", "this confirmation link has expired; sign up again",
                             ErrorKind.GONE)
        lists = [lid for lid in req["lists"] if lid in email.lists]
        event = await self._append(
            site_id, site, email, signup.recipient, kind=None, action="double_opt_in",
            method="double_opt_in", lists=dict.fromkeys(lists, True),
            tracking=req["tracking"], regime=req["regime"], country=req["country"],
            language=language, ip=ip, ua=ua,
            evidence={"signup_id": signup_id, "requested_at": req["requested_at"],
                      "requested_ip": req["ip"], "requested_ua_class": req["ua_class"],
                      "requested_texts_hash": req["texts_hash"], "confirmed_at": iso(now)})
        await self.storage.email_signup_confirm(signup_id, iso(now))
        scopes = [*lists, ALL] + ([TRACKING] if req["tracking"] else [])
        await self.storage.email_unsuppress(site_id, signup.recipient, scopes)
        return Confirmed(signup.recipient, lists, False, event)

    async def signup_info(self, token: str) -> tuple[SiteConfig, EmailConfig, dict[str, Any], bool]:
        """What the confirmation page shows (nothing changes)."""
        _, site, email, signup = await self._signup(token)
        return site, email, signup.request, signup.confirmed is not None

    # --- import -------------------------------------------------------------------------------
    async def import_consent(self, site_id: str, address: str, lists: list[str], *,
                             tracking: bool | None, country: str | None, language: str | None,
                             evidence: dict[str, Any]) -> StoredEvent | None:
        """Record consent collected elsewhere; None when the ledger already says the same, or
        when every list is one the recipient opted out of after the grant the import carries.

        An import never re-grants a list the recipient refused later than the consent it
        carries (`evidence.consented_at`; without a date, later than any refusal at all): an
        old CRM export must not re-subscribe people who unsubscribed since. Which answer
        stands is the grant rule's (cmp.grants.supersedes)."""
        site, email = self.site(site_id)
        self._check_lists(email, lists, "")
        recipient = self.recipient_id(site_id, address)
        lang = language if language in site.languages else site.lang_default
        regime = self.policy.regime_for(site, country, None)
        collected = _collected_at(evidence.get("consented_at"))
        if collected is not None and collected > iso(utc_now() + timedelta(minutes=5)):
            # A date ahead of ours would outrank every opt-out until it came.
            raise FieldError("consented_at", "is in the future")
        held = [(r.scope, r.permission) for r in await self.storage.contact_rows(
            site_id, [recipient]) if r.channel == "email"]
        grant = Permission(True, collected or "", "", 0)
        lists = [lid for lid in lists if not _refused_since(held, lid, grant)]
        if not lists:
            return None
        state = await self.state(site_id, recipient)
        if all(state.subscribed(lid) for lid in lists) and (
                tracking is None or state.tracking == tracking):
            return None
        event = await self._append(
            site_id, site, email, recipient, kind=None, action="import", method="csv_import",
            lists=dict.fromkeys(lists, True), tracking=tracking, regime=regime, country=country,
            language=lang, evidence=evidence, collected_at=collected)
        await self.storage.email_unsuppress(
            site_id, recipient, [*lists, ALL] + ([TRACKING] if tracking else []))
        return event

    # --- unsubscribe --------------------------------------------------------------------------
    def unsub(self, token: str) -> UnsubToken:
        try:
            t = self.tokens.verify_unsub(token)
        except BadToken:
            raise FieldError("token", "this unsubscribe link is not valid") from None
        self.site(t.site)
        return t

    async def unsubscribe(self, t: UnsubToken, *, scope: Literal["list", "all"] = "list",
                          tracking_off: bool = False, method: str = "one_click",
                          ip: str | None = None, ua: str | None = None) -> Unsubscribed:
        """Withdraw marketing consent (this list or all) and suppress; idempotent."""
        site, email = self.site(t.site)
        lists = [t.list] if scope == "list" else sorted(email.lists)
        if t.list not in email.lists and scope == "list":
            lists = [t.list]  # a list since removed from the config: still honour the request
        wanted = lists + ([ALL] if scope == "all" else []) + ([TRACKING] if tracking_off else [])
        have = await self.storage.email_suppressions(t.site, t.recipient)
        if set(wanted) <= have:
            return Unsubscribed(t.recipient, wanted, True, None)
        state = await self.state(t.site, t.recipient)
        now = utc_now()
        event = await self._append(
            t.site, site, email, t.recipient, kind=EventKind.WITHDRAW, action="withdraw",
            method=method, lists=dict.fromkeys(lists, False),
            tracking=False if tracking_off else None, regime=state.regime, country=state.country,
            language=state.language or site.lang_default, ip=ip, ua=ua,
            evidence={"campaign": t.campaign, "message": t.message, "scope": scope})
        await self.storage.append_engagement(Engagement(
            site=t.site, campaign=t.campaign, message=t.message, recipient=t.recipient,
            list=t.list, kind="unsubscribe", link=None, cls=method, machine=False, reason=None,
            ts=iso(now), ts_ms=int(now.timestamp() * 1000), suppress=tuple(wanted)))
        return Unsubscribed(t.recipient, wanted, False, event)
