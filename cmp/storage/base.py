"""The storage interface the domain code talks to; SQLite and PostgreSQL implement it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from cmp.ledger import NewEvent, Notice, StoredEvent


class StorageError(Exception):
    """The database could not take a write; the request must not be acknowledged."""


class Storage(Protocol):
    async def open(self) -> None:
        """Connect and run pending migrations."""

    async def close(self) -> None:
        """Flush what is waiting, then disconnect."""

    async def append(self, event: NewEvent) -> StoredEvent:
        """Chain and store one event; returns only after the transaction holding it committed.

        Many concurrent callers share one transaction (group commit)."""

    def iter_chain(self, site: str) -> AsyncIterator[StoredEvent]:
        """A site's events in chain order (seq ascending)."""

    async def chain_head(self, site: str) -> tuple[int, str] | None: ...

    async def sites(self) -> list[str]:
        """Every site that has events."""

    async def events_for_subject(self, site: str, subject: str) -> list[StoredEvent]: ...

    async def notice(self, texts_hash: str) -> Notice | None: ...

    async def erase_subject(self, site: str, subject: str) -> int:
        """Anonymise a subject's events (personal fields and subject id); returns rows changed."""

    async def subjects_expiring(self, site: str, now: str) -> list[str]:
        """Subjects whose latest event is a grant/update whose expires_at is before `now`."""

    async def delete_before(self, site: str, before: str) -> int:
        """Anonymise events older than `before` (retention); returns rows changed."""

    async def count_events(self, site: str | None = None) -> int: ...

    async def activity_for_subject(self, site: str, subject: str) -> dict[str, list[dict[str, Any]]]:
        """Beacon events (by consent id) and e-mail engagement (by recipient id), for export."""

    async def delete_activity_before(self, site: str, before_ms: int) -> int:
        """Retention: delete beacon events and e-mail engagement older than `before_ms`."""

    async def ping(self) -> None:
        """A trivial query: raises if the database does not answer."""

    # --- e-mail engagement (pixel/) --------------------------------------------------------

    async def append_engagement(self, item: Engagement) -> bool:
        """Store one open/click/unsubscribe/send unless a scope in `item.blocked_by` suppresses its
        recipient; True if stored. Returns only after the transaction holding it committed
        (group commit, like `append`); the suppression check runs inside that transaction."""

    async def close_engagement(self) -> None:
        """Flush waiting engagement rows and stop their writer (before `close`)."""

    async def email_suppressions(self, site: str, recipient: str) -> set[str]: ...

    async def email_unsuppress(self, site: str, recipient: str, scopes: list[str]) -> int: ...

    async def email_signup_create(self, signup_id: str, site: str, recipient: str,
                                  request: dict[str, Any], created: str) -> None: ...

    async def email_signup(self, signup_id: str) -> EmailSignup | None: ...

    async def email_signup_confirm(self, signup_id: str, ts: str) -> bool:
        """Mark a signup confirmed; False if it already was."""

    async def email_counts(self, site: str, campaign: str) -> list[tuple[str, str, bool, int]]:
        """(kind, class, machine, count) of a campaign's stored engagement."""

    async def email_erase_recipient(self, site: str, recipient: str) -> int:
        """Detach engagement rows and pending signups from a recipient; returns rows changed."""

    # --- web beacon (pixel/beacon.py) -----------------------------------------------------------

    async def append_beacon(self, row: BeaconRow) -> None:
        """Store one page event; returns only after the transaction holding it committed
        (group commit, like `append`)."""

    async def close_beacon(self) -> None:
        """Flush waiting beacon rows and stop their writer (before `close`)."""

    async def count_beacon(self, site: str | None = None) -> int: ...

    async def beacon_erase_subject(self, site: str, subject: str) -> int:
        """Detach a subject's page events from its consent id; returns rows changed."""

    # --- dashboard rollups (dashboards/rollups.py; kept in the writers' transactions) -----------

    async def dash_consent_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        """(day, regime, language, action, events) from dash_consent_daily, day >= since_day."""

    async def dash_purpose_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        """(day, regime, language, purpose, granted) from dash_purpose_daily, day >= since_day."""

    async def dash_email_daily(self, site: str, campaign: str | None = None
                               ) -> list[tuple[str, str, str, str, bool, int]]:
        """(campaign, day, kind, class, machine, events) from dash_email_daily."""


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


# --- web beacon (pixel/beacon.py) ---------------------------------------------------------------

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
