"""Recording consent: request → choices → ledger event → signed token. No HTTP here.

What a choice grants is the one grant rule's (cmp.grants); this module checks the request,
appends the ledger event and issues the token. The subject comes only from a verified token; a
forged or stale token starts a new subject.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp import CMP_NAME, __version__
from cmp.checkpoints import CheckpointService
from cmp.config import Config, SiteConfig
from cmp.errors import ErrorKind, FieldError
from cmp.geo import truncate_ip
from cmp.grants import Action, Answers, choose
from cmp.grants import lifetime_days as grant_lifetime
from cmp.keys import Keyring
from cmp.ledger import (
    ChainReport,
    NewEvent,
    Notice,
    StoredEvent,
    current_choices,
    iso,
    utc_now,
    verify_site,
)
from cmp.policy import Decision, PolicyEngine
from cmp.receipts import build_receipt
from cmp.storage.base import ConsentStore
from cmp.tokens import ConsentState, TokenError, TokenService
from cmp.types import Choices, EventKind, Model, UIAction, Visitor
from cmp.uaclass import ua_class


class ConsentIn(BaseModel):
    """Body of POST /v1/sites/{site}/consent."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["accept_all", "reject_all", "custom"]
    revision: int = Field(ge=1, description="Config revision the banner showed")
    language: str | None = Field(None, max_length=35, description="Language the banner showed")
    purposes: dict[str, bool] = Field(default_factory=dict, max_length=200)
    vendors: dict[str, bool] = Field(default_factory=dict, max_length=500)
    separate: dict[str, bool] = Field(default_factory=dict, max_length=100)
    gpc: bool = Field(False, description="navigator.globalPrivacyControl as the page saw it")
    tc_string: str | None = Field(None, max_length=4000)
    hint: str | None = Field(None, description="The page's person hint (data-person), if any: "
                             "the consent id is then linked to that member")


def parse_consent_in(data: Any) -> ConsentIn:
    try:
        return ConsentIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise FieldError(field, err["msg"]) from None


@dataclass(frozen=True, slots=True)
class Recorded:
    subject: str
    token: str
    expires: int
    event: StoredEvent
    choices: Choices

    @property
    def choices_doc(self) -> dict[str, dict[str, bool]]:
        """The choices as recorded in the event (built once, in _append, for both)."""
        doc: dict[str, dict[str, bool]] = self.event.payload["choices"]
        return doc


def resolve_choices(site: SiteConfig, decision: Decision, body: ConsentIn) -> Choices:
    """The choices a banner request records: its answers checked, then the one grant rule."""
    for group, known, label in (("purposes", site.purposes, "purpose"),
                                ("vendors", site.vendors, "vendor"),
                                ("separate", site.banner_separate, "separate-consent item")):
        for key in getattr(body, group):
            if key not in known:
                raise FieldError(f"{group}.{key}", f"unknown {label}")
    return choose(site.rule, Action(body.action),
                  Answers(body.purposes, body.vendors, body.separate),
                  model=decision.model, gpc=decision.gpc or body.gpc)


def withdrawn(site: SiteConfig, action: Action = Action.WITHDRAW) -> Choices:
    """What a withdrawal (or an expiry) leaves: necessary purposes and their vendors."""
    return choose(site.rule, action, model=Model.OPT_IN, gpc=False)


def lifetime_days(site: SiteConfig, choices: Choices) -> int:
    return grant_lifetime(site.rule, choices, site.cookie.accept_days, site.cookie.reject_days)


