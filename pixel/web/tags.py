"""The tag gate's answer: which catalog tags the banner may load, and why the others may not.

Which tags are granted is the one grant rule's (cmp.grants.decide_tags); the route, the beacon
and the ASGI middleware ask it the same question, so a page, a beacon and a site's own backend
never disagree. This module only renders the decision.

What a request presents decides the basis (cmp.grants.effective):
- a valid token for the current config revision: its choices (`consent`);
- no token, or one for an older revision (the banner asks again): the regime's defaults for
  this visitor (`defaults`), i.e. nothing optional under opt-in law;
- a token that fails verification (forged, altered, expired, another site's): necessary
  purposes only (`invalid_token`), never the regime's defaults; a forgery earns nothing.
"""

from __future__ import annotations

from typing import Any

from cmp.config import SiteConfig
from cmp.grants import Grants, TagDecision


def decision_doc(site_id: str, site: SiteConfig, g: Grants, d: TagDecision,
                 regime: str | None) -> dict[str, Any]:
    """The tag gate's answer. Withheld tags are named with their reason, never their URL or code:
    the page has no business requesting them."""
    return {
        "site": site_id,
        "basis": str(g.basis),
        "regime": regime,
        "gpc": g.gpc,
        "consent_id": g.consent_id,
        "tags": [site.tags[tid].loaded(tid) for tid in d.allowed],
        "withheld": [{"id": tid, "vendor": site.tags[tid].vendor, "reason": str(why),
                      "missing": list(miss)} for tid, why, miss in d.withheld],
    }
