"""The tag gate's decision: which catalog tags may run for the consent presented, and why the
others may not. Pure domain code (no web framework): the route, the beacon and the ASGI
middleware all ask the same question here, so a page, a beacon and a site's own backend never
disagree.

What a request presents decides the basis:
- a valid token for the current config revision: its choices (`consent`);
- no token, or one for an older revision (the banner asks again): the regime's defaults for
  this visitor (`defaults`), i.e. nothing optional under opt-in law;
- a token that fails verification (forged, altered, expired, another site's): necessary
  purposes only (`invalid_token`), never the regime's defaults; a forgery earns nothing.
A GPC signal (header or the token's own) switches off every GPC-governed purpose on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cmp.config import SiteConfig, Tag
from cmp.tokens import ConsentState
from cmp.types import Choices


class Basis(StrEnum):
    CONSENT = "consent"
    DEFAULTS = "defaults"
    INVALID_TOKEN = "invalid_token"


class Withheld(StrEnum):
    NO_CONSENT = "no_consent"  # no choice yet: the regime's defaults do not allow it
    REFUSED = "refused"  # the visitor's choice does not include a purpose or the vendor
    GPC = "gpc"  # a Global Privacy Control signal switches a purpose it needs off
    INVALID_TOKEN = "invalid_token"  # the token presented failed verification
    SEPARATE_CONSENT = "separate_consent"  # a PIPL separate item it needs was not agreed


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


def _necessary(site: SiteConfig) -> frozenset[str]:
    return frozenset(p for p, d in site.purposes.items() if d.necessary)


def _gpc_off(site: SiteConfig, purposes: frozenset[str], gpc: bool) -> frozenset[str]:
    if not gpc:
        return purposes
    return frozenset(p for p in purposes if not site.purposes[p].gpc)


def _vendors(site: SiteConfig, purposes: frozenset[str], chosen: frozenset[str]) -> frozenset[str]:
    # A vendor runs only if chosen (or serving necessary purposes alone) and every purpose it
    # serves is still allowed: GPC may have taken one away since the choice.
    nec = _necessary(site)
    return frozenset(
        vid for vid, v in site.vendors.items()
        if v.purposes and (vid in chosen or all(p in nec for p in v.purposes))
        and all(p in purposes for p in v.purposes))


def grants(site: SiteConfig, state: ConsentState | None, *, token_presented: bool,
           gpc: bool, defaults: Choices | None) -> Grants:
    """The grants for a verified `state` (None if absent or refused) and the request's GPC.

    `defaults`: the regime's defaults for this visitor, used when there is no current choice."""
    gpc = gpc or bool(state and state.gpc)
    nec = _necessary(site)
    if state is not None and state.revision == site.revision:
        purposes = _gpc_off(site, frozenset(p for p in state.purposes if p in site.purposes)
                            | nec, gpc)
        return Grants(Basis.CONSENT, purposes, _vendors(site, purposes, state.vendors),
                      frozenset(state.separate), gpc, state.subject)
    if token_presented and state is None:
        return Grants(Basis.INVALID_TOKEN, nec, _vendors(site, nec, frozenset()), frozenset(), gpc)
    d = defaults.purposes if defaults else {}
    purposes = _gpc_off(site, frozenset(p for p, on in d.items() if on) | nec, gpc)
    chosen = frozenset(v for v, on in (defaults.vendors if defaults else {}).items() if on)
    return Grants(Basis.DEFAULTS, purposes, _vendors(site, purposes, chosen), frozenset(), gpc)


@dataclass(frozen=True, slots=True)
class TagDecision:
    allowed: tuple[tuple[str, Tag], ...]
    withheld: tuple[tuple[str, Tag, Withheld, tuple[str, ...]], ...]  # id, tag, reason, missing

    @property
    def allowed_ids(self) -> list[str]:
        return [tid for tid, _ in self.allowed]


def why_withheld(site: SiteConfig, tag: Tag, g: Grants) -> tuple[Withheld, tuple[str, ...]] | None:
    """None if `tag` may run; else the reason and what is missing (purposes, vendor or items)."""
    needed = site.tag_purposes(tag)
    missing = tuple(p for p in needed if p not in g.purposes)
    if tag.vendor not in g.vendors and not missing:
        missing = (tag.vendor,)
    if missing:
        if g.basis is Basis.INVALID_TOKEN:
            return Withheld.INVALID_TOKEN, missing
        if g.gpc and any(p in site.purposes and site.purposes[p].gpc for p in missing):
            return Withheld.GPC, missing
        return (Withheld.NO_CONSENT if g.basis is Basis.DEFAULTS else Withheld.REFUSED), missing
    absent = tuple(x for x in tag.separate if x not in g.separate)
    if absent:
        return Withheld.SEPARATE_CONSENT, absent
    return None


def decide_tags(site: SiteConfig, g: Grants) -> TagDecision:
    allowed: list[tuple[str, Tag]] = []
    withheld: list[tuple[str, Tag, Withheld, tuple[str, ...]]] = []
    for tid, tag in site.tag_catalog:
        why = why_withheld(site, tag, g)
        if why is None:
            allowed.append((tid, tag))
        else:
            withheld.append((tid, tag, *why))
    return TagDecision(tuple(allowed), tuple(withheld))


def tag_doc(tid: str, tag: Tag) -> dict[str, Any]:
    """An allowed tag as the banner loads it."""
    out: dict[str, Any] = {"id": tid, "vendor": tag.vendor}
    if tag.src is not None:
        out["src"] = tag.src
    else:
        out["inline"] = tag.inline
    out["attributes"] = tag.attributes
    out["consent_mode"] = tag.consent_mode
    return out


def decision_doc(site_id: str, g: Grants, d: TagDecision, regime: str | None) -> dict[str, Any]:
    """The tag gate's answer. Withheld tags are named with their reason, never their URL or code:
    the page has no business requesting them."""
    return {
        "site": site_id,
        "basis": str(g.basis),
        "regime": regime,
        "gpc": g.gpc,
        "consent_id": g.consent_id,
        "tags": [tag_doc(tid, t) for tid, t in d.allowed],
        "withheld": [{"id": tid, "vendor": t.vendor, "reason": str(why), "missing": list(miss)}
                     for tid, t, why, miss in d.withheld],
    }