class ConsentService:
    def __init__(self, config: Config, storage: ConsentStore, policy: PolicyEngine,
                 tokens: TokenService, keyring: Keyring,
                 checkpoints: CheckpointService | None = None) -> None:
        self.config = config
        self.checkpoints = checkpoints  # receipts carry inclusion proofs when given
        self.storage = storage
        self.policy = policy
        self.tokens = tokens
        self.keyring = keyring
        self._bulk: dict[tuple[str, str, str, bool], Choices] = {}

    def _choices(self, site_id: str, site: SiteConfig, decision: Decision,
                  body: ConsentIn) -> Choices:
        # "Accept all" / "Reject all" without item-level answers resolve the same way for every
        # visitor of a (site, regime, GPC): most consents are one of these, so resolve once.
        if body.action == "custom" or body.purposes or body.vendors or body.separate:
            return resolve_choices(site, decision, body)
        key = (site_id, body.action, decision.regime, decision.gpc or body.gpc)
        hit = self._bulk.get(key)
        if hit is None:
            hit = self._bulk[key] = resolve_choices(site, decision, body)
        return hit

    def site(self, site_id: str) -> SiteConfig:
        site = self.config.sites.get(site_id)
        if site is None:
            raise FieldError("site", f"unknown site {site_id!r}", ErrorKind.UNKNOWN_SITE)
        return site

    def state_from_token(self, site_id: str, token: str | None) -> ConsentState | None:
        try:
            return self.tokens.verify(site_id, token)
        except TokenError:
            return None

    async def record(self, site_id: str, visitor: Visitor, body: ConsentIn, token: str | None,
                     *, origin: str | None = None, method: str = "banner") -> Recorded:
        site = self.site(site_id)
        if body.revision != site.revision:
            raise FieldError("revision", f"the banner showed revision {body.revision} but the "
                             f"current revision is {site.revision}; reload the config",
                             ErrorKind.STALE_REVISION)
        if body.language is not None and body.language not in site.languages:
            raise FieldError("language", f"{body.language!r} is not one of {site.languages}")
        decision = self.policy.decide(site_id, visitor, body.language)
        choices = self._choices(site_id, site, decision, body)
        previous = self.state_from_token(site_id, token)
        subject = previous.subject if previous else "c_" + secrets.token_urlsafe(16)
        kind = EventKind.UPDATE if previous else EventKind.GRANT
        return await self._append(site_id, site, visitor, decision, subject, kind, UIAction(body.action),
                                  choices, gpc=decision.gpc or body.gpc, origin=origin,
                                  method=method, tc_string=body.tc_string)

    async def adopt(self, site_id: str, visitor: Visitor, previous: ConsentState | None,
                    choices: Choices, *, language: str | None = None, gpc: bool = False,
                    origin: str | None = None, extra: dict[str, Any] | None = None) -> Recorded:
        """Choices the person made elsewhere, recorded for this browser (a new consent id if
        it has none): a member signed in (cmp.identify). The grant rule already resolved them."""
        site = self.site(site_id)
        decision = self.policy.decide(site_id, visitor, language)
        subject = previous.subject if previous else "c_" + secrets.token_urlsafe(16)
        # `gpc` of an event (and its token) says the choice was made under GPC; this one was
        # made elsewhere, so a GPC signal here counts as arriving after it: the purposes
        # marked gpc stay off on this browser while the signal is on (the grant rule's
        # effective), and the ledger keeps the person's answer as given.
        return await self._append(site_id, site, visitor, decision, subject,
                                  EventKind.UPDATE if previous else EventKind.GRANT,
                                  UIAction.SIGN_IN, choices, gpc=False, origin=origin,
                                  method="person_hint",
                                  extra={**(extra or {}), "gpc_signal": decision.gpc or gpc})

    async def withdraw(self, site_id: str, state: ConsentState, visitor: Visitor,
                       *, origin: str | None = None) -> Recorded:
        site = self.site(site_id)
        decision = self.policy.decide(site_id, visitor)
        return await self._append(site_id, site, visitor, decision, state.subject,
                                  EventKind.WITHDRAW, UIAction.WITHDRAW, withdrawn(site),
                                  gpc=decision.gpc, origin=origin, method="banner")

    async def _append(self, site_id: str, site: SiteConfig, visitor: Visitor, decision: Decision,
                      subject: str, kind: EventKind, action: UIAction, choices: Choices, *,
                      gpc: bool, origin: str | None, method: str,
                      tc_string: str | None = None,
                      extra: dict[str, Any] | None = None) -> Recorded:
        days = lifetime_days(site, choices)
        now = utc_now()
        lang = decision.language
        texts_hash = site.texts_hash(lang)
        payload: dict[str, Any] = {
            "regime": decision.regime,
            "country": decision.country,
            "subdivision": decision.subdivision,
            "revision": site.revision,
            "texts_hash": texts_hash,
            "language": lang,
            "action": str(action),
            "choices": choices.as_dict(),
            "gpc": gpc,
            "ua_class": ua_class(visitor.user_agent),
            "method": method,
            "origin": origin,
            "cmp": f"{CMP_NAME}/{__version__}",
            "expires_at": iso(now + timedelta(days=days)),
        }
        if tc_string:
            payload["tc_string"] = tc_string
        if extra:
            payload.update(extra)
        notice = Notice(texts_hash, site_id, site.revision, lang, site.texts_for(lang))
        event = NewEvent.build(site=site_id, subject=subject, kind=kind, payload=payload,
                               ip_truncated=truncate_ip(visitor.ip), notice=notice)
        stored = await self.storage.append(event)
        token, expires = self.tokens.issue(
            site=site_id, subject=subject, revision=site.revision, regime=decision.regime,
            choices=choices, gpc=gpc, lifetime_days=days, now=now.timestamp())
        return Recorded(subject, token, expires, stored, choices)

    async def history(self, site_id: str, subject: str) -> tuple[Choices | None, list[StoredEvent]]:
        self.site(site_id)
        events = await self.storage.events_for_subject(site_id, subject)
        choices, _ = current_choices(events)
        return choices, events

    async def receipt(self, site_id: str, subject: str) -> dict[str, Any] | None:
        site = self.site(site_id)
        events = await self.storage.events_for_subject(site_id, subject)
        if not events:
            return None
        proof = await self.checkpoints.inclusion(site_id, events) if self.checkpoints else None
        return build_receipt(site_id, site, subject, events, self.keyring.site(site_id), proof)

    async def export(self, site_id: str, subject: str) -> dict[str, Any] | None:
        """Everything held about one subject, with the texts they were shown."""
        choices, events = await self.history(site_id, subject)
        activity = await self.storage.activity_for_subject(site_id, subject)
        if not events and not any(activity.values()):
            return None
        notices = {}
        for h in {ev.payload.get("texts_hash") for ev in events}:
            n = await self.storage.notice(h) if isinstance(h, str) else None
            if n is not None:
                notices[h] = n.texts
        return {
            "site": site_id,
            "subject": subject,
            "exported_at": iso(utc_now()),
            "current": choices.as_dict() if choices else None,
            "events": [ev.public() for ev in events],
            "notices": notices,
            **activity,  # beacon events of a consent id, e-mail engagement of a recipient id
        }

    async def erase(self, site_id: str, subject: str) -> int:
        """Anonymise a subject everywhere; the chain stays verifiable, the erasure is recorded.

        Ledger rows lose their personal fields; beacon events and e-mail engagement lose the
        subject/recipient link. E-mail suppressions stay: forgetting an unsubscribe would mail
        the person again. Returns the number of rows changed."""
        self.site(site_id)
        seqs = [ev.seq for ev in await self.storage.events_for_subject(site_id, subject)
                if ev.personal is not None]
        n = len(seqs)
        n += await self.storage.beacon_erase_subject(site_id, subject)
        n += await self.storage.email_erase_recipient(site_id, subject)
        if n:
            # Recorded before it is applied: verify accepts an anonymised row only when an
            # erase event lists it, and a crash in between leaves rows listed but intact (a
            # retry anonymises them), never anonymised rows without a record.
            marker = "erased_" + self.keyring.site(site_id).pseudonym(subject)[:32]
            await self.storage.append(NewEvent.build(
                site=site_id, subject=marker, kind=EventKind.ERASE,
                payload={"action": "erase", "events_anonymised": n, "erased_seqs": seqs,
                         "cmp": f"{CMP_NAME}/{__version__}"}))
            if seqs:
                await self.storage.erase_subject(site_id, subject, seqs)
        return n

    async def verify(self, site_id: str | None = None) -> list[ChainReport]:
        sites = [site_id] if site_id else await self.storage.sites()
        return [await verify_site(self.storage, s) for s in sites]

    async def purge(self, now: datetime | None = None) -> dict[str, dict[str, int]]:
        """Expire consents past their lifetime; anonymise events past the site's retention.

        `now` lets a test (or a dry run) judge expiry at another time than the clock's."""
        now = now or utc_now()
        out: dict[str, dict[str, int]] = {}
        for site_id, site in self.config.sites.items():
            expired = 0
            for subject in await self.storage.subjects_expiring(site_id, iso(now)):
                await self.storage.append(NewEvent.build(
                    site=site_id, subject=subject, kind=EventKind.EXPIRE,
                    payload={"action": "expire",
                             "choices": withdrawn(site, Action.EXPIRE).as_dict(),
                             "revision": site.revision, "cmp": f"{CMP_NAME}/{__version__}"}))
                expired += 1
            cutoff = now - timedelta(days=site.retention_days)
            before = iso(cutoff)
            anonymised = 0
            if await self.storage.identified_before(site_id, before):
                # Recorded first, like an erasure: verify accepts rows anonymised by retention
                # only when older than a cutoff recorded later in the chain.
                record = await self.storage.append(NewEvent.record(
                    site=site_id, kind=EventKind.ERASE,
                    payload={"action": "retention", "before": before,
                             "retention_days": site.retention_days,
                             "cmp": f"{CMP_NAME}/{__version__}"}))
                anonymised = await self.storage.delete_before(site_id, before, record.seq)
            deleted = await self.storage.delete_activity_before(site_id, int(cutoff.timestamp() * 1000))
            out[site_id] = {"expired": expired, "anonymised": anonymised, "activity_deleted": deleted}
        return out
