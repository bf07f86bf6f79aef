"""The storage interface, split by concern; SQLite and PostgreSQL implement all of it.

Each domain service asks for the narrowest protocol it uses (the beacon needs `BeaconStore`,
the dashboards `RollupStore` …); `Storage` is the union, held only by the assembly that opens
one backend for the whole app. tests/test_storage_protocols.py checks that both backends
implement every method with the protocol's signature.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from cmp.caserows import CaseRow
from cmp.ledger import NewEvent, Notice, StoredEvent
from cmp.storage.records import (
    BeaconRow,
    ContactRow,
    EmailSignup,
    Engagement,
    EngagementPlan,
    LinkRow,
    RecipientCount,
    plan_engagement,
)

# The records are part of the interface: importing them from here keeps working.
__all__ = [
    "ActivityStore", "BeaconRow", "ContactRow", "LinkRow", "RecipientCount", "PeopleStore", "PeopleConsentStore", "BeaconStore", "CheckpointStore", "CheckpointSource", "ConsentStore", "EmailConsentStore",
    "EmailSignup", "EmailStore", "Engagement", "EngagementPlan", "LedgerStore", "Lifecycle",
    "RollupStore", "Storage", "StorageError", "plan_engagement",
]


class StorageError(Exception):
    """The database could not take a write; the request must not be acknowledged."""


@runtime_checkable
class Lifecycle(Protocol):
    async def open(self) -> None:
        """Connect and run pending migrations."""

    async def close(self) -> None:
        """Flush what is waiting (every writer), then disconnect."""

    async def ping(self) -> None:
        """A trivial query: raises if the database does not answer."""


@runtime_checkable
class LedgerStore(Protocol):
    """The consent ledger: hash-chained events per site, the notices they point at."""

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

    async def erase_subject(self, site: str, subject: str, seqs: list[int]) -> int:
        """Anonymise the listed events of a subject (personal fields and subject id); returns
        rows changed. The caller has recorded the erasure first (an erase event listing `seqs`):
        verify refuses anonymised rows no record covers."""

    async def subjects_expiring(self, site: str, now: str) -> list[str]:
        """Subjects whose latest event is a grant/update whose expires_at is before `now`."""

    async def identified_before(self, site: str, before: str) -> int:
        """How many events older than `before` still carry personal fields."""

    async def delete_before(self, site: str, before: str, below_seq: int) -> int:
        """Anonymise events older than `before` and earlier in the chain than `below_seq` (the
        retention record the caller appended first); returns rows changed."""

    async def count_events(self, site: str | None = None) -> int: ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Signed tree heads of each site's ledger (cmp/checkpoints.py) and the leaves under them."""

    async def add_checkpoint(self, site: str, tree_size: int, root_hash: str, ts: str,
                             key_id: str, doc: str) -> bool:
        """Store a signed tree head (`doc`, its JSON as issued); False if the site already has
        one of that size (the first is kept)."""

    async def checkpoint(self, site: str, tree_size: int | None = None) -> str | None:
        """The stored tree head of that size, or the latest; None if there is none."""

    async def leaf_hashes(self, site: str, upto: int) -> list[str]:
        """Chain hashes of the site's events seq 1..upto, in chain order (the Merkle leaves)."""


@runtime_checkable
class CheckpointSource(LedgerStore, CheckpointStore, Protocol):
    """What checkpoints are made from and kept in: the ledger and the checkpoints table."""


@runtime_checkable
class EmailStore(Protocol):
    """E-mail engagement (opens, clicks, unsubscribes, sends), suppressions and signups."""

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


@runtime_checkable
class BeaconStore(Protocol):
    """Web beacon page events."""

    async def append_beacon(self, row: BeaconRow) -> None:
        """Store one page event; returns only after the transaction holding it committed
        (group commit, like `append`)."""

    async def close_beacon(self) -> None:
        """Flush waiting beacon rows and stop their writer (before `close`)."""

    async def count_beacon(self, site: str | None = None) -> int: ...


