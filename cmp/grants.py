"""The one grant rule: given a site, a regime and a choice, what is granted.

Every decision of that form is made here and nowhere else: consent recording, the regime's
defaults, withdrawal, expiry, the tag gate, the web beacon, the ASGI middleware and the
dashboards all call these functions; the banner's JS (static/js/grants.js) mirrors them, and one
case table (tests/grant_cases.json) runs against both so the two cannot drift apart.

The rule, in short:
- a necessary purpose is always granted; GPC turns off the purposes marked `gpc`, except where a
  person answers that purpose explicitly (a `custom` choice made with the signal on);
- a vendor is granted iff it declares purposes, every one of them is granted, and it was not
  refused on its own; a vendor whose purposes are all necessary is granted whatever the action;
- a separate-consent item (PIPL 单独同意) is granted only by its own explicit answer;
- a tag needs its purposes, its vendor and its separate items; the beacon its purpose (and vendor).

Pure domain code: no framework, no I/O. It sees sites through `GrantSite`, the few facts the
rule needs, so a backend that only knows purpose names (the middleware without a config) and the
case table use the same code as the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from cmp.types import Choices, Model


class Action(StrEnum):
    """What produced a set of choices."""

    ACCEPT_ALL = "accept_all"
    REJECT_ALL = "reject_all"
    CUSTOM = "custom"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"
    DEFAULTS = "defaults"  # no choice yet: the regime's defaults


@dataclass(frozen=True, slots=True)
class PurposeRule:
    necessary: bool = False
    gpc: bool = False
    default: bool = False


@dataclass(frozen=True, slots=True)
class TagRule:
    """What one catalog tag needs: its purposes (default: its vendor's), vendor and items."""

    id: str
    vendor: str
    purposes: tuple[str, ...]
    separate: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GrantSite:
    """The facts about a site the rule needs, precomputed once per config."""

    purposes: Mapping[str, PurposeRule]
    vendors: Mapping[str, tuple[str, ...]]  # vendor -> the purposes it serves
    separate: tuple[str, ...] = ()
    # None: any revision is current (a caller that does not know the config's revision)
    revision: int | None = None
    tags: tuple[TagRule, ...] = ()  # in load order
    beacon: tuple[str, str | None] | None = None  # (purpose, vendor); None: beacon off
    necessary: frozenset[str] = field(init=False)
    gpc_purposes: frozenset[str] = field(init=False)
    necessary_vendors: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        nec = frozenset(p for p, r in self.purposes.items() if r.necessary)
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "necessary", nec)
        set_(self, "gpc_purposes", frozenset(p for p, r in self.purposes.items() if r.gpc))
        set_(self, "necessary_vendors", frozenset(
            v for v, ps in self.vendors.items() if ps and all(p in nec for p in ps)))

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> GrantSite:
        """From the shape the banner's config answer and the case table use:
        {revision, purposes: [{id, necessary, gpc, default}], vendors: [{id, purposes}],
        separate: [{id}]}."""
        return cls(
            purposes={p["id"]: PurposeRule(bool(p.get("necessary")), bool(p.get("gpc")),
                                           bool(p.get("default"))) for p in doc["purposes"]},
            vendors={v["id"]: tuple(v["purposes"]) for v in doc.get("vendors", [])},
            separate=tuple(x["id"] for x in doc.get("separate", [])),
            revision=doc.get("revision"))


