"""Asks: separate consent for one recipient, at the moment it matters (PIPL Art. 39). No HTTP.

The customer's backend asks (`create`) when a member is about to reply to overseas buyer B:
the ask names the item (a `per_recipient` separate item of the config), the person and the
recipient (id, name, contact, country, the data categories it would get). It gets a short-lived
signed ask token, which the page hands to `Consentry.ask(token)`. The banner's ask module then
fetches the notice (`view`: the item's texts in the page's language with B's fields put in),
shows exactly that, and posts the person's answer (`answer`) with the hash of what it showed.
The answer is a ledger event of the person naming the recipient and the hash of the exact
rendered notice (stored once, like every notice). Before showing B the member's e-mail and IP,
the backend asks `check`; a withdrawal (`withdraw`: API or the person's self-service page)
takes effect on the next check.

The recipient's answer is kept like a channel answer: `contact` [{channel "separate:<item>",
list <recipient id>}] in the event, so the writer keeps the latest per recipient in the same
table (cmp/contacts.py) and which answer stands is the grant rule's (cmp.grants.supersedes).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp import CMP_NAME, __version__
from cmp.config import Config, SeparateItem, SiteConfig, canonical_json, fill_recipient
from cmp.errors import ErrorKind, FieldError
from cmp.grants import ContactReason, Permission, contact_verdict
from cmp.hints import HintError
from cmp.keys import Keyring, signed_parts
from cmp.ledger import NewEvent, Notice, StoredEvent, iso, utc_now
from cmp.people import PeopleService
from cmp.types import EventKind

ASK_TTL_S = 15 * 60  # long enough to read and decide, short enough not to be kept around
SELF_SERVICE_TTL_S = 30 * 86400
_SIGNER = {"key_derivation": "none", "digest_method": hashlib.sha256}
_PAYLOAD = re.compile(r"\.?[A-Za-z0-9_-]+")  # "." first: itsdangerous compressed it


def channel_of(item: str) -> str:
    """The contact channel a per-recipient item's answers are kept under."""
    return f"separate:{item}"


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    data_categories: list[str] = Field(default_factory=list, max_length=20)


