"""Who fetched the pixel or followed the link: a person, a mailbox proxy, a prefetcher, a scanner.

Rules are ours (the `user-agents` library calls GoogleImageProxy, a bare `Mozilla/5.0` and Safe
Links human). Order matters: the specific proxies first, then Apple's relay, then bots.
"""

from __future__ import annotations

import re
from collections import deque
from enum import StrEnum
from functools import lru_cache


class OpenClass(StrEnum):
    HUMAN = "human"
    APPLE_MPP = "apple_mpp"  # Apple Mail Privacy Protection prefetches every image
    GMAIL_PROXY = "gmail_proxy"  # Gmail fetches through its proxy when the mail is opened
    GMAIL_PREFETCH = "gmail_prefetch"  # Gmail's fetch at delivery (old Edge UA)
    OTHER_PROXY = "other_proxy"  # Yahoo and other caching proxies
    BOT = "bot"


# A Gmail proxy fetch is a real first open; the others are machines (or cannot be told apart).
HUMAN_OPENS = frozenset({OpenClass.HUMAN, OpenClass.GMAIL_PROXY})

_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|headless|python-|curl/|wget/|go-http-client|java/|"
    r"okhttp|libwww|httpclient|axios/|node-fetch|bingpreview|facebookexternalhit|preview|"
    r"proofpoint|mimecast|barracuda|safelinks|safe links|urldefense|symantec|trendmicro|"
    r"forcepoint|sophos|fireeye|cisco|ironport|scanner|checker|monitor|validator",
    re.I)
_OUTLOOK = re.compile(r"microsoft outlook|ms-office|outlook-ios|outlook-android", re.I)


@lru_cache(maxsize=4096)
def classify_open(ua: str | None, head: bool = False) -> OpenClass:
    if head or not ua or not ua.strip():
        return OpenClass.BOT
    if "GoogleImageProxy" in ua:
        return OpenClass.GMAIL_PROXY
    if "Edge/12.246" in ua:
        return OpenClass.GMAIL_PREFETCH
    if "YahooMailProxy" in ua:
        return OpenClass.OTHER_PROXY
    if ua.strip() == "Mozilla/5.0":
        return OpenClass.APPLE_MPP
    if _OUTLOOK.search(ua):
        return OpenClass.HUMAN  # Outlook desktop/mobile fetch images when the mail is opened
    if _BOT.search(ua):
        return OpenClass.BOT
    if ("AppleWebKit" in ua and ("Macintosh" in ua or "iPhone" in ua or "iPad" in ua)
            and "Safari" not in ua and "Version/" not in ua):
        return OpenClass.APPLE_MPP  # Apple Mail's WebKit UA, relayed by MPP
    return OpenClass.HUMAN


class ClickReason(StrEnum):
    HEAD = "head"  # scanners check links with HEAD; browsers GET
    UA = "ua"  # a scanner's or a bot's user agent, or none
    TOO_SOON = "too_soon"  # followed seconds after sending: a scanner at delivery
    BURST = "burst"  # several links of one message within a couple of seconds
    HONEYPOT = "honeypot"  # the hidden link no person can see


@lru_cache(maxsize=4096)
def scanner_ua(ua: str | None) -> bool:
    if not ua or not ua.strip() or ua.strip() == "Mozilla/5.0":
        return True
    return bool(_BOT.search(ua)) and not _OUTLOOK.search(ua)


def classify_click(*, ua: str | None, head: bool, honeypot: bool, seconds_since_sent: float,
                   scanner_delay_s: float) -> ClickReason | None:
    """The reason a click is a machine's, or None for a person (bursts are judged apart)."""
    if honeypot:
        return ClickReason.HONEYPOT
    if head:
        return ClickReason.HEAD
    if scanner_ua(ua):
        return ClickReason.UA
    if seconds_since_sent < scanner_delay_s:
        return ClickReason.TOO_SOON
    return None


class BurstTracker:
    """Recent clicks per message (this process): distinct links within `window` are a burst.

    Bounded: at most `max_messages` messages are remembered, oldest forgotten first.
    """

    def __init__(self, window: float = 2.0, max_messages: int = 50_000) -> None:
        self.window = window
        self._max = max_messages
        self._recent: dict[str, deque[tuple[float, int]]] = {}
        self._flagged: dict[str, float] = {}  # message -> last time its clicks were reclassified

    def click(self, message: str, link: int, now: float) -> float | None:
        """Record a click; if it completes a burst, the time the burst started."""
        q = self._recent.get(message)
        if q is None:
            if len(self._recent) >= self._max:
                self._recent.pop(next(iter(self._recent)))
            q = self._recent[message] = deque(maxlen=64)
        while q and now - q[0][0] > self.window:
            q.popleft()
        q.append((now, link))
        if len({lnk for _, lnk in q}) >= 2:
            return q[0][0]
        return None

    def first_flag(self, message: str, now: float) -> bool:
        """True once per burst: whether earlier clicks of `message` still need reclassifying.

        A scanner (or an attacker replaying a honeypot link) can click thousands of times a
        second; reclassifying the window's clicks on every one would cost each click a scan
        of all the others. Once flagged, later clicks of the burst are stored as machine
        already, so one reclassification per window is enough."""
        last = self._flagged.get(message)
        if last is not None and now - last <= self.window:
            self._flagged[message] = now
            return False
        if last is None and len(self._flagged) >= self._max:
            self._flagged.pop(next(iter(self._flagged)))
        self._flagged[message] = now
        return True
