"""The storage interface the domain code talks to; SQLite and PostgreSQL implement it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

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

    async def ping(self) -> None:
        """A trivial query: raises if the database does not answer."""
