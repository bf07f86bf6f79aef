"""Ledger lookup for the privacy officer: find a subject, show its events and what was shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cmp.ledger import Notice, StoredEvent, current_choices
from cmp.storage.base import LedgerStore
from cmp.types import Choices
from pixel.email.recipients import AddressError

SUBJECT_RE = re.compile(r"^(c|r|p)_[A-Za-z0-9_-]{8,64}$")


class BadQuery(ValueError):
    pass


def resolve_subject(query: str, recipient_id: Callable[[str], str]) -> str:
    """A consent id (c_…), recipient id (r_…) or person id (p_…) as typed, or an e-mail address hashed on the
    fly into the site's recipient id (the address itself is never stored or logged)."""
    q = query.strip()
    if "@" in q:
        try:
            return recipient_id(q)
        except AddressError as exc:
            raise BadQuery(f"not a valid e-mail address: {exc}") from None
    if SUBJECT_RE.match(q):
        return q
    raise BadQuery("enter a consent id (c_…), a recipient id (r_…), a person id (p_…) or an "
                   "e-mail address")


@dataclass
class Found:
    subject: str
    events: list[StoredEvent]
    current: Choices | None
    notices: dict[str, Notice] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return {"r_": "e-mail recipient", "p_": "person"}.get(self.subject[:2], "consent id")

    def email_state(self) -> dict[str, Any] | None:
        """The latest e-mail list/tracking choices, for recipients."""
        lists: dict[str, bool] = {}
        tracking: bool | None = None
        seen = False
        for ev in self.events:
            e = ev.payload.get("email")
            if isinstance(e, dict):
                seen = True
                lists.update(e.get("lists") or {})
                if e.get("tracking") is not None:
                    tracking = bool(e["tracking"])
        return {"lists": lists, "tracking": tracking} if seen else None


async def find(storage: LedgerStore, site_id: str, subject: str) -> Found:
    events = await storage.events_for_subject(site_id, subject)
    current, _ = current_choices(events)
    notices: dict[str, Notice] = {}
    for ev in events:
        h = ev.payload.get("texts_hash")
        if isinstance(h, str) and h not in notices:
            n = await storage.notice(h)
            if n is not None:
                notices[h] = n
    return Found(subject, events, current, notices)
