"""Rate limits per (site, client network) on the write endpoints, held across workers.

Keyed by the truncated IP (IPv4 /24, IPv6 /48), the same form storage gets: no full address
reaches Redis, and a visitor rotating through one IPv6 /64 stays one client. A limit of 0
turns that limit off (the benchmarks do, since wrk hammers from one address).
"""

from __future__ import annotations

import time
from collections import Counter

from cmp.geo import truncate_ip
from cmp.settings import Settings
from cmp.windows import Admission, Windows

CONSENT = "consent"
BEACON = "beacon"
REQUESTS = "requests"  # the public data-subject request form: the consent limit
LOGIN = "login"  # dashboard logins: no site yet, so keyed by network alone
_ALLOWED = Admission(True)


class RateLimits:
    def __init__(self, windows: Windows, settings: Settings) -> None:
        self.windows = windows
        self.window = float(settings.rate_window_s)
        self.limits = {CONSENT: settings.consent_rate_limit, BEACON: settings.beacon_rate_limit,
                       LOGIN: settings.login_rate_limit, REQUESTS: settings.consent_rate_limit}
        self.refused: Counter[tuple[str, str]] = Counter()  # (kind, site) -> requests refused

    async def check(self, kind: str, site: str, ip: str | None,
                    now: float | None = None) -> Admission:
        limit = self.limits[kind]
        if limit <= 0:
            return _ALLOWED
        key = f"rate:{kind}:{site}:{truncate_ip(ip) or '-'}"
        got = await self.windows.admit(key, limit, self.window,
                                       time.time() if now is None else now)
        if not got.allowed:
            self.refused[(kind, site)] += 1
        return got


__all__ = ["BEACON", "CONSENT", "LOGIN", "REQUESTS", "RateLimits"]
