"""The ingest pipeline for opens and clicks: parse → verify → consent → classify → store.

Every step either passes the event on or drops it with a typed reason; drops are counted, never
silently lost. `store` awaits the group commit, so an event reported as stored is on disk. The
answer to the client (GIF or redirect) does not depend on what happened here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cmp.config import Config, EmailConfig
from cmp.ledger import iso
from cmp.storage.base import EmailStore, Engagement
from cmp.windows import Windows
from pixel.email.classify import (
    HUMAN_OPENS,
    BurstTracker,
    ClickReason,
    OpenClass,
    classify_click,
    classify_open,
)
from pixel.email.recipients import TRACKING
from pixel.email.tokens import HONEYPOT, BadToken, ClickToken, EmailTokens, OpenToken
from pixel.email.urls import safe_destination
from pixel.outcomes import STORED, Counters, Drop


@dataclass(frozen=True, slots=True)
class ClickResult:
    destination: str | None  # None: answer 400, never redirect
    outcome: str  # STORED or a Drop


def _ts(now: float) -> str:
    return iso(datetime.fromtimestamp(now, UTC))


class Pipeline:
    def __init__(self, config: Config, tokens: EmailTokens, storage: EmailStore,
                 windows: Windows | None = None) -> None:
        self.tokens = tokens
        self.storage = storage
        self.counters = Counters()
        self._email: dict[str, EmailConfig] = {
            sid: s.email for sid, s in config.sites.items() if s.email is not None}
        burst_s = [e.burst_window_s for e in self._email.values()] or [2.0]
        # windows None: this process's memory (one worker, tests)
        self.bursts = BurstTracker(max(burst_s), windows)

    # --- open ---------------------------------------------------------------------------------
    async def open(self, token: str, *, ua: str | None, head: bool = False,
                   now: float | None = None) -> str:
        t = self._verify_open(token)
        if t is None:
            return Drop.BAD_TOKEN
        email = self._email.get(t.site)
        outcome: str
        if email is None:
            outcome = Drop.UNKNOWN_SITE
        elif not t.tracked:
            outcome = Drop.NO_CONSENT
        else:
            cls = classify_open(ua, head)
            machine = cls not in HUMAN_OPENS
            if machine and not email.store_machine_opens:
                outcome = Drop.MACHINE_OPEN
            else:
                outcome = await self._store(t, "open", None, cls, machine, None,
                                            now or time.time(), None)
        self.counters.add(t.site, "open", outcome, t.campaign)
        return outcome

    def _verify_open(self, token: str) -> OpenToken | None:
        try:
            return self.tokens.verify_open(token)
        except BadToken:
            self.counters.add("", "open", Drop.BAD_TOKEN)
            return None

    # --- click --------------------------------------------------------------------------------
    async def click(self, token: str, *, ua: str | None, head: bool = False,
                    now: float | None = None) -> ClickResult:
        try:
            t = self.tokens.verify_click(token)
        except BadToken:
            self.counters.add("", "click", Drop.BAD_TOKEN)
            return ClickResult(None, Drop.BAD_TOKEN)
        dest = safe_destination(t.destination)
        if dest is None:
            self.counters.add(t.site, "click", Drop.BAD_DESTINATION, t.campaign)
            return ClickResult(None, Drop.BAD_DESTINATION)
        email = self._email.get(t.site)
        outcome: str
        if email is None:
            outcome = Drop.UNKNOWN_SITE
        elif not t.tracked:
            outcome = Drop.NO_CONSENT
        else:
            now = now or time.time()
            reason = classify_click(ua=ua, head=head, honeypot=t.link == HONEYPOT,
                                    seconds_since_sent=now - t.sent,
                                    scanner_delay_s=email.scanner_delay_s)
            since = await self.bursts.click(t.message, t.link, now)
            reclassify: int | None = None
            if since is not None:
                reason = reason or ClickReason.BURST
            if reason in (ClickReason.BURST, ClickReason.HONEYPOT) and \
                    await self.bursts.first_flag(t.message, now):
                # The whole burst is the scanner's: earlier clicks of it become machine too.
                reclassify = int(((since if since is not None else now) - email.burst_window_s)
                                 * 1000)
            outcome = await self._store(t, "click", t.link, "scanner" if reason else "human",
                                        reason is not None, reason, now, reclassify)
        self.counters.add(t.site, "click", outcome, t.campaign)
        return ClickResult(dest, outcome)

    # --- store --------------------------------------------------------------------------------
    async def _store(self, t: OpenToken | ClickToken, kind: str, link: int | None, cls: str,
                     machine: bool, reason: str | None, now: float,
                     reclassify: int | None) -> str:
        stored = await self.storage.append_engagement(Engagement(
            site=t.site, campaign=t.campaign, message=t.message, recipient=t.recipient,
            list=t.list, kind=kind, link=link, cls=str(cls), machine=machine,
            reason=str(reason) if reason else None, ts=_ts(now), ts_ms=int(now * 1000),
            blocked_by=(t.list, TRACKING, "#all"), reclassify_since_ms=reclassify))
        return STORED if stored else Drop.SUPPRESSED


__all__ = ["ClickResult", "OpenClass", "Pipeline"]
