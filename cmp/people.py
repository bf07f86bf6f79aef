"""People: one member's consent across browsers and channels, recorded by backends and
operators. No HTTP here.

A person is the customer's account reference, stored only as `p_` + the site's keyed HMAC
(cmp.identifiers). Their browsers (consent ids), e-mail addresses, phone numbers and push
subscriptions are linked to them by `link` events in the ledger; what they said about
purposes, vendors, separate items and channels is in ledger events too — of the person
(recorded here: a sign-up form, app settings, an operator on the phone, an SMS reply, an
import) or of a linked identifier (a banner choice, an e-mail double opt-in or unsubscribe).
The person's state is derived from all of them; which answer stands is the grant rule's
(cmp.grants: `choose` for purposes and vendors, `supersedes` and `contact_verdict` for
channels). The writer keeps two fast copies in the same transaction (cmp/contacts.py), which
`may-contact` reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp import CMP_NAME, __version__
from cmp.config import CHANNELS, Config, SiteConfig, canonical_json
from cmp.consent import ConsentService, withdrawn
from cmp.errors import ErrorKind, FieldError
from cmp.grants import (
    ALL_LISTS,
    Action,
    Answers,
    ContactReason,
    Permission,
    choose,
    contact_verdict,
    supersedes,
)
from cmp.hints import Hint, verify_hint
from cmp.identifiers import LINKABLE, IdentifierError, Kind, kind_of, pseudonym
from cmp.keys import Keyring
from cmp.ledger import NewEvent, Notice, StoredEvent, iso, parse_iso, utc_now
from cmp.storage.base import ContactRow, PeopleConsentStore
from cmp.types import Choices, EventKind, Model, SeparateKind

# How an answer reached us (the ledger's `method`): what a regulator asks first.
METHODS = ("signup_form", "app_settings", "operator", "phone", "email_request", "sms_reply",
           "import", "api", "letter")
Method = Literal["signup_form", "app_settings", "operator", "phone", "email_request",
                 "sms_reply", "import", "api", "letter"]
# An import may say when a choice was collected; a time this far ahead of ours is a mistake.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


class LinkIn(BaseModel):
    """Body of PUT /v1/sites/{site}/people/{ref}: identifiers to link (added to those held)."""

    model_config = ConfigDict(extra="forbid")

    email: list[str] = Field(default_factory=list, max_length=20)
    phone: list[str] = Field(default_factory=list, max_length=20)
    push: list[str] = Field(default_factory=list, max_length=50)
    consent: list[str] = Field(default_factory=list, max_length=50,
                               description="browser consent ids (c_…) of the person")
    method: Method = "api"


class ChannelAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "sms", "push", "phone"]
    list: str = Field(ALL_LISTS, max_length=64, description="list or topic id; '*' = the channel")
    allowed: bool


class NoticeShown(BaseModel):
    """What the person saw where they answered (the customer's own form or script)."""

    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(None, ge=1)
    texts_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    language: str | None = Field(None, max_length=35)


class GuardianConsentIn(BaseModel):
    """A parent's or guardian's consent for a minor: how it was given and where it is kept."""

    model_config = ConfigDict(extra="forbid")

    method: Method
    reference: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                           description="where the guardian's consent is kept (form, call, letter)")