class AskIn(BaseModel):
    """Body of POST /v1/sites/{site}/asks."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(max_length=64)
    person: str = Field(min_length=1, max_length=200, description="the member's account ref")
    recipient: RecipientIn


class AnswerIn(BaseModel):
    """Body of POST /v1/sites/{site}/asks/answer (sent by the banner's ask module)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=4000)
    agreed: bool
    texts_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the notice shown")
    language: str = Field(max_length=35)
    hint: str | None = Field(None, max_length=2048, description="the page's person hint")


class NoticeIn(BaseModel):
    """Body of POST /v1/sites/{site}/asks/notice: the GET's query, plus the page's person hint
    (in a body, so the member's reference never lands in a URL or a log)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=4000)
    lang: str | None = Field(None, max_length=35)
    hint: str | None = Field(None, max_length=2048, description="the page's person hint")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(max_length=64)
    recipient: str = Field(max_length=64)


def parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


@dataclass(frozen=True, slots=True)
class Ask:
    """A verified ask token."""

    site: str
    ask_id: str
    item: str
    person: str  # p_…
    recipient: dict[str, Any]
    expires: int


@dataclass(frozen=True, slots=True)
class Grant:
    agreed: bool
    event_id: str | None
    at: str | None

    def doc(self) -> dict[str, Any]:
        return {"agreed": self.agreed, "event_id": self.event_id, "at": self.at}


class AskService:
    def __init__(self, config: Config, people: PeopleService, keyring: Keyring) -> None:
        self.config = config
        self.people = people
        self.storage = people.storage
        self.keyring = keyring
        self._sers: dict[tuple[str, str], URLSafeSerializer] = {}

    # --- tokens -------------------------------------------------------------------------------
    def _ser(self, site_id: str, purpose: str) -> URLSafeSerializer:
        ser = self._sers.get((site_id, purpose))
        if ser is None:
            key = self.keyring.site(site_id).token_key
            # one key per purpose, so an ask token is never a self-service link or a consent token
            ser = self._sers[(site_id, purpose)] = URLSafeSerializer(
                key, salt=f"consentry/{purpose}", signer_kwargs=_SIGNER)
        return ser

    def _loads(self, site_id: str, purpose: str, token: str) -> dict[str, Any]:
        parts = signed_parts(token) if isinstance(token, str) else None
        if parts is None or not _PAYLOAD.fullmatch(parts[0]):
            raise FieldError("token", "this link or token is not valid")
        try:
            body = self._ser(site_id, purpose).loads(token)
        except BadSignature:
            raise FieldError("token", "this link or token is not valid") from None
        if not isinstance(body, dict) or body.get("s") != site_id:
            raise FieldError("token", "this link or token is not valid")
        if not isinstance(body.get("e"), int) or body["e"] <= time.time():
            raise FieldError("token", "this has expired; ask again", ErrorKind.GONE)
        return body

    # --- the item -----------------------------------------------------------------------------
    def item(self, site: SiteConfig, item_id: str, field: str = "item") -> SeparateItem:
        item = site.separate.get(item_id)
        if item is None or not item.per_recipient:
            per = sorted(k for k, v in site.separate.items() if v.per_recipient)
            raise FieldError(field, f"not a per-recipient item of this site; one of {per}")
        return item

    # --- asking -------------------------------------------------------------------------------
    def create(self, site_id: str, body: AskIn) -> tuple[str, str, int]:
        """(ask id, ask token, expiry) for one person and one recipient."""
        site = self.people.site(site_id)
        item = self.item(site, body.item)
        person = self.people.person_id(site_id, body.person)
        r = body.recipient
        allowed = set(item.data_categories)
        extra = [c for c in r.data_categories if c not in allowed]
        if extra:
            raise FieldError("recipient.data_categories",
                             f"{extra[0]!r} is not among the item's data categories {sorted(allowed)}")
        ask_id = "a_" + secrets.token_urlsafe(12)
        expires = int(time.time()) + ASK_TTL_S
        token = self._ser(site_id, "ask").dumps({
            "s": site_id, "a": ask_id, "i": body.item, "p": person, "e": expires,
            "r": {"id": r.id, "name": r.name, "contact": r.contact, "country": r.country,
                  "data_categories": r.data_categories or list(item.data_categories)}})
        return ask_id, token, expires

    def verify(self, site_id: str, token: str) -> Ask:
        b = self._loads(site_id, "ask", token)
        try:
            return Ask(site_id, str(b["a"]), str(b["i"]), str(b["p"]), dict(b["r"]), int(b["e"]))
        except (KeyError, TypeError, ValueError):
            raise FieldError("token", "this link or token is not valid") from None

    def notice(self, site: SiteConfig, ask: Ask, lang: str) -> dict[str, Any]:
        """Exactly what the ask shows, in one language: the item's texts with the recipient's
        fields put in (plain text; the modal sets it as text, never as markup)."""
        item = self.item(site, ask.item, "token")
        r = ask.recipient
        fields = {"name": r["name"], "contact": r["contact"], "country": r["country"],
                  "data_categories": ", ".join(r["data_categories"])}

        def text(t: dict[str, str]) -> str:
            return fill_recipient(t.get(lang, ""), fields)

        texts = site.texts_for(lang)["banner"]
        return {
            "channel": "ask", "revision": site.revision, "language": lang,
            "controller": site.name, "item": ask.item, "kind": str(item.kind),
            "title": text(item.title), "description": text(item.description),
            "purpose": text(item.purpose), "method": text(item.method),
            "rights": text(item.rights),
            "recipient": {"id": r["id"], "name": r["name"], "contact": r["contact"],
                          "country": r["country"]},
            "data_categories": list(r["data_categories"]),
            # the modal's row labels, so the notice kept is everything the person read
            "labels": {k: texts.get(k) or _label(lang, k) for k in _LABELS["en"]},
            "buttons": {"agree": texts.get("ask_agree") or _DEFAULT_AGREE.get(lang, "I agree"),
                        "disagree": texts.get("ask_disagree") or
                        _DEFAULT_DISAGREE.get(lang, "I do not agree")},
        }

    def view(self, site_id: str, token: str, lang: str | None,
             hint: str | None = None) -> dict[str, Any]:
        """The notice to show; with the page's person hint, only to the person asked."""
        site = self.people.site(site_id)
        ask = self.verify(site_id, token)
        self._mine(site_id, ask, hint)
        language = lang if lang in site.languages else _closest(lang, site.languages) or \
            site.lang_default
        shown = self.notice(site, ask, language)
        return {"ask_id": ask.ask_id, "expires": ask.expires, "notice": shown,
                "texts_hash": hashlib.sha256(canonical_json(shown)).hexdigest()}

    def _mine(self, site_id: str, ask: Ask, hint: str | None) -> None:
        """The page says who is signed in (its person hint): an ask made for another member is
        not theirs to see or answer. No hint: the token alone decides."""
        if hint is None:
            return
        try:
            who = self.people.verify_hint(site_id, hint)
        except HintError:
            raise FieldError("hint", "the page's person hint is not valid",
                             ErrorKind.FORBIDDEN) from None
        if self.people.person_id(site_id, who.ref) != ask.person:
            raise FieldError("token", "this ask is for another person", ErrorKind.FORBIDDEN)

    async def answer(self, site_id: str, body: AnswerIn) -> StoredEvent:
        """Record the person's answer to an ask; durable on return."""
        site = self.people.site(site_id)
        ask = self.verify(site_id, body.token)
        self._mine(site_id, ask, body.hint)
        if body.language not in site.languages:
            raise FieldError("language", f"{body.language!r} is not one of {site.languages}")
        shown = self.notice(site, ask, body.language)
        texts_hash = hashlib.sha256(canonical_json(shown)).hexdigest()
        if texts_hash != body.texts_hash:
            raise FieldError("texts_hash", "the notice shown is not this ask's notice (the "
                             "config changed?); show the ask again", ErrorKind.STALE_REVISION)
        for ev in await self.storage.events_for_subject(site_id, ask.person):
            if ev.payload.get("ask_id") == ask.ask_id:
                raise FieldError("token", "this ask was already answered", ErrorKind.CONFLICT)
        return await self._record(site_id, site, ask.person, ask.item, ask.recipient,
                                  body.agreed, method="in_context", ask_id=ask.ask_id,
                                  notice=Notice(texts_hash, site_id, site.revision,
                                                body.language, shown))

    async def _record(self, site_id: str, site: SiteConfig, person: str, item: str,
                      recipient: dict[str, Any], agreed: bool, *, method: str,
                      ask_id: str | None = None, notice: Notice | None = None,
                      operator: str | None = None, reference: str | None = None,
                      note: str | None = None) -> StoredEvent:
        known = await self.storage.events_for_subject(site_id, person)
        payload: dict[str, Any] = {
            "channel": "ask", "action": "agree" if agreed else ("disagree" if ask_id else
                                                               "withdraw"),
            "method": method, "item": item, "recipient": recipient,
            "revision": site.revision, "cmp": f"{CMP_NAME}/{__version__}",
            "contact": [{"channel": channel_of(item), "list": recipient["id"],
                         "allowed": agreed}],
        }
        if ask_id:
            payload["ask_id"] = ask_id
        if notice is not None:
            payload["texts_hash"] = notice.hash
            payload["language"] = notice.language
        if operator:
            payload["operator"] = operator
        if reference:
            payload["reference"] = reference
        kind = EventKind.WITHDRAW if not agreed else (
            EventKind.UPDATE if known else EventKind.GRANT)
        return await self.storage.append(NewEvent.build(
            site=site_id, subject=person, kind=kind, payload=payload, notice=notice,
            extra_personal={"note": note} if note else None))

    # --- the check before sharing -------------------------------------------------------------
    async def check(self, site_id: str, ref: str, item: str, recipient: str) -> Grant:
        site = self.people.site(site_id)
        self.item(site, item)
        person = self.people.person_id(site_id, ref)
        rows = await self.storage.contact_rows(site_id, [person])
        held = [(r.scope, r.permission) for r in rows if r.channel == channel_of(item)]
        reason, p = contact_verdict(held, recipient, known=True, suppressed=False)
        return Grant(reason == ContactReason.ALLOWED, p.event_id if p else None,
                     p.at if p else None)

    async def grants(self, site_id: str, person: str) -> list[dict[str, Any]]:
        """Every recipient the person has answered for, per item, with the current answer and
        the recipient's name as they were shown it (what the self-service page lists)."""
        rows = await self.storage.contact_rows(site_id, [person])
        names: dict[tuple[str, str], dict[str, Any]] = {}
        for ev in await self.storage.events_for_subject(site_id, person):
            if ev.payload.get("channel") == "ask":
                names[(ev.payload["item"], ev.payload["recipient"]["id"])] = \
                    ev.payload["recipient"]
        out = []
        for r in rows:
            if not r.channel.startswith("separate:"):
                continue
            item = r.channel.removeprefix("separate:")
            rec = names.get((item, r.scope), {"id": r.scope})
            out.append({"item": item, "recipient": rec, "agreed": r.permission.allowed,
                        "event_id": r.permission.event_id, "at": r.permission.at})
        return sorted(out, key=lambda g: (g["item"], str(g["recipient"].get("name", ""))))

    async def withdraw(self, site_id: str, person: str, item: str, recipient: str, *,
                       method: str, operator: str | None = None,
                       reference: str | None = None, note: str | None = None
                       ) -> StoredEvent | None:
        """Withdraw one recipient's grant; None if there was none to withdraw. An operator
        who heard it (dashboards' people view) is named in the event, with the call reference."""
        site = self.people.site(site_id)
        self.item(site, item)
        rows = await self.storage.contact_rows(site_id, [person])
        held: list[tuple[str, Permission]] = [
            (r.scope, r.permission) for r in rows if r.channel == channel_of(item)]
        reason, _ = contact_verdict(held, recipient, known=True, suppressed=False)
        if reason != ContactReason.ALLOWED:
            return None
        rec = next((g["recipient"] for g in await self.grants(site_id, person)
                    if g["item"] == item and g["recipient"].get("id") == recipient),
                   {"id": recipient})
        return await self._record(site_id, site, person, item, rec, False, method=method,
                                  operator=operator, reference=reference, note=note)

    # --- the person's self-service link -------------------------------------------------------
    def self_service_token(self, site_id: str, ref: str) -> tuple[str, int]:
        self.people.site(site_id)
        person = self.people.person_id(site_id, ref)
        expires = int(time.time()) + SELF_SERVICE_TTL_S
        return self._ser(site_id, "self-service").dumps(
            {"s": site_id, "p": person, "e": expires}), expires

    def self_service_person(self, site_id: str, token: str) -> str:
        return str(self._loads(site_id, "self-service", token)["p"])

    async def yearly_people(self, site_id: str, year: int) -> dict[str, int]:
        """Per per-recipient item: distinct people who agreed to any recipient in `year`."""
        return await self.storage.item_people(site_id, year)

    async def top_recipients(self, site_id: str, year: int, limit: int = 10
                             ) -> list[dict[str, Any]]:
        """The recipients the most people have a standing agreement with, given in `year`
        (a withdrawn or since-refused one no longer counts: this is who may receive data now),
        each with its name, contact and country as last shown to a person."""
        out = []
        for r in await self.storage.recipient_people(site_id, year, limit):
            rec: dict[str, Any] = {"id": r.recipient}
            for ev in await self.storage.events_for_subject(site_id, r.latest_subject):
                if ev.event_id == r.latest_event_id and ev.payload.get("channel") == "ask":
                    rec = dict(ev.payload["recipient"])
            out.append({"item": r.item, "recipient": rec, "people": r.people})
        return out


@dataclass(frozen=True, slots=True)
class Filing:
    """Where one item's yearly count of people stands against its filing thresholds."""

    kind: str
    people: int
    thresholds: list[int]
    warning: int | None  # the next threshold, once the count is at warn_at of it
    reached: list[int]

    def doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "people": self.people, "thresholds": self.thresholds,
                "warning": self.warning, "reached": self.reached}