@runtime_checkable
class ActivityStore(Protocol):
    """A data subject's rows outside the ledger (beacon events by consent id, e-mail engagement
    and signups by recipient id): what export, erasure and retention act on."""

    async def activity_for_subject(self, site: str, subject: str) -> dict[str, list[dict[str, Any]]]:
        """Beacon events (by consent id) and e-mail engagement (by recipient id), for export."""

    async def delete_activity_before(self, site: str, before_ms: int) -> int:
        """Retention: delete beacon events and e-mail engagement older than `before_ms`."""

    async def beacon_erase_subject(self, site: str, subject: str) -> int:
        """Detach a subject's page events from its consent id; returns rows changed."""

    async def email_erase_recipient(self, site: str, recipient: str) -> int:
        """Detach engagement rows and pending signups from a recipient; returns rows changed."""


@runtime_checkable
class RollupStore(Protocol):
    """Dashboard counts, read-only here: the writers keep them in the transactions that store
    the rows they count (cmp/storage/rollups.py decides the counts)."""

    async def dash_consent_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        """(day, regime, language, action, events) from dash_consent_daily, day >= since_day."""

    async def dash_purpose_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        """(day, regime, language, purpose, granted) from dash_purpose_daily, day >= since_day."""

    async def dash_email_daily(self, site: str, campaign: str | None = None
                               ) -> list[tuple[str, str, str, str, bool, int]]:
        """(campaign, day, kind, class, machine, events) from dash_email_daily."""


@runtime_checkable
class PeopleStore(Protocol):
    """People: identifiers linked to a person and the latest answer per channel and list,
    both kept from ledger events by the writer's transaction (cmp/contacts.py)."""

    async def person_links(self, site: str, person: str) -> list[LinkRow]: ...

    async def person_of(self, site: str, identifier: str) -> str | None: ...

    async def contact_rows(self, site: str, subjects: list[str]) -> list[ContactRow]:
        """Every answer held for these subjects, all channels."""

    async def contact_lookup(self, site: str, identifier: str, channel: str
                             ) -> tuple[str | None, list[ContactRow], bool]:
        """(its person, the channel's answers of the identifier and that person, whether the
        identifier is known at all): what `may-contact` reads, as fast as the backend can."""

    async def item_people(self, site: str, year: int) -> dict[str, int]:
        """Per per-recipient item: distinct people who agreed to a recipient in `year`."""

    async def recipient_people(self, site: str, year: int, limit: int
                               ) -> list[RecipientCount]:
        """The `limit` (item, recipient) pairs with the most people whose standing answer
        (contact_state, channel `separate:<item>`) is an agreement given in `year`, most first."""

    async def closed_accounts(self, site: str) -> list[tuple[str, str]]:
        """(person, closure time) of every `account_closed` lifecycle event still identified,
        in chain order (cmp/people.py close_accounts)."""

    async def people_forget(self, site: str, person: str, keep: list[ContactRow]) -> int:
        """Erasure: drop the person's links and the answers of the person and its identifiers,
        then store `keep` (opt-outs re-keyed to identifiers); returns rows removed."""


@runtime_checkable
class CaseStore(Protocol):
    """Data-subject request cases: the latest state of each, kept from its `case` ledger
    events by the writer's transaction (cmp/caserows.py)."""

    async def case_row(self, site: str, case_id: str) -> CaseRow | None: ...

    async def case_rows(self, site: str, open_only: bool, due_before: str | None,
                        limit: int) -> list[CaseRow]:
        """Cases by due date, earliest first (the overdue ones come first)."""

    async def case_counts(self, today: str) -> list[tuple[str, int, int]]:
        """(site, open cases, open cases due before `today`) of every site with open cases."""


@runtime_checkable
class CaseLedgerStore(LedgerStore, CaseStore, Protocol):
    """The case service: the ledger and the derived case rows."""


# --- what the services that span two concerns ask for ------------------------------------------

@runtime_checkable
class ConsentStore(LedgerStore, ActivityStore, Protocol):
    """The consent service: the ledger, plus a subject's other rows for export and erasure."""


@runtime_checkable
class EmailConsentStore(LedgerStore, EmailStore, PeopleStore, Protocol):
    """E-mail consents are ledger events; their suppressions and signups are e-mail rows."""


@runtime_checkable
class PeopleConsentStore(LedgerStore, ActivityStore, PeopleStore, EmailStore, Protocol):
    """The people service: the ledger, links and answers, and e-mail suppressions."""


@runtime_checkable
class Storage(Lifecycle, LedgerStore, EmailStore, BeaconStore, ActivityStore, RollupStore,
              CheckpointStore, PeopleStore, CaseStore, Protocol):
    """One backend, every concern: what the assembly opens and hands to the services."""