class PersonEventIn(BaseModel):
    """Body of POST /v1/sites/{site}/people/{ref}/events: a choice made elsewhere."""

    model_config = ConfigDict(extra="forbid")

    method: Method
    purposes: dict[str, bool] = Field(default_factory=dict, max_length=200)
    vendors: dict[str, bool] = Field(default_factory=dict, max_length=500)
    separate: dict[str, bool] = Field(default_factory=dict, max_length=100)
    channels: list[ChannelAnswer] = Field(default_factory=list, max_length=100)
    notice: NoticeShown | None = None
    operator: str | None = Field(None, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    reference: str | None = Field(None, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                  description="call, ticket or import reference")
    note: str | None = Field(None, max_length=2000)
    collected_at: datetime | None = Field(None, description="when the person chose (an import)")
    language: str | None = Field(None, max_length=35)
    # Lifecycle facts (one per event, alone): see PeopleService.lifecycle.
    account: Literal["closed"] | None = Field(
        None, description="'closed': the account was closed (at collected_at, else now); "
                          "starts the retention clocks of [sites.X.retention_after_closure]")
    minor: Literal[True] | None = Field(
        None, description="the person is a minor: optional consents are voided at once and a "
                          "deletion is needed unless a guardian consent is recorded")
    guardian_consent: GuardianConsentIn | None = None


LIFECYCLE_FIELDS = ("account", "minor", "guardian_consent")


def parse_link(data: Any) -> LinkIn:
    body: LinkIn = _parse(LinkIn, data)
    return body


def parse_person_event(data: Any) -> PersonEventIn:
    body: PersonEventIn = _parse(PersonEventIn, data)
    facts = [f for f in LIFECYCLE_FIELDS if getattr(body, f) is not None]
    if len(facts) > 1:
        raise FieldError(facts[1], f"one lifecycle fact per event: {facts[0]} is given too")
    if facts and (body.purposes or body.vendors or body.separate or body.channels):
        raise FieldError(facts[0], "give it alone: not with purposes, vendors, separate or "
                                   "channels")
    if facts:
        return body
    if not (body.purposes or body.vendors or body.separate or body.channels):
        raise FieldError("body", "nothing to record: give purposes, vendors, separate or channels")
    return body


class PersonId(str):
    """A person already pseudonymised (p_…), as `find` returns it: the methods that take a
    `ref` use it as it is instead of hashing it again (an operator who found a member by
    their phone number never learns their account reference)."""

    __slots__ = ()


FINDABLE: tuple[Kind, ...] = ("email", "phone", "ref")


@dataclass(frozen=True, slots=True)
class Answer:
    """One current answer of a person and the event that set it."""

    value: bool
    event_id: str
    at: str
    subject: str  # p_… (the person's own event) or a linked identifier's

    def doc(self) -> dict[str, Any]:
        return {"granted": self.value, "event_id": self.event_id, "at": self.at,
                "via": kind_of(self.subject) or "person"}


@dataclass(frozen=True, slots=True)
class MayContact:
    allowed: bool
    reason: ContactReason
    channel: str
    list: str
    person: str | None
    event_id: str | None  # the event whose answer decided, if any

    def doc(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reason": str(self.reason), "channel": self.channel,
                "list": self.list, "event_id": self.event_id}


class PeopleService:
    def __init__(self, config: Config, storage: PeopleConsentStore, consent: ConsentService,
                 keyring: Keyring) -> None:
        self.config = config
        self.storage = storage
        self.consent = consent
        self.keyring = keyring

    # --- names --------------------------------------------------------------------------------
    def site(self, site_id: str) -> SiteConfig:
        return self.consent.site(site_id)

    def person_id(self, site_id: str, ref: str) -> str:
        if isinstance(ref, PersonId):
            return ref
        try:
            return pseudonym(self.keyring.site(site_id), "ref", ref)
        except IdentifierError as exc:
            raise FieldError("ref", str(exc)) from None

    def identifier(self, site_id: str, kind: Kind, value: str, field: str) -> str:
        try:
            return pseudonym(self.keyring.site(site_id), kind, value)
        except IdentifierError as exc:
            raise FieldError(field, str(exc)) from None

    def verify_hint(self, site_id: str, hint: str) -> Hint:
        """The member a page's hint names; HintError (with a reason to count) otherwise."""
        return verify_hint(self.keyring.site(site_id).hint_key, site_id, hint)

    async def find(self, site_id: str, kind: str, value: str) -> PersonId | None:
        """The person an e-mail address, phone number or account ref belongs to, or None if the
        ledger knows no such person (FieldError, naming `kind`, if the value is not one)."""
        if kind not in FINDABLE:
            raise FieldError("kind", f"one of {', '.join(FINDABLE)}")
        self.site(site_id)
        if kind == "ref":
            person = self.person_id(site_id, value)
            known = await self.storage.person_links(site_id, person) or \
                await self.storage.events_for_subject(site_id, person)
            return PersonId(person) if known else None
        ident = self.identifier(site_id, cast(Kind, kind), value, kind)
        owner = await self.storage.person_of(site_id, ident)
        return PersonId(owner) if owner else None

    # --- linking ------------------------------------------------------------------------------
    async def link(self, site_id: str, ref: str, body: LinkIn) -> tuple[str, StoredEvent | None]:
        """Link identifiers to the person; None when every one already was. An identifier
        linked to another person is a conflict (409): moving it is a decision for a human."""
        site = self.site(site_id)
        person = self.person_id(site_id, ref)
        wanted: list[str] = []
        for kind in LINKABLE:
            for i, value in enumerate(getattr(body, kind)):
                ident = self.identifier(site_id, kind, value, f"{kind}.{i}")
                owner = await self.storage.person_of(site_id, ident)
                if owner is not None and owner != person:
                    raise FieldError(f"{kind}.{i}", "already linked to another person",
                                     ErrorKind.CONFLICT)
                if owner is None and ident not in wanted:
                    wanted.append(ident)
        if not wanted:
            return person, None
        return person, await self._link_event(site_id, site, person, wanted, body.method)

    async def _link_event(self, site_id: str, site: SiteConfig, person: str, idents: list[str],
                          method: str, ip: str | None = None) -> StoredEvent:
        counts: dict[str, int] = {}
        for ident in idents:
            k = kind_of(ident) or "unknown"
            counts[k] = counts.get(k, 0) + 1
        event = NewEvent.build(site=site_id, subject=person, kind=EventKind.LINK,
                               payload={"action": "link", "method": method, "linked": counts,
                                        "revision": site.revision,
                                        "cmp": f"{CMP_NAME}/{__version__}"},
                               ip_truncated=ip, extra_personal={"links": sorted(idents)})
        return await self.storage.append(event)

    async def link_browser(self, site_id: str, person: str, consent_id: str) -> StoredEvent | None:
        """A banner met a valid hint: this browser's consent id belongs to the person."""
        owner = await self.storage.person_of(site_id, consent_id)
        if owner == person:
            return None
        if owner is not None:
            # A shared computer: the browser was another member's. Its choice stays its own;
            # the new member's choices come to it through a new consent id (the banner's).
            return None
        return await self._link_event(site_id, self.site(site_id), person, [consent_id],
                                      "person_hint")

    async def subjects(self, site_id: str, person: str) -> list[str]:
        return [person, *[r.identifier for r in await self.storage.person_links(site_id, person)]]

    # --- recording ----------------------------------------------------------------------------
    async def record(self, site_id: str, ref: str, body: PersonEventIn, *,
                     operator: str | None = None) -> StoredEvent:
        """A choice made elsewhere, as a ledger event of the person; durable on return.

        Purposes/vendors/separate are merged over the person's current choices and resolved by
        the grant rule (necessary stays on; a vendor needs its purposes). Channel answers
        replace older ones; a grant collected before a later opt-out does not (supersedes).
        A lifecycle fact (account closed, minor, guardian consent) goes to `lifecycle`."""
        site = self.site(site_id)
        person = self.person_id(site_id, ref)
        at = _collected_at(body)
        if any(getattr(body, f) is not None for f in LIFECYCLE_FIELDS):
            return await self.lifecycle(site_id, site, person, body, at, operator=operator)
        lang = body.language or (body.notice.language if body.notice else None) or \
            site.lang_default
        if lang not in site.languages:
            raise FieldError("language", f"{lang!r} is not one of {site.languages}")
        for i, ch in enumerate(body.channels):
            if ch.list != ALL_LISTS and ch.list not in site.channel_lists(ch.channel):
                raise FieldError(f"channels.{i}.list",
                                 f"unknown {ch.channel} list {ch.list!r}; one of "
                                 f"{sorted(site.channel_lists(ch.channel)) + [ALL_LISTS]}")
        payload: dict[str, Any] = {
            "channel": "person", "action": "record", "method": body.method,
            "revision": site.revision, "language": lang,
            "collected_at": iso(at), "cmp": f"{CMP_NAME}/{__version__}",
        }
        notice: Notice | None = None
        if body.purposes or body.vendors or body.separate:
            choices = await self._merged_choices(site_id, site, person, body)
            payload["choices"] = choices.as_dict()
            payload["texts_hash"] = site.texts_hash(lang)
            notice = Notice(payload["texts_hash"], site_id, site.revision, lang,
                            site.texts_for(lang))
        if body.channels:
            payload["contact"] = [{"channel": c.channel, "list": c.list, "allowed": c.allowed}
                                  for c in body.channels]
            if notice is None:
                texts = self.channel_texts(site, lang, body.channels)
                payload["texts_hash"] = hashlib.sha256(canonical_json(texts)).hexdigest()
                notice = Notice(payload["texts_hash"], site_id, site.revision, lang, texts)
        if body.notice is not None:
            # What the customer's own form showed: recorded as they state it (we never saw it).
            payload["shown"] = body.notice.model_dump(exclude_none=True)
        for key in ("reference",):
            if getattr(body, key):
                payload[key] = getattr(body, key)
        who = operator or body.operator
        if who:
            payload["operator"] = who
        answers = [*body.purposes.values(), *body.vendors.values(), *body.separate.values(),
                   *(c.allowed for c in body.channels)]
        known = await self.storage.events_for_subject(site_id, person)
        kind = EventKind.WITHDRAW if not any(answers) else (
            EventKind.UPDATE if known else EventKind.GRANT)
        event = NewEvent.build(site=site_id, subject=person, kind=kind, payload=payload,
                               notice=notice,
                               extra_personal={"note": body.note} if body.note else None)
        return await self.storage.append(event)

    # --- lifecycle: account closure, minors -----------------------------------------------------
    async def lifecycle(self, site_id: str, site: SiteConfig, person: str, body: PersonEventIn,
                        at: datetime, *, operator: str | None = None) -> StoredEvent:
        """Record a lifecycle fact of the person as a `lifecycle` event; returns it.

        - account closed: the retention clocks start at `at` (purge carries them out,
          `close_accounts`); a second closure is recorded but the first one's clocks run.
        - minor: optional consents are voided at once by a `withdraw` event through the grant
          rule (necessary purposes stay on; every channel answer and per-recipient agreement
          held is turned off), and a `delete_needed` event is recorded unless a guardian
          consent event exists (a request case picks it up; a later guardian consent answers
          it, see `lifecycle_state`).
        - guardian consent: how and where a guardian consented (method + reference)."""
        fact = "account_closed" if body.account else "minor" if body.minor else \
            "guardian_consent"
        payload: dict[str, Any] = {"channel": "person", "action": "lifecycle",
                                   "lifecycle": fact, "method": body.method, "at": iso(at),
                                   "revision": site.revision,
                                   "cmp": f"{CMP_NAME}/{__version__}"}
        if body.guardian_consent is not None:
            payload["guardian"] = body.guardian_consent.model_dump()
        if body.reference:
            payload["reference"] = body.reference
        who = operator or body.operator
        if who:
            payload["operator"] = who
        note = {"note": body.note} if body.note else None
        event = await self.storage.append(NewEvent.build(
            site=site_id, subject=person, kind=EventKind.LIFECYCLE, payload=payload,
            extra_personal=note))
        if fact != "minor":
            return event
        subjects = await self.subjects(site_id, person)
        voided: list[dict[str, Any]] = []
        for r in await self.storage.contact_rows(site_id, subjects):
            answer = {"channel": r.channel, "list": r.scope, "allowed": False}
            if r.permission.allowed and answer not in voided:
                voided.append(answer)
        base = {k: v for k, v in payload.items() if k not in ("lifecycle", "at", "guardian")}
        # Voided now, whatever `at` says: a grant given since a back-dated flag is void too.
        void: dict[str, Any] = {**base, "action": "void_minor", "minor_event": event.event_id,
                                "collected_at": iso(utc_now()), "language": site.lang_default,
                                "choices": withdrawn(site).as_dict()}
        if voided:
            void["contact"] = voided
        await self.storage.append(NewEvent.build(site=site_id, subject=person,
                                                 kind=EventKind.WITHDRAW, payload=void))
        events = await self.storage.events_for_subject(site_id, person)
        if not any(e.payload.get("lifecycle") == "guardian_consent" for e in events):
            await self.storage.append(NewEvent.build(
                site=site_id, subject=person, kind=EventKind.LIFECYCLE,
                payload={**base, "lifecycle": "delete_needed", "at": iso(at),
                         "reason": "minor_without_guardian_consent",
                         "minor_event": event.event_id}))
        return event

    def closure_clocks(self, site: SiteConfig) -> dict[str, int]:
        """Days each retention category is kept after an account closure."""
        given = site.retention_after_closure
        default = given.get("default", 0)
        return {c: given.get(c, default) for c in RETENTION_CATEGORIES}  # type: ignore[call-overload]

    def lifecycle_state(self, site: SiteConfig, events: list[StoredEvent]
                        ) -> dict[str, Any] | None:
        """The person's lifecycle facts and retention schedule from their events (in chain
        order); None if there are none."""
        facts = [e for e in events if e.kind == EventKind.LIFECYCLE and e.subject is not None]
        if not facts:
            return None
        out: dict[str, Any] = {"account_closed_at": None, "retention": [], "minor": False,
                               "guardian_consent": None, "delete_needed": False,
                               "event_ids": [e.event_id for e in facts]}
        for e in facts:
            fact = e.payload.get("lifecycle")
            if fact == "account_closed" and out["account_closed_at"] is None:
                out["account_closed_at"] = e.payload["at"]
            elif fact == "minor":
                out["minor"] = True
            elif fact == "guardian_consent":
                out["guardian_consent"] = {**e.payload.get("guardian", {}),
                                           "event_id": e.event_id, "at": e.payload["at"]}
                out["delete_needed"] = False
            elif fact == "delete_needed":
                out["delete_needed"] = True
        if out["account_closed_at"]:
            closed = parse_iso(out["account_closed_at"]).date()
            clocks = self.closure_clocks(site)
            pending: dict[str, int] = {}
            cats = retention_categories(site, events)
            for e in events:
                c = cats.get(e.seq)
                if c is not None and e.personal is not None:
                    pending[c] = pending.get(c, 0) + 1
            out["retention"] = [
                {"category": c, "days": d, "due": (closed + timedelta(days=d)).isoformat(),
                 "events": pending.get(c, 0)} for c, d in clocks.items()]
            out["erase_due"] = (closed + timedelta(days=max(clocks.values()))).isoformat()
        return out

    async def scheduled(self, site_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Closed accounts still held, soonest anonymisation first: per person the closure
        time, the next category due (one that still holds events) and the whole erasure."""
        site = self.site(site_id)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for person, _ in await self.storage.closed_accounts(site_id):
            if person in seen:
                continue
            seen.add(person)
            events = await self._events(site_id, await self.subjects(site_id, person))
            life = self.lifecycle_state(site, events)
            if life is None or not life["account_closed_at"]:
                continue
            held = [r for r in life["retention"] if r["events"]]
            nxt = min(held, key=lambda r: (r["due"], r["category"])) if held else None
            out.append({"person": person, "closed_at": life["account_closed_at"],
                        "next_due": nxt["due"] if nxt else life["erase_due"],
                        "next_category": nxt["category"] if nxt else None,
                        "erase_due": life["erase_due"]})
        return sorted(out, key=lambda r: (r["next_due"], r["person"]))[:limit]

    async def close_accounts(self, now: datetime | None = None) -> dict[str, dict[str, int]]:
        """Carry out the retention clocks of closed accounts that are due on `now`'s day (UTC):
        `consentry purge` calls this after ConsentService.purge.

        Each category's events (of the person and their linked identifiers) are anonymised on
        the day its clock ends, the erasure recorded first in one `erase` event listing the
        seqs (so the chain still verifies); on the day of the longest clock the person is
        erased whole (PeopleService.erase: links dropped, lifecycle events anonymised,
        opt-outs kept). Closed accounts are found by the storage (`closed_accounts`)."""
        now = now or utc_now()
        today = now.astimezone(UTC).date()
        out: dict[str, dict[str, int]] = {}
        for site_id, site in self.config.sites.items():
            closed: dict[str, date] = {}
            for subject, at in await self.storage.closed_accounts(site_id):
                closed.setdefault(subject, parse_iso(at).date())
            clocks = self.closure_clocks(site)
            counts = {"anonymised": 0, "people_erased": 0}
            for person, day in closed.items():
                if today >= day + timedelta(days=max(clocks.values())):
                    done = await self.erase(site_id, PersonId(person))
                    if done is not None:
                        counts["anonymised"] += done["events_anonymised"]
                        counts["people_erased"] += 1
                    continue
                due = {c for c, d in clocks.items() if today >= day + timedelta(days=d)}
                seqs: dict[str, list[int]] = {}
                per: dict[str, int] = {}
                events = await self._events(site_id, await self.subjects(site_id, person))
                cats = retention_categories(site, events)
                for e in events:
                    c = cats.get(e.seq)
                    if c in due and e.personal is not None and e.subject is not None:
                        seqs.setdefault(e.subject, []).append(e.seq)
                        per[str(c)] = per.get(str(c), 0) + 1
                if not seqs:
                    continue
                # Recorded before it is applied, like an erasure (cmp/ledger.py verify).
                await self.storage.append(NewEvent.record(
                    site=site_id, kind=EventKind.ERASE,
                    payload={"action": "retention_after_closure", "categories": per,
                             "erased_seqs": sorted(q for v in seqs.values() for q in v),
                             "cmp": f"{CMP_NAME}/{__version__}"}))
                for s, qs in seqs.items():
                    counts["anonymised"] += await self.storage.erase_subject(site_id, s, qs)
            out[site_id] = counts
        return out

    def channel_texts(self, site: SiteConfig, lang: str,
                      answers: list[ChannelAnswer]) -> dict[str, Any]:
        """The texts a channel answer is about (list titles), as the notice it points at."""
        out: dict[str, Any] = {"channel": "contact", "revision": site.revision,
                               "language": lang, "controller": site.name, "lists": {}}
        for a in answers:
            titles = self._titles(site, a.channel, lang)
            out["lists"].setdefault(a.channel, {})[a.list] = titles.get(a.list, "")
        return out

    def _titles(self, site: SiteConfig, channel: str, lang: str) -> dict[str, str]:
        if channel == "email":
            return {k: v.title.get(lang, "") for k, v in (site.email.lists.items()
                                                          if site.email else ())}
        c = site.channels.get(channel)  # type: ignore[call-overload]
        return {k: v.title.get(lang, "") for k, v in (c.lists.items() if c else ())}

    async def _merged_choices(self, site_id: str, site: SiteConfig, person: str,
                              body: PersonEventIn) -> Choices:
        for group, known, label in (("purposes", site.purposes, "purpose"),
                                    ("vendors", site.vendors, "vendor"),
                                    ("separate", site.banner_separate, "separate-consent item")):
            for key in getattr(body, group):
                if key not in known:
                    raise FieldError(f"{group}.{key}", f"unknown {label}")
        current = await self._web_answers(site_id, person)
        base = {g: {k: a.value for k, a in current[g].items()} for g in current}
        return choose(site.rule, Action.CUSTOM,
                      Answers({**base["purposes"], **body.purposes},
                              {**base["vendors"], **body.vendors},
                              {**base["separate"], **body.separate}),
                      model=Model.OPT_IN, gpc=False)

    async def record_identifier(self, site_id: str, kind: Kind, value: str,
                                body: PersonEventIn, *, field: str = "to"
                                ) -> tuple[StoredEvent, bool]:
        """A channel answer given through one identifier (an SMS reply from a number), which
        need not be linked to anyone: an event of the person it is linked to, else of the
        identifier's own pseudonym (`t_…`), so it refuses for the identifier now and for
        whoever it is linked to later. Durable on return; (event, whether it is a retry).

        Only channel answers: purposes of a phone number mean nothing. A `reference` this
        subject already has an event of the same method for is a retry of that answer (an SMS
        provider re-sending a webhook call): the stored event is returned, nothing is added."""
        site = self.site(site_id)
        if body.purposes or body.vendors or body.separate or not body.channels:
            raise FieldError("channels", "an identifier's answer is about channels only")
        ident = self.identifier(site_id, kind, value, field)
        subject = await self.storage.person_of(site_id, ident) or ident
        known = await self.storage.events_for_subject(site_id, subject)
        if body.reference:
            for ev in known:
                if ev.payload.get("reference") == body.reference and \
                        ev.payload.get("method") == body.method:
                    return ev, True
        lang = body.language or site.lang_default
        if lang not in site.languages:
            raise FieldError("language", f"{lang!r} is not one of {site.languages}")
        for i, ch in enumerate(body.channels):
            if ch.list != ALL_LISTS and ch.list not in site.channel_lists(ch.channel):
                raise FieldError(f"channels.{i}.list", f"unknown {ch.channel} list {ch.list!r}")
        texts = self.channel_texts(site, lang, body.channels)
        texts_hash = hashlib.sha256(canonical_json(texts)).hexdigest()
        payload: dict[str, Any] = {
            "channel": "person", "action": "record", "method": body.method,
            "revision": site.revision, "language": lang, "collected_at": iso(utc_now()),
            "cmp": f"{CMP_NAME}/{__version__}", "texts_hash": texts_hash,
            "contact": [{"channel": c.channel, "list": c.list, "allowed": c.allowed}
                        for c in body.channels],
        }
        if body.reference:
            payload["reference"] = body.reference
        kind_ = EventKind.WITHDRAW if not any(c.allowed for c in body.channels) else (
            EventKind.UPDATE if known else EventKind.GRANT)
        event = NewEvent.build(site=site_id, subject=subject, kind=kind_, payload=payload,
                               notice=Notice(texts_hash, site_id, site.revision, lang, texts))
        return await self.storage.append(event), False

    # --- reading ------------------------------------------------------------------------------
    async def _events(self, site_id: str, subjects: list[str]) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        for s in subjects:
            out += await self.storage.events_for_subject(site_id, s)
        return sorted(out, key=lambda e: e.seq)

    async def _web_answers(self, site_id: str, person: str,
                           events: list[StoredEvent] | None = None
                           ) -> dict[str, dict[str, Answer]]:
        """Per purpose, vendor and separate item: the latest answer over the person's own events
        and their browsers', by when it was chosen (an import's collected_at)."""
        if events is None:
            events = await self._events(site_id, await self.subjects(site_id, person))
        out: dict[str, dict[str, Answer]] = {"purposes": {}, "vendors": {}, "separate": {}}
        held: dict[tuple[str, str], Permission] = {}
        for ev in events:
            doc = ev.payload.get("choices")
            if not isinstance(doc, dict) or ev.subject is None:
                continue
            if ev.kind == EventKind.EXPIRE:
                # One browser's choice ran out: what it set is no longer the member's answer,
                # but an expiry is not a newer "no" over what another device chose since.
                for group in out:
                    for key in [k for k, a in out[group].items() if a.subject == ev.subject]:
                        del out[group][key]
                        held.pop((group, key), None)
                continue
            at = ev.payload.get("collected_at") or ev.ts
            for group in out:
                for key, value in (doc.get(group) or {}).items():
                    p = Permission(bool(value), at, ev.event_id, ev.seq)
                    if supersedes(p, held.get((group, key))):
                        held[(group, key)] = p
                        out[group][key] = Answer(bool(value), ev.event_id, at, ev.subject)
        return out

    async def state(self, site_id: str, ref: str) -> dict[str, Any] | None:
        """The person's current state, each answer with the event that set it; None if the
        ledger knows nothing of them."""
        site = self.site(site_id)
        person = self.person_id(site_id, ref)
        links = await self.storage.person_links(site_id, person)
        subjects = [person, *[r.identifier for r in links]]
        events = await self._events(site_id, subjects)
        if not events and not links:
            return None
        web = await self._web_answers(site_id, person, events)
        rows = await self.storage.contact_rows(site_id, subjects)
        channels: dict[str, dict[str, Any]] = {}
        for ch in CHANNELS:
            lists = [*site.channel_lists(ch), ALL_LISTS]
            mine = [(r.scope, r.permission) for r in rows if r.channel == ch]
            if not mine:
                continue
            for lid in lists:
                reason, p = contact_verdict(mine, lid, known=True, suppressed=False)
                if p is not None and (lid != ALL_LISTS or any(s == ALL_LISTS for s, _ in mine)):
                    channels.setdefault(ch, {})[lid] = {
                        "allowed": reason == ContactReason.ALLOWED, "event_id": p.event_id,
                        "at": p.at}
        recipients: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.channel.startswith("separate:"):  # per-recipient items (cmp/asks.py)
                recipients.setdefault(row.channel.removeprefix("separate:"), {})[row.scope] = {
                    "agreed": row.permission.allowed, "event_id": row.permission.event_id,
                    "at": row.permission.at}
        linked: dict[str, int] = {}
        for r in links:
            linked[r.kind] = linked.get(r.kind, 0) + 1
        return {
            "site": site_id, "person": person, "linked": linked,
            "purposes": {k: a.doc() for k, a in sorted(web["purposes"].items())},
            "vendors": {k: a.doc() for k, a in sorted(web["vendors"].items())},
            "separate": {k: a.doc() for k, a in sorted(web["separate"].items())},
            "channels": channels,
            "recipients": recipients,
            "lifecycle": self.lifecycle_state(site, events),
            "events": len(events),
            "updated_at": max(e.ts for e in events) if events else None,
        }

    async def web_choices(self, site_id: str, person: str) -> Choices | None:
        """The person's current web choices as the grant rule resolves them (for a browser that
        signs in), or None if they never made one."""
        answers = await self._web_answers(site_id, person)
        if not any(answers.values()):
            return None
        site = self.site(site_id)
        return choose(site.rule, Action.CUSTOM,
                      Answers({k: a.value for k, a in answers["purposes"].items()},
                              {k: a.value for k, a in answers["vendors"].items()},
                              {k: a.value for k, a in answers["separate"].items()}),
                      model=Model.OPT_IN, gpc=False)

    async def choices_for_browser(self, site_id: str, person: str
                                  ) -> tuple[Choices, str] | None:
        """What a browser the person signs in on should apply: their web choices (web_choices)
        and when they made the newest of them. None if they made
        none, or if the newest was made under an older revision of the site: a browser's own
        choice would be asked again then, and so is this one."""
        site = self.site(site_id)
        events = await self._events(site_id, await self.subjects(site_id, person))
        answers = await self._web_answers(site_id, person, events)
        held = [a for group in answers.values() for a in group.values()]
        if not held:
            return None
        newest = max(held, key=lambda a: a.at)
        revision = {e.event_id: e.payload.get("revision") for e in events}
        if revision.get(newest.event_id) != site.revision:
            return None
        choices = choose(site.rule, Action.CUSTOM,
                         Answers({k: a.value for k, a in answers["purposes"].items()},
                                 {k: a.value for k, a in answers["vendors"].items()},
                                 {k: a.value for k, a in answers["separate"].items()}),
                         model=Model.OPT_IN, gpc=False)
        return choices, newest.at

    # --- may I send this message? -------------------------------------------------------------
    def contact_subject(self, site_id: str, channel: str, to: str | None,
                        person_ref: str | None) -> str:
        if (to is None) == (person_ref is None):
            raise FieldError("to", "give exactly one of to (an address or number) or person")
        if person_ref is not None:
            return self.person_id(site_id, person_ref)
        kind: Kind = {"email": "email", "sms": "phone", "phone": "phone", "push": "push"}[
            channel]  # type: ignore[assignment]
        return self.identifier(site_id, kind, str(to), "to")

    async def may_contact(self, site_id: str, channel: str, *, to: str | None = None,
                          person: str | None = None, list_id: str | None = None) -> MayContact:
        site = self.site(site_id)
        if channel not in CHANNELS:
            raise FieldError("channel", f"one of {', '.join(CHANNELS)}")
        scope = list_id or ALL_LISTS
        if scope != ALL_LISTS and scope not in site.channel_lists(channel):
            raise FieldError("list", f"unknown {channel} list {scope!r}")
        subject = self.contact_subject(site_id, channel, to, person)
        owner, rows, known = await self.storage.contact_lookup(site_id, subject, channel)
        suppressed = False
        if channel == "email":
            recipients = [subject] if subject.startswith("r_") else []
            if not recipients and owner is None:
                recipients = [r.identifier for r in await self.storage.person_links(
                    site_id, subject) if r.kind == "email"]
            for r in recipients:
                have = await self.storage.email_suppressions(site_id, r)
                suppressed |= bool(have & {scope, "#all"}) if scope != ALL_LISTS else bool(have)
        reason, p = contact_verdict(((r.scope, r.permission) for r in rows), scope,
                                    known=known, suppressed=suppressed)
        return MayContact(reason == ContactReason.ALLOWED, reason, channel, scope,
                          owner or (subject if subject.startswith("p_") else None),
                          p.event_id if p else None)

    # --- export and erase ---------------------------------------------------------------------
    async def export(self, site_id: str, ref: str) -> dict[str, Any] | None:
        """Everything held about the person and every identifier linked to them."""
        state = await self.state(site_id, ref)
        if state is None:
            return None
        person = state["person"]
        out: dict[str, Any] = {"site": site_id, "person": person, "exported_at": iso(utc_now()),
                               "state": state, "identifiers": [], "subjects": {}}
        for r in await self.storage.person_links(site_id, person):
            out["identifiers"].append({"identifier": r.identifier, "kind": r.kind,
                                       "linked_at": r.linked_at})
        for s in await self.subjects(site_id, person):
            doc = await self.consent.export(site_id, s)
            if doc is not None:
                out["subjects"][s] = doc
        return out

    async def erase(self, site_id: str, ref: str) -> dict[str, Any] | None:
        """Erase the person and every linked identifier: ledger rows anonymised (each erasure
        recorded, the chain still verifies), activity detached, links dropped. Opt-outs are
        kept, re-keyed to the identifiers (pseudonyms), so a later import of an old list
        cannot reach the person again: forgetting a "no" would be the opposite of erasure."""
        self.site(site_id)
        person = self.person_id(site_id, ref)
        subjects = await self.subjects(site_id, person)
        rows = await self.storage.contact_rows(site_id, subjects)
        idents = subjects[1:]
        keep: list[ContactRow] = []
        for r in rows:
            if r.permission.allowed:
                continue
            targets = [r.subject] if r.subject != person else [
                i for i in idents if r.channel in _REACHES.get(kind_of(i) or "", ())]
            keep += [ContactRow(t, r.channel, r.scope, r.permission) for t in targets
                     if not t.startswith("c_")]
        changed = 0
        for s in subjects:
            changed += await self.consent.erase(site_id, s)
        if not changed and not idents:
            return None
        removed = await self.storage.people_forget(site_id, person, keep)
        return {"person": person, "identifiers": len(idents), "events_anonymised": changed,
                "rows_removed": removed, "opt_outs_kept": len(keep)}


def _collected_at(body: PersonEventIn) -> datetime:
    now = utc_now()
    if body.collected_at is None:
        return now
    c = body.collected_at if body.collected_at.tzinfo else body.collected_at.replace(tzinfo=UTC)
    if c > now + MAX_CLOCK_SKEW:
        raise FieldError("collected_at", "is in the future")
    return c


# What each retention category of [sites.X.retention_after_closure] holds (retention_category).
RETENTION_CATEGORIES = ("cross_border", "browsers", "marketing", "default")


def retention_categories(site: SiteConfig, events: list[StoredEvent]) -> dict[int, str]:
    """The retention category of each of a closed account's events (seq -> category), read in
    chain order. Links, lifecycle facts and erasures have none: they are kept to the longest
    clock (the clocks are read from them). An event in two categories is kept by the longer.

    - cross_border: a per-recipient ask event of a cross-border item (cmp/asks.py), or a choice
      that grants a cross-border separate item or turns off one its subject had granted;
    - browsers: a banner event of a linked browser (subject c_…);
    - marketing: a channel answer (e-mail, SMS, push, phone lists; an e-mail double opt-in or
      unsubscribe);
    - default: every other event (the person's own choices of purposes and vendors, a
      per-recipient ask of an item that is not cross-border)."""
    cross = {k for k, s in site.separate.items() if s.kind == SeparateKind.CROSS_BORDER}
    clocks = site.retention_after_closure
    held: dict[str, bool] = {}  # subject -> held a cross-border grant before this event
    out: dict[int, str] = {}
    for ev in sorted(events, key=lambda e: e.seq):
        if ev.kind in (EventKind.LINK, EventKind.LIFECYCLE, EventKind.ERASE):
            continue
        p, subject = ev.payload, ev.subject or ""
        found: list[str] = []
        choices = p.get("choices")
        granted = isinstance(choices, dict) and any(
            bool(v) for k, v in (choices.get("separate") or {}).items() if k in cross)
        if (p.get("channel") == "ask" and p.get("item") in cross) or granted or \
                (isinstance(choices, dict) and held.get(subject)):
            found.append("cross_border")
        if isinstance(choices, dict):
            held[subject] = granted
        if subject.startswith("c_"):
            found.append("browsers")
        if p.get("channel") == "email" or (p.get("channel") != "ask" and any(
                isinstance(c, dict) and c.get("channel") in CHANNELS
                for c in p.get("contact") or ())):
            found.append("marketing")
        out[ev.seq] = max(found, key=lambda c: clocks.get(  # type: ignore[call-overload]
            c, clocks.get("default", 0))) if found else "default"
    return out


# Which channels an identifier of each kind reaches (a phone number: texts and calls).
_REACHES: dict[str, tuple[str, ...]] = {"email": ("email",), "phone": ("sms", "phone"),
                                        "push": ("push",)}
