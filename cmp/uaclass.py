"""A coarse user-agent class for the ledger (never the raw UA string)."""

from __future__ import annotations

from functools import lru_cache

from user_agents import parse


@lru_cache(maxsize=4096)
def ua_class(ua: str | None) -> str:
    """One of: none, bot, mobile, tablet, desktop, other."""
    if not ua:
        return "none"
    parsed = parse(ua[:512])
    if parsed.is_bot or "HeadlessChrome" in ua:
        return "bot"
    if parsed.is_mobile:
        return "mobile"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_pc:
        return "desktop"
    return "other"
