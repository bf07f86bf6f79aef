"""What a batch of ledger events changes in the two tables derived from it: which person an
identifier belongs to (`person_links`) and the latest answer per (subject, channel, list)
(`contact_state`), the fast copies `may-contact` reads.

Both backends apply these inside the writer's transaction that stores the events, so a 2xx for
an opt-out means the next `may-contact` refuses. Which answer replaces which is the grant
rule's (cmp.grants.supersedes); this module only reads the events.

Event shapes read here:
- a `link` event: `personal.links`, the identifiers (pseudonyms) linked to `subject` (p_…);
- any event with `payload.contact`: [{channel, list, allowed, at}] answers of its subject;
- an e-mail event (`payload.channel == "email"`): `payload.email.lists` {list: bool}, at the
  event's `collected_at` if it has one, else its time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cmp.grants import Permission
from cmp.identifiers import kind_of
from cmp.ledger import StoredEvent
from cmp.types import EventKind


@dataclass(frozen=True, slots=True)
class Link:
    site: str
    identifier: str
    person: str
    kind: str
    linked_at: str
    seq: int


@dataclass(frozen=True, slots=True)
class ContactChange:
    site: str
    subject: str
    channel: str
    scope: str
    permission: Permission


def link_changes(events: Iterable[StoredEvent]) -> list[Link]:
    out = []
    for ev in events:
        if ev.kind != EventKind.LINK or ev.subject is None or ev.personal is None:
            continue
        for ident in ev.personal.get("links") or ():
            out.append(Link(ev.site, ident, ev.subject, kind_of(ident) or "unknown", ev.ts,
                            ev.seq))
    return out


def contact_changes(events: Iterable[StoredEvent]) -> list[ContactChange]:
    """Every answer the events carry, in chain order (a later one in the batch may replace an
    earlier one: apply them in this order through `supersedes`)."""
    out = []
    for ev in events:
        if ev.subject is None:
            continue
        p = ev.payload
        at = p.get("collected_at") or ev.ts
        for c in p.get("contact") or ():
            out.append(ContactChange(ev.site, ev.subject, c["channel"], c["list"],
                                     Permission(bool(c["allowed"]), c.get("at") or at,
                                                ev.event_id, ev.seq)))
        if p.get("channel") == "email":
            for lid, allowed in sorted(((p.get("email") or {}).get("lists") or {}).items()):
                out.append(ContactChange(ev.site, ev.subject, "email", lid,
                                         Permission(bool(allowed), at, ev.event_id, ev.seq)))
    return out


def item_people_changes(events: Iterable[StoredEvent]) -> list[tuple[str, str, int, str]]:
    """(site, item, year, person) of every agreement to a per-recipient item (an ask)."""
    out = []
    for ev in events:
        p = ev.payload
        if ev.subject and p.get("channel") == "ask" and p.get("action") == "agree":
            out.append((ev.site, str(p["item"]), int(ev.ts[:4]), ev.subject))
    return out
