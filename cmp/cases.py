"""Data-subject request cases: a person's request to see, copy, correct or delete their
information, withdraw consent, close their account, have an automated decision explained, or
complain; who did what with it, when, and by which date it must be answered. No HTTP here.

A case is a series of `case` ledger events whose subject is the case id (`q_` + 24 hex
digits): every transition is hash-chained with the actor and the time, so "we answered within
15 working days" is provable from the ledger alone. Payload (proof, kept): case, type, state,
regime, received_at, due, requester (the r_/t_/p_ pseudonym of who asked), transition, actor,
method, and on a refusal its ground; on an extension the due date it replaced. Personal
fields (erased by `forget`): the requester's address or number as given (the controller must
be able to reply to it), the message and notes.

States: received → verified → in_progress → completed | refused. A case may be refused from
any open state (a ground from the site's `requests.refusal_grounds` and a note), and
completed from verified or in_progress. The due date is fixed at intake from the regime's
deadline (cmp/workdays.py); an extension (where the regime has one, once, with a note) is an
event that moves it. The derived `request_cases` table (cmp/caserows.py) lists cases by due
date; `get` reads the case's own events.

Identity verification, the hosted request page and the dashboards' view are other modules'
work; `verify(case, method, actor, note)` is the transition they call.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmp import CMP_NAME, __version__
from cmp.caserows import OPEN_STATES, CaseRow
from cmp.config import Config, Period, SiteConfig
from cmp.consent import ConsentService
from cmp.errors import ErrorKind, FieldError
from cmp.identifiers import IdentifierError, pseudonym
from cmp.keys import Keyring
from cmp.ledger import NewEvent, StoredEvent, iso, utc_now
from cmp.storage.base import CaseLedgerStore
from cmp.types import EventKind
from cmp.workdays import Calendar, add_days, add_months, add_working_days

CASE_TYPES = ("access", "copy", "correct", "delete", "withdraw", "cancel_account",
              "explain_decision", "complaint")
CaseType = Literal["access", "copy", "correct", "delete", "withdraw", "cancel_account",
                   "explain_decision", "complaint"]
STATES = ("received", "verified", "in_progress", "completed", "refused")
# How a request reached the controller, or how an actor checked who asked.
CASE_METHODS = ("web_form", "email", "phone", "letter", "in_person", "api", "account_login",
                "id_document", "email_link", "operator")
CaseMethod = Literal["web_form", "email", "phone", "letter", "in_person", "api",
                     "account_login", "id_document", "email_link", "operator"]
# transition -> (states it may leave from, state it enters)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "verify": (("received",), "verified"),
    "start": (("verified",), "in_progress"),
    "complete": (("verified", "in_progress"), "completed"),
    "refuse": (OPEN_STATES, "refused"),
}
# The local day a request arrives on decides its due date: the calendar's zone, else UTC.
ZONES = {"CN": "Asia/Shanghai", "DE": "Europe/Berlin", "FR": "Europe/Paris",
         "GB": "Europe/London", "US": "America/New_York"}
Note = Field(None, max_length=2000)
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # the shape; cmp.identifiers checks the rest


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"]) from None


class IntakeIn(BaseModel):
    """Body of the public POST /v1/sites/{site}/requests."""

    model_config = ConfigDict(extra="forbid")

    type: CaseType
    email: str = Field(max_length=254, pattern=EMAIL_RE)
    message: str | None = Field(None, max_length=5000)
    language: str | None = Field(None, max_length=35)


class OpenIn(BaseModel):
    """Body of POST /v1/sites/{site}/cases: a request taken by phone, letter or in person."""

    model_config = ConfigDict(extra="forbid")

    type: CaseType
    method: CaseMethod
    email: str | None = Field(None, max_length=254, pattern=EMAIL_RE)
    phone: str | None = Field(None, max_length=32)
    ref: str | None = Field(None, max_length=200, description="the customer's account reference")
    regime: str | None = Field(None, max_length=32)
    received_at: datetime | None = Field(None, description="when the letter or call came")
    message: str | None = Field(None, max_length=5000)
    actor: str | None = Field(None, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


class TransitionIn(BaseModel):
    """Body of POST /v1/sites/{site}/cases/{case}/transitions."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["verify", "start", "complete", "refuse", "extend"]
    method: CaseMethod = "operator"
    ground: str | None = Field(None, max_length=64)
    note: str | None = Note
    actor: str | None = Field(None, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


def parse_intake(data: Any) -> IntakeIn:
    body: IntakeIn = _parse(IntakeIn, data)
    return body


def parse_open(data: Any) -> OpenIn:
    body: OpenIn = _parse(OpenIn, data)
    if not (body.email or body.phone or body.ref):
        raise FieldError("email", "give who asked: email, phone or ref")
    return body


def parse_transition(data: Any) -> TransitionIn:
    body: TransitionIn = _parse(TransitionIn, data)
    return body


def new_case_id() -> str:
    return "q_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class Case:
    """A case as its events tell it."""

    site: str
    case_id: str
    type: str
    state: str
    regime: str
    received_at: str
    due: str
    requester: str | None
    extended: bool
    ground: str | None
    events: list[StoredEvent]

    def overdue(self, today: date) -> bool:
        return self.state in OPEN_STATES and self.due < today.isoformat()

    def doc(self, today: date) -> dict[str, Any]:
        history = []
        for ev in self.events:
            p, personal = ev.payload, ev.personal or {}
            history.append({k: v for k, v in {
                "event_id": ev.event_id, "seq": ev.seq, "at": ev.ts,
                "transition": p.get("transition"), "state": p.get("state"),
                "due": p.get("due"), "actor": p.get("actor"),
                "recorded_by": p.get("recorded_by"), "method": p.get("method"),
                "ground": p.get("ground"), "note": personal.get("note")}.items()
                if v is not None})
        first = (self.events[0].personal if self.events else None) or {}
        return {"case_id": self.case_id, "type": self.type, "state": self.state,
                "regime": self.regime, "received_at": self.received_at, "due": self.due,
                "overdue": self.overdue(today), "extended": self.extended,
                "ground": self.ground, "requester": self.requester,
                "contact": {k: first[k] for k in ("email", "phone") if first.get(k)},
                "message": first.get("message"), "history": history}


def row_doc(r: CaseRow, today: date) -> dict[str, Any]:
    return {"case_id": r.case_id, "type": r.type, "state": r.state, "regime": r.regime,
            "received_at": r.received_at, "due": r.due, "updated_at": r.updated_at,
            "overdue": r.state in OPEN_STATES and r.due < today.isoformat()}


def fold(events: list[StoredEvent]) -> Case | None:
    """The case its `case` events (in chain order) describe; None without an intake."""
    evs = [e for e in events if e.kind == EventKind.CASE]
    if not evs or evs[0].payload.get("transition") != "open":
        return None
    last = evs[-1].payload
    return Case(evs[0].site, str(last["case"]), str(last["type"]), str(last["state"]),
                str(last["regime"]), str(last["received_at"]), str(last["due"]),
                last.get("requester"),
                any(e.payload.get("transition") == "extend" for e in evs),
                last.get("ground"), evs)


class CaseService:
    def __init__(self, config: Config, storage: CaseLedgerStore, consent: ConsentService,
                 keyring: Keyring) -> None:
        self.config = config
        self.storage = storage
        self.consent = consent
        self.keyring = keyring

    def site(self, site_id: str) -> SiteConfig:
        return self.consent.site(site_id)

    # --- deadlines ----------------------------------------------------------------------------
    def calendar(self, site_id: str, regime: str) -> Calendar:
        req = self.site(site_id).requests
        return Calendar.of(req.calendar_for(regime), req.extra_holidays, req.extra_workdays)

    def local_day(self, site_id: str, regime: str, at: datetime) -> date:
        zone = ZONES.get(self.site(site_id).requests.calendar_for(regime), "UTC")
        return at.astimezone(ZoneInfo(zone)).date()

    def due_date(self, site_id: str, regime: str, case_type: str, received: date,
                 period: Period | None = None) -> date:
        """The day by which a case received on `received` must be answered (the day itself
        counts as in time)."""
        d = self.site(site_id).requests.deadlines_for(regime)
        p = period or (d.cancel_account if case_type == "cancel_account" and d.cancel_account
                       else d.reply)
        if p.unit == "working_days":
            return add_working_days(received, p.n, self.calendar(site_id, regime))
        if p.unit == "days":
            return add_days(received, p.n)
        return add_months(received, p.n)

    def regime(self, site_id: str, given: str | None) -> str:
        site = self.site(site_id)
        if given is None:
            return site.requests.default_regime or site.regions.default
        if given not in self.config.all_regimes:
            raise FieldError("regime", f"unknown regime {given!r}")
        return given

    # --- intake -------------------------------------------------------------------------------
    def _pseudonym(self, site_id: str, kind: Literal["email", "phone", "ref"], value: str,
                   field: str) -> str:
        try:
            return pseudonym(self.keyring.site(site_id), kind, value)
        except IdentifierError as exc:
            raise FieldError(field, str(exc)) from None

    async def intake(self, site_id: str, body: IntakeIn, now: datetime | None = None
                     ) -> Case:
        """A request from the public form: who asked is their e-mail address (its pseudonym
        in the proof, the address itself in the personal fields to reply to)."""
        requester = self._pseudonym(site_id, "email", body.email, "email")
        return await self._open(site_id, body.type, "web_form", requester,
                                {"email": body.email, "message": body.message,
                                 "language": body.language},
                                self.regime(site_id, None), "requester", now, None, "public")

    async def open(self, site_id: str, body: OpenIn, actor: str,
                   now: datetime | None = None) -> Case:
        """A request an operator took (a call, a letter) or a backend forwarded."""
        if body.ref is not None:
            requester = self._pseudonym(site_id, "ref", body.ref, "ref")
        elif body.email is not None:
            requester = self._pseudonym(site_id, "email", body.email, "email")
        else:
            requester = self._pseudonym(site_id, "phone", str(body.phone), "phone")
        now = now or utc_now()
        received = body.received_at
        if received is not None:
            if received.tzinfo is None:
                raise FieldError("received_at", "give a time zone (e.g. +08:00 or Z)")
            if received > now:
                raise FieldError("received_at", "is in the future")
        personal = {"email": body.email, "phone": body.phone, "message": body.message}
        return await self._open(site_id, body.type, body.method, requester, personal,
                                self.regime(site_id, body.regime), body.actor or actor, now,
                                received, actor)

    async def _open(self, site_id: str, case_type: str, method: str, requester: str,
                    personal: dict[str, Any], regime: str, actor: str,
                    now: datetime | None, received: datetime | None,
                    recorded_by: str | None = None) -> Case:
        now = now or utc_now()
        at = received or now
        due = self.due_date(site_id, regime, case_type, self.local_day(site_id, regime, at))
        case_id = new_case_id()
        payload = {"case": case_id, "type": case_type, "state": "received", "regime": regime,
                   "received_at": iso(at.astimezone(UTC)), "due": due.isoformat(),
                   "requester": requester, "transition": "open", "actor": actor,
                   "recorded_by": recorded_by, "method": method,
                   "cmp": f"{CMP_NAME}/{__version__}"}
        ev = await self._append(site_id, case_id, payload,
                                {k: v for k, v in personal.items() if v is not None}, now)
        case = fold([ev])
        assert case is not None
        return case

    async def _append(self, site_id: str, case_id: str, payload: dict[str, Any],
                      personal: dict[str, Any], now: datetime | None) -> StoredEvent:
        ev = NewEvent.build(site=site_id, subject=case_id, kind=EventKind.CASE,
                            payload=payload, extra_personal=personal)
        if now is not None:  # an injected clock (tests, an import of old letters)
            ev = dataclasses.replace(ev, ts=iso(now))
        return await self.storage.append(ev)

    # --- reading ------------------------------------------------------------------------------
    async def get(self, site_id: str, case_id: str) -> Case | None:
        self.site(site_id)
        if not case_id.startswith("q_"):
            return None
        case = fold(await self.storage.events_for_subject(site_id, case_id))
        if case is None:  # erased (`forget`): the chain keeps the payloads, the row the state
            row = await self.storage.case_row(site_id, case_id)
            if row is not None:
                case = Case(site_id, row.case_id, row.type, row.state, row.regime,
                            row.received_at, row.due, row.requester, False, None, [])
        return case

    async def cases(self, site_id: str, *, open_only: bool = True, overdue: bool = False,
                   now: datetime | None = None, limit: int = 500) -> list[CaseRow]:
        """Cases by due date, earliest (so overdue) first; `overdue`: only those past due."""
        self.site(site_id)
        today = self.today(site_id, now)
        return await self.storage.case_rows(site_id, open_only or overdue,
                                            today.isoformat() if overdue else None, limit)

    def today(self, site_id: str, now: datetime | None = None) -> date:
        return self.local_day(site_id, self.regime(site_id, None), now or utc_now())

    async def counts(self, now: datetime | None = None) -> list[tuple[str, int, int]]:
        """(site, open, overdue) for /metrics: overdue by UTC day (a site's local day is at
        most one off, and the metric is a count to alert on, not the record)."""
        return await self.storage.case_counts((now or utc_now()).date().isoformat())

    # --- transitions --------------------------------------------------------------------------
    async def transition(self, site_id: str, case_id: str, body: TransitionIn, actor: str,
                         now: datetime | None = None) -> Case:
        case = await self.get(site_id, case_id)
        if case is None:
            raise FieldError("case", "no such case", ErrorKind.NOT_FOUND)
        if not case.events:
            raise FieldError("case", "the case was erased", ErrorKind.CONFLICT)
        who = body.actor or actor
        payload: dict[str, Any] = {
            "case": case.case_id, "type": case.type, "state": case.state,
            "regime": case.regime, "received_at": case.received_at, "due": case.due,
            "requester": case.requester, "transition": body.action, "actor": who,
            "recorded_by": actor, "method": body.method}
        if body.action == "extend":
            self._extension(site_id, case, body, payload)
        else:
            sources, target = TRANSITIONS[body.action]
            if case.state not in sources:
                raise FieldError("action", f"a {case.state} case cannot {body.action} "
                                 f"(from {', '.join(sources)} only)", ErrorKind.CONFLICT)
            if body.action == "refuse":
                grounds = self.site(site_id).requests.refusal_grounds
                if body.ground is None:
                    raise FieldError("ground", f"a refusal needs a ground: one of "
                                     f"{', '.join(grounds)}")
                if body.ground not in grounds:
                    raise FieldError("ground", f"unknown ground {body.ground!r}; one of "
                                     f"{', '.join(grounds)}")
                if not body.note:
                    raise FieldError("note", "say why (the person is told the reason)")
                payload["ground"] = body.ground
            elif body.ground is not None:
                raise FieldError("ground", "only a refusal has a ground")
            payload["state"] = target
        ev = await self._append(site_id, case.case_id, payload,
                                {"note": body.note} if body.note else {}, now)
        got = fold([*case.events, ev])
        assert got is not None
        return got

    def _extension(self, site_id: str, case: Case, body: TransitionIn,
                   payload: dict[str, Any]) -> None:
        ext = self.site(site_id).requests.deadlines_for(case.regime).extension
        if ext is None:
            raise FieldError("action", f"{case.regime} allows no extension", ErrorKind.CONFLICT)
        if case.state not in OPEN_STATES:
            raise FieldError("action", f"a {case.state} case is closed", ErrorKind.CONFLICT)
        if case.extended:
            raise FieldError("action", "the deadline was extended already", ErrorKind.CONFLICT)
        if not body.note:
            raise FieldError("note", "say why (the person must be told the reasons)")
        if body.ground is not None:
            raise FieldError("ground", "only a refusal has a ground")
        payload["due"] = self.due_date(site_id, case.regime, case.type,
                                       date.fromisoformat(case.due), ext).isoformat()
        payload["due_before"] = case.due

    async def verify(self, site_id: str, case_id: str, method: CaseMethod, actor: str,
                     note: str | None = None, now: datetime | None = None) -> Case:
        """The hook identity verification (an e-mail link, a signed-in account) calls."""
        return await self.transition(site_id, case_id, TransitionIn(
            action="verify", method=method, ground=None, note=note, actor=None), actor, now)

    async def forget(self, site_id: str, case_id: str) -> int:
        """Erase the case's personal fields (the address, message, notes); the payload — type,
        states, dates, actors, the requester's pseudonym — stays as the proof it was
        answered. Returns the rows changed (recorded by an erase event, as any erasure)."""
        return await self.consent.erase(site_id, case_id)
