"""What the e-mail side and the web beacon share: the GIF they answer, and how they count.

Both are beacons: whatever happened to the event, the client gets the same 1×1 GIF (or the
same 204), so the answer says nothing about consent or suppression. What happened is kept
here instead, as an outcome: `STORED`, or one `Drop` reason. One vocabulary, so /metrics, the
campaign stats and the dashboards name a drop the same way whichever side made it.

Framework-free: the routes of each side turn these bytes and headers into responses.
"""

from __future__ import annotations

import base64
from collections import Counter
from enum import StrEnum

GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
assert len(GIF) == 43
GIF_TYPE = "image/gif"
# A cached GIF is an open or a page view nobody sees: every fetch must reach us.
GIF_HEADERS = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
               "Pragma": "no-cache", "Expires": "0"}
# Storage could not commit: not acknowledged means not stored, so the client may retry.
GIF_UNAVAILABLE_HEADERS = {**GIF_HEADERS, "Retry-After": "1"}

STORED = "stored"  # the one outcome that is not a drop: committed before the answer


class Drop(StrEnum):
    """Why an event was not logged. The values are what /metrics, the campaign stats and the
    tests read: extend, never rename."""

    # --- both sides ---
    # e-mail: an open/click token forged, altered, truncated, of the wrong key or kind;
    # web: a consent token that failed verification
    BAD_TOKEN = "bad_token"
    # e-mail: the token's site has no [email] section (any more);
    # web: the body names no site we serve (answered 400)
    UNKNOWN_SITE = "unknown_site"
    # e-mail: the recipient's regime/consent did not allow tracking;
    # web: the consent (or the regime's default) does not allow the beacon's purpose
    NO_CONSENT = "no_consent"
    # --- e-mail side ---
    SUPPRESSED = "suppressed"  # unsubscribed or tracking withdrawn since the mail was sent
    MACHINE_OPEN = "machine_open"  # only when the site chose not to store machine opens
    BAD_DESTINATION = "bad_destination"  # a signed destination that is not http(s) any more
    # --- web beacon ---
    OVERSIZE = "oversize"  # body over the beacon's MAX_BODY (answered 413)
    MALFORMED = "malformed"  # not JSON, or a field out of shape or limits (answered 400/415)
    BAD_ORIGIN = "bad_origin"  # sent from a page that is not one of the site's origins
    BOT = "bot"  # crawler, headless browser, or no User-Agent at all
    GPC = "gpc"  # a GPC signal switches the beacon's purpose off
    DISABLED = "disabled"  # the site has no beacon purpose
    RATE_LIMITED = "rate_limited"  # over beacon_rate_limit for this site and client network


# The `kind` of a web beacon's outcomes; the e-mail side counts "open" and "click".
BEACON_KIND = "beacon"


class Counters:
    """Outcome counts per (site, campaign, kind, outcome), this process only.

    `kind` is what arrived ("open", "click", "beacon"); `campaign` is "" where there is none
    (every beacon event); `site` is "" when the event named none we know."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, site: str, kind: str, outcome: str, campaign: str = "") -> None:
        self.counts[(site, campaign, kind, outcome)] += 1

    def by_site(self, kind: str) -> dict[tuple[str, str], int]:
        """(site, outcome) → count for one kind, all campaigns together (/metrics)."""
        out: Counter[tuple[str, str]] = Counter()
        for (s, _, k, outcome), n in self.counts.items():
            if k == kind:
                out[(s, outcome)] += n
        return dict(out)

    def for_campaign(self, site: str, campaign: str) -> dict[str, dict[str, int]]:
        """kind → outcome → count for one campaign (the campaign stats)."""
        out: dict[str, dict[str, int]] = {}
        for (s, c, kind, outcome), n in self.counts.items():
            if s == site and c == campaign:
                out.setdefault(kind, {})[outcome] = n
        return out

    def totals(self) -> dict[tuple[str, str], int]:
        """(kind, outcome) → count over every site and campaign."""
        out: Counter[tuple[str, str]] = Counter()
        for (_, _, kind, outcome), n in self.counts.items():
            out[(kind, outcome)] += n
        return dict(out)


__all__ = ["BEACON_KIND", "GIF", "GIF_HEADERS", "GIF_TYPE", "GIF_UNAVAILABLE_HEADERS",
           "STORED", "Counters", "Drop"]
