"""The dashboard rollup tables on PostgreSQL: the upserts the writers run inside their
transactions (what to add is decided in cmp/storage/rollups.py), and the dashboards' reads.

One batched upsert per table, rows in key order, so concurrent writers lock the same rollup
rows in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from cmp.ledger import StoredEvent
from cmp.storage.postgres.connection import PostgresConnection
from cmp.storage.rollups import consent_changes, engagement_changes

CONSENT_UPSERT = (
    "INSERT INTO dash_consent_daily AS t (site, day, regime, language, action, events) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site, day, regime, language, action) "
    "DO UPDATE SET events = t.events + EXCLUDED.events")
PURPOSE_UPSERT = (
    "INSERT INTO dash_purpose_daily AS t (site, day, regime, language, purpose, granted) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site, day, regime, language, purpose) "
    "DO UPDATE SET granted = t.granted + EXCLUDED.granted")
EMAIL_UPSERT = (
    "INSERT INTO dash_email_daily AS t (site, campaign, day, kind, class, machine, events) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (site, campaign, day, kind, class, machine) "
    "DO UPDATE SET events = t.events + EXCLUDED.events")


async def apply_consent(conn: asyncpg.Connection, stored: Iterable[StoredEvent]) -> None:
    """Add a batch of ledger events to the rollups (inside the writer's transaction). Each
    site's rollup rows are only written by the batch holding that site's chain_heads lock, so
    these upserts never wait on a peer."""
    decisions, granted = consent_changes(stored)
    if decisions:
        await conn.executemany(CONSENT_UPSERT, decisions)
    if granted:
        await conn.executemany(PURPOSE_UPSERT, granted)


async def apply_engagement(conn: asyncpg.Connection, rows: Iterable[tuple[object, ...]],
                           moved: Iterable[tuple[str, str, str, str]]) -> None:
    """Count inserted engagement rows and the clicks a scanner burst reclassified (`moved`:
    site, campaign, day, old class per row, as the reclassifying UPDATE returned them)."""
    changes = engagement_changes(rows, moved)
    if changes:
        await conn.executemany(EMAIL_UPSERT, changes)


class PostgresRollups(PostgresConnection):
    async def dash_consent_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        rows = await self.pool.fetch(
            "SELECT day, regime, language, action, events FROM dash_consent_daily "
            "WHERE site = $1 AND day >= $2 ORDER BY day, regime, language, action",
            site, since_day)
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    async def dash_purpose_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        rows = await self.pool.fetch(
            "SELECT day, regime, language, purpose, granted FROM dash_purpose_daily "
            "WHERE site = $1 AND day >= $2 ORDER BY day, regime, language, purpose",
            site, since_day)
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    async def dash_email_daily(self, site: str, campaign: str | None = None
                               ) -> list[tuple[str, str, str, str, bool, int]]:
        rows = await self.pool.fetch(
            "SELECT campaign, day, kind, class, machine, events FROM dash_email_daily "
            "WHERE site = $1 AND ($2::text IS NULL OR campaign = $2) "
            "ORDER BY campaign, day, kind, class, machine", site, campaign)
        return [(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5])) for r in rows]
