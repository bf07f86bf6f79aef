"""Who fetched the pixel or followed the link: a person, a mailbox proxy, a prefetcher, a scanner.

Rules are ours (the `user-agents` library calls GoogleImageProxy, a bare `Mozilla/5.0` and Safe
Links human). Order matters: the specific proxies first, then Apple's relay, then bots.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from cmp.windows import LocalWindows, Windows


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
    """Recent clicks per message: distinct links within `window` are a burst.

    The windows are this process's memory, or Redis shared by every worker (cmp.windows): a
    scanner's clicks on one message's links are spread over workers by the load balancer, and
    only a shared window sees them together."""

    def __init__(self, window: float = 2.0, windows: Windows | None = None) -> None:
        self.window = window
        self.windows: Windows = windows if windows is not None else LocalWindows()

    async def click(self, message: str, link: int, now: float) -> float | None:
        """Record a click; if it completes a burst, the time the burst started."""
        return await self.windows.distinct(f"burst:{message}", link, self.window, now)

    async def first_flag(self, message: str, now: float) -> bool:
        """True once per burst: whether earlier clicks of `message` still need reclassifying.

        A scanner (or an attacker replaying a honeypot link) can click thousands of times a
        second; reclassifying the window's clicks on every one would cost each click a scan
        of all the others. Once flagged, later clicks of the burst are stored as machine
        already, so one reclassification per window is enough."""
        return await self.windows.once(f"flagged:{message}", self.window, now)
