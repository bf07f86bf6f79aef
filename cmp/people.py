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
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp import CMP_NAME, __version__
from cmp.config import CHANNELS, Config, SiteConfig, canonical_json
from cmp.consent import ConsentService
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
from cmp.ledger import NewEvent, Notice, StoredEvent, iso, utc_now
from cmp.storage.base import ContactRow, PeopleConsentStore
from cmp.types import Choices, EventKind, Model

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


def parse_link(data: Any) -> LinkIn:
    body: LinkIn = _parse(LinkIn, data)
    return body


def parse_person_event(data: Any) -> PersonEventIn:
    body: PersonEventIn = _parse(PersonEventIn, data)
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
        replace older ones; a grant collected before a later opt-out does not (supersedes)."""
        site = self.site(site_id)
        person = self.person_id(site_id, ref)
        now = utc_now()
        at = now
        if body.collected_at is not None:
            c = body.collected_at if body.collected_at.tzinfo else \
                body.collected_at.replace(tzinfo=UTC)
            if c > now + MAX_CLOCK_SKEW:
                raise FieldError("collected_at", "is in the future")
            at = c
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


# Which channels an identifier of each kind reaches (a phone number: texts and calls).
_REACHES: dict[str, tuple[str, ...]] = {"email": ("email",), "phone": ("sms", "phone"),
                                        "push": ("push",)}
