"""The values that cross the storage interface, and the one decision both backends share about
an e-mail engagement batch (`plan_engagement`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmp.grants import Permission


@dataclass(frozen=True, slots=True)
class Engagement:
    """One open, click, unsubscribe or send (a prepared message) as stored (recipient is a
    pseudonym, never an address)."""

    site: str
    campaign: str
    message: str
    recipient: str
    list: str
    kind: str  # open | click | unsubscribe | send (class "sent", never machine)
    link: int | None
    cls: str
    machine: bool
    reason: str | None
    ts: str
    ts_ms: int
    blocked_by: tuple[str, ...] = ()  # suppression scopes that stop this row
    suppress: tuple[str, ...] = ()  # scopes this row adds (an unsubscribe)
    # A scanner burst: mark the message's clicks since this time as machine too.
    reclassify_since_ms: int | None = None


@dataclass
class EngagementPlan:
    """What one engagement batch writes, decided the same way by every backend."""

    accepted: list[bool]  # per item: stored, or refused by a suppression
    rows: list[tuple[Any, ...]]  # email_engagement rows, in ENGAGEMENT column order
    suppress: list[tuple[str, str, str, str, str]]  # (site, recipient, scope, reason, ts)
    reclassify: list[tuple[str | None, str, str, int]]  # (reason, site, message, since_ms)


def plan_engagement(items: list[Engagement],
                    blocked: dict[tuple[str, str], set[str]]) -> EngagementPlan:
    """Decide a batch inside its transaction, given the suppressions read there (`blocked`,
    updated as the batch's own unsubscribes suppress): nothing is stored for a recipient
    suppressed before the row, even earlier in the same batch."""
    plan = EngagementPlan([], [], [], [])
    for e in items:
        scopes = blocked.get((e.site, e.recipient))
        if scopes and not scopes.isdisjoint(e.blocked_by):
            plan.accepted.append(False)
            continue
        plan.accepted.append(True)
        plan.rows.append((e.site, e.campaign, e.message, e.recipient, e.list, e.kind, e.link,
                          e.cls, int(e.machine), e.reason, e.ts, e.ts_ms))
        if e.suppress:
            blocked.setdefault((e.site, e.recipient), set()).update(e.suppress)
            plan.suppress += [(e.site, e.recipient, s, e.kind, e.ts) for s in e.suppress]
        if e.reclassify_since_ms is not None:
            plan.reclassify.append((e.reason, e.site, e.message, e.reclassify_since_ms))
    return plan


@dataclass(frozen=True, slots=True)
class EmailSignup:
    signup_id: str
    site: str
    recipient: str
    request: dict[str, Any]
    created: str
    confirmed: str | None


# --- web beacon (pixel/web/beacon.py) -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BeaconRow:
    """One page event as stored: page URL without query by default, referrer origin only."""

    site: str
    name: str
    url: str | None
    referrer: str | None
    props: str | None  # canonical JSON of the event's properties, None when there are none
    subject: str | None  # the consent id whose token allowed it; None under regime defaults
    ua_class: str
    ts: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class LinkRow:
    """An identifier linked to a person (cmp.identifiers gives its kind)."""

    identifier: str
    kind: str
    linked_at: str
    seq: int


@dataclass(frozen=True, slots=True)
class ContactRow:
    """The latest answer held for one subject on one channel and list ('*': the channel)."""

    subject: str
    channel: str
    scope: str
    permission: Permission


@dataclass(frozen=True, slots=True)
class RecipientCount:
    """People with a standing agreement to one recipient of a per-recipient item, and the
    latest of those agreements (whose event names the recipient as shown)."""

    item: str
    recipient: str
    people: int
    latest_subject: str
    latest_event_id: str