class State(Protocol):
    """A verified consent state (cmp.tokens.ConsentState) as far as the rule reads it."""

    @property
    def subject(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def purposes(self) -> frozenset[str]: ...
    @property
    def vendors(self) -> frozenset[str]: ...
    @property
    def separate(self) -> frozenset[str]: ...
    @property
    def gpc(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Answers:
    """A person's explicit answers, item by item (absent: not answered)."""

    purposes: Mapping[str, bool] = field(default_factory=dict)
    vendors: Mapping[str, bool] = field(default_factory=dict)
    separate: Mapping[str, bool] = field(default_factory=dict)


NO_ANSWERS = Answers()


# --- what a choice grants ------------------------------------------------------------------------

def _default(rule: PurposeRule, model: Model, gpc: bool) -> bool:
    return rule.necessary or ((model is not Model.OPT_IN or rule.default) and not (gpc and rule.gpc))


def choose(site: GrantSite, action: Action, answers: Answers = NO_ANSWERS, *,
           model: Model, gpc: bool) -> Choices:
    """The choices an action records (ledger event and token), for every purpose, vendor and
    separate item of the site. `model` is the regime's; `gpc` the signal when it was made."""
    purposes: dict[str, bool] = {}
    for pid, r in site.purposes.items():
        if r.necessary:
            purposes[pid] = True
        elif action is Action.ACCEPT_ALL:
            purposes[pid] = not (gpc and r.gpc)  # accepting "all" does not override GPC
        elif action is Action.CUSTOM and pid in answers.purposes:
            purposes[pid] = bool(answers.purposes[pid])  # an explicit answer, even under GPC
        elif action in (Action.CUSTOM, Action.DEFAULTS):
            purposes[pid] = _default(r, model, gpc)
        else:  # reject_all, withdraw, expire
            purposes[pid] = False
    refused = answers.vendors if action is Action.CUSTOM else {}
    vendors = {vid: _vendor(site, vid, ps, purposes.__getitem__, refused.get(vid) is False)
               for vid, ps in site.vendors.items()}
    explicit = action in (Action.ACCEPT_ALL, Action.CUSTOM)
    separate = {sid: explicit and answers.separate.get(sid) is True for sid in site.separate}
    return Choices(purposes, vendors, separate)


def _vendor(site: GrantSite, vid: str, purposes: tuple[str, ...],
            granted: Callable[[str], bool], refused: bool) -> bool:
    if vid in site.necessary_vendors:
        return True
    return bool(purposes) and not refused and all(granted(p) for p in purposes)


def lifetime_days(site: GrantSite, choices: Choices, accept_days: int, reject_days: int) -> int:
    """Accepting keeps the choice longer than rejecting (reject may be asked again sooner)."""
    optional = any(on for pid, on in choices.purposes.items() if pid not in site.necessary)
    return accept_days if optional else reject_days


# --- what may run now ----------------------------------------------------------------------------

class Basis(StrEnum):
    """Which choices a request's grants come from."""

    CONSENT = "consent"  # a valid token for the current revision
    DEFAULTS = "defaults"  # no token, or one for an older revision (the banner asks again)
    INVALID_TOKEN = "invalid_token"  # a token that failed verification: necessary only


class Withheld(StrEnum):
    NO_CONSENT = "no_consent"  # no choice yet: the regime's defaults do not allow it
    REFUSED = "refused"  # the person's choice does not include a purpose or the vendor
    GPC = "gpc"  # a Global Privacy Control signal switches a purpose it needs off
    INVALID_TOKEN = "invalid_token"  # the token presented failed verification
    SEPARATE_CONSENT = "separate_consent"  # a PIPL separate item it needs was not agreed
    DISABLED = "disabled"  # the site has no such thing (the beacon without a purpose)


@dataclass(frozen=True, slots=True)
class Grants:
    """What is allowed for one request, after GPC."""

    basis: Basis
    purposes: frozenset[str]
    vendors: frozenset[str]
    separate: frozenset[str]
    gpc: bool
    consent_id: str | None = None

    def allows(self, purpose: str) -> bool:
        return purpose in self.purposes

    def allows_vendor(self, vendor: str) -> bool:
        return vendor in self.vendors

    def as_choices(self, site: GrantSite) -> Choices:
        return Choices({p: p in self.purposes for p in site.purposes},
                       {v: v in self.vendors for v in site.vendors},
                       {s: s in self.separate for s in site.separate})


def basis(site: GrantSite, state: State | None, *, token_presented: bool) -> Basis:
    """Which rules apply to a request: its choice, the regime's defaults, or necessary only."""
    if state is not None and (site.revision is None or state.revision == site.revision):
        return Basis.CONSENT
    if token_presented and state is None:
        return Basis.INVALID_TOKEN
    return Basis.DEFAULTS


def effective(site: GrantSite, state: State | None, *, token_presented: bool, gpc: bool,
              defaults: Choices | None = None) -> Grants:
    """What may run for a request: `state` is the verified token (None if absent or refused),
    `token_presented` whether a token came at all, `gpc` the signal on this request, and
    `defaults` the regime's defaults for this visitor when `basis` says they apply (None: the
    opt-in reading, for a caller without a policy engine)."""
    b = basis(site, state, token_presented=token_presented)
    if b is Basis.CONSENT:
        assert state is not None
        # A GPC signal that arrived after the choice turns its purposes off; a choice made
        # while the signal was on has already taken it into account (incl. an explicit lift).
        late_gpc = gpc and not state.gpc
        purposes = site.necessary | frozenset(
            p for p in state.purposes
            if p in site.purposes and not (late_gpc and p in site.gpc_purposes))
        vendors = frozenset(
            vid for vid, ps in site.vendors.items()
            if _vendor(site, vid, ps, purposes.__contains__, vid not in state.vendors))
        return Grants(b, purposes, vendors,
                      frozenset(s for s in state.separate if s in site.separate),
                      gpc or state.gpc, state.subject)
    if b is Basis.INVALID_TOKEN:
        return Grants(b, site.necessary, site.necessary_vendors, frozenset(), gpc)
    d = defaults if defaults is not None else choose(site, Action.DEFAULTS, model=Model.OPT_IN,
                                                      gpc=gpc)
    return Grants(b, frozenset(p for p, on in d.purposes.items() if on),
                  frozenset(v for v, on in d.vendors.items() if on), frozenset(), gpc)


def _why(site: GrantSite, g: Grants, missing: tuple[str, ...]) -> Withheld:
    if g.basis is Basis.INVALID_TOKEN:
        return Withheld.INVALID_TOKEN
    if g.gpc and any(p in site.gpc_purposes for p in missing):
        return Withheld.GPC
    return Withheld.NO_CONSENT if g.basis is Basis.DEFAULTS else Withheld.REFUSED


def tag_verdict(site: GrantSite, tag: TagRule, g: Grants) -> tuple[Withheld, tuple[str, ...]] | None:
    """None if `tag` may run; else the reason and what is missing (purposes, vendor or items)."""
    missing = tuple(p for p in tag.purposes if p not in g.purposes)
    if not missing and tag.vendor not in g.vendors:
        missing = (tag.vendor,)
    if missing:
        return _why(site, g, missing), missing
    absent = tuple(x for x in tag.separate if x not in g.separate)
    if absent:
        return Withheld.SEPARATE_CONSENT, absent
    return None


@dataclass(frozen=True, slots=True)
class TagDecision:
    allowed: tuple[str, ...]  # tag ids in load order
    withheld: tuple[tuple[str, Withheld, tuple[str, ...]], ...]  # id, reason, what is missing


def decide_tags(site: GrantSite, g: Grants) -> TagDecision:
    allowed: list[str] = []
    withheld: list[tuple[str, Withheld, tuple[str, ...]]] = []
    for tag in site.tags:
        why = tag_verdict(site, tag, g)
        if why is None:
            allowed.append(tag.id)
        else:
            withheld.append((tag.id, *why))
    return TagDecision(tuple(allowed), tuple(withheld))


def beacon_verdict(site: GrantSite, g: Grants) -> Withheld | None:
    """None if the web beacon may log a page event for these grants; else why not."""
    if site.beacon is None:
        return Withheld.DISABLED
    purpose, vendor = site.beacon
    if purpose not in g.purposes:
        return _why(site, g, (purpose,))
    if vendor is not None and vendor not in g.vendors:
        return _why(site, g, (vendor,))
    return None


def email_tracking(answer: bool | None, regime: str | None, *,
                   without_consent: list[str] | tuple[str, ...], refused: bool) -> bool:
    """Whether a recipient's opens and clicks may be tracked: their explicit answer (None:
    never asked), else a regime the site lets track without consent; an unsubscribe from
    tracking (`refused`) or a later "no" always wins."""
    if refused or answer is False:
        return False
    return answer is True or regime in without_consent


# --- contact: may this person be sent a message on this channel and list? -------------------

@dataclass(frozen=True, slots=True)
class Permission:
    """One recorded answer for one (channel, list or topic): what and when it was chosen.

    `at` is when the person made the choice (an import says when it was collected), not when
    it reached us; `event_id` the ledger event that carries it."""

    allowed: bool
    at: str  # ISO 8601 UTC, millisecond precision: compares as text
    event_id: str
    seq: int = 0


ALL_LISTS = "*"  # a channel-wide answer: every list (topic) of the channel


def supersedes(new: Permission, old: Permission | None) -> bool:
    """Does `new` replace `old` for one (channel, list)?

    The later choice wins; at the same instant an opt-out wins. So a grant collected before an
    opt-out we already hold (an old import, a sync that lags) never re-grants what the person
    refused after it, however late it arrives."""
    if old is None:
        return True
    if new.at != old.at:
        return new.at > old.at
    return not new.allowed or old.allowed


class ContactReason(StrEnum):
    ALLOWED = "allowed"
    NO_CONSENT = "no_consent"  # known, but never said yes to this channel and list
    OPTED_OUT = "opted_out"  # said no (or withdrew) after any yes
    SUPPRESSED = "suppressed"  # on the channel's suppression list (bounce, complaint, erasure)
    UNKNOWN = "unknown"  # no person or identifier of that name


def contact_verdict(perms: Iterable[tuple[str, Permission]], scope: str, *, known: bool,
                    suppressed: bool) -> tuple[ContactReason, Permission | None]:
    """The answer for one channel and list from every permission held for the person and the
    identifier (`perms`: (list id or ALL_LISTS, permission) pairs of that channel).

    The latest answer about this list or the whole channel decides; an opt-out is never
    overridden by a suppression-list lookup or by a missing record."""
    best: Permission | None = None
    for key, p in perms:
        if key in (scope, ALL_LISTS) and supersedes(p, best):
            best = p
    if best is not None and not best.allowed:
        return ContactReason.OPTED_OUT, best
    if suppressed:
        return ContactReason.SUPPRESSED, best
    if best is not None:
        return ContactReason.ALLOWED, best
    return (ContactReason.NO_CONSENT if known else ContactReason.UNKNOWN), None