def filing(site: SiteConfig, item: SeparateItem, people: int) -> Filing:
    """The one rule for the threshold warning (API counts and the dashboards' Recipients view)."""
    thresholds = sorted({str(k): v for k, v in site.filing_thresholds.items()}.get(
        str(item.kind), []))
    warn = next((t for t in thresholds if people >= t * site.filing_warn_at and people < t),
                None)
    return Filing(str(item.kind), people, thresholds, warn,
                  [t for t in thresholds if people >= t])


_DEFAULT_AGREE = {"en": "I agree", "zh-CN": "我同意"}
_DEFAULT_DISAGREE = {"en": "I do not agree", "zh-CN": "我不同意"}


_LABELS = {
    "en": {"recipient": "Recipient", "recipient_contact": "Recipient's contact",
           "recipient_country": "Country or region", "purpose": "Purpose",
           "method": "How it is processed", "data_categories": "Personal information involved",
           "rights": "Your rights and how to use them"},
    "zh": {"recipient": "接收方", "recipient_contact": "接收方联系方式",
           "recipient_country": "所在国家或地区", "purpose": "处理目的", "method": "处理方式",
           "data_categories": "涉及的个人信息种类", "rights": "您的权利及行使方式"},
}


def _label(lang: str, key: str) -> str:
    """A row label the site's banner texts do not set, in the notice's language."""
    return _LABELS.get(lang.split("-")[0].lower(), _LABELS["en"])[key]


def _closest(lang: str | None, languages: list[str]) -> str | None:
    if not lang:
        return None
    base = lang.split("-")[0].lower()
    return next((x for x in languages if x.split("-")[0].lower() == base), None)


def iso_year_start(year: int) -> str:
    return f"{year:04d}-01-01T00:00:00.000Z"


def current_year() -> int:
    return utc_now().year


__all__ = ["Ask", "AskIn", "AskService", "AnswerIn", "NoticeIn", "Grant", "WithdrawIn", "channel_of", "iso"]
