"""People on PostgreSQL (as cmp/storage/sqlite/people.py): links and contact answers kept by
the ledger writer's transaction, which holds the site's chain-head lock, so two batches never
race on one site's rows."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg

from cmp.contacts import contact_changes, item_people_changes, link_changes
from cmp.grants import Permission, supersedes
from cmp.ledger import StoredEvent
from cmp.storage.base import StorageError
from cmp.storage.postgres.connection import PostgresConnection
from cmp.storage.records import ContactRow, LinkRow, RecipientCount

_GET = ("SELECT allowed, at, event_id, seq FROM contact_state "
        "WHERE site = $1 AND subject = $2 AND channel = $3 AND scope = $4")
_PUT = ("INSERT INTO contact_state (site, subject, channel, scope, allowed, at, event_id, seq) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (site, subject, channel, scope) DO UPDATE "
        "SET allowed = excluded.allowed, at = excluded.at, event_id = excluded.event_id, "
        "seq = excluded.seq")
_COLS = "subject, channel, scope, allowed, at, event_id, seq"
# Per (item, recipient): people whose standing answer is an agreement given in the year,
# and the latest such row (its event names the recipient as shown).
_RECIPIENTS = (
    "SELECT channel, scope, n, subject, event_id FROM ("
    " SELECT channel, scope, subject, event_id,"
    " COUNT(*) OVER (PARTITION BY channel, scope) AS n,"
    " ROW_NUMBER() OVER (PARTITION BY channel, scope ORDER BY seq DESC) AS rk"
    " FROM contact_state WHERE site = $1 AND channel LIKE 'separate:%' AND allowed"
    " AND at >= $2 AND at < $3) a WHERE rk = 1 ORDER BY n DESC, channel, scope LIMIT $4")


async def apply_people(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    links = link_changes(events)
    if links:
        await conn.executemany(
            "INSERT INTO person_links (site, identifier, person, kind, linked_at, seq) "
            "VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (site, identifier) DO UPDATE SET "
            "person = excluded.person, kind = excluded.kind, linked_at = excluded.linked_at, "
            "seq = excluded.seq",
            [(x.site, x.identifier, x.person, x.kind, x.linked_at, x.seq) for x in links])
    agreed = item_people_changes(events)
    if agreed:
        await conn.executemany("INSERT INTO dash_item_people (site, item, year, person) "
                               "VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING", agreed)
    for c in contact_changes(events):
        row = await conn.fetchrow(_GET, c.site, c.subject, c.channel, c.scope)
        old = Permission(bool(row[0]), row[1], row[2], int(row[3])) if row else None
        if supersedes(c.permission, old):
            p = c.permission
            await conn.execute(_PUT, c.site, c.subject, c.channel, c.scope, p.allowed, p.at,
                               p.event_id, p.seq)


def _row(r: Any) -> ContactRow:
    return ContactRow(r[0], r[1], r[2], Permission(bool(r[3]), r[4], r[5], int(r[6])))


class PostgresPeople(PostgresConnection):
    async def person_links(self, site: str, person: str) -> list[LinkRow]:
        rows = await self.pool.fetch(
            "SELECT identifier, kind, linked_at, seq FROM person_links "
            "WHERE site = $1 AND person = $2 ORDER BY seq, identifier", site, person)
        return [LinkRow(r[0], r[1], r[2], int(r[3])) for r in rows]

    async def person_of(self, site: str, identifier: str) -> str | None:
        v = await self.pool.fetchval(
            "SELECT person FROM person_links WHERE site = $1 AND identifier = $2",
            site, identifier)
        return str(v) if v is not None else None

    async def closed_accounts(self, site: str) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(
            "SELECT subject, payload::jsonb ->> 'at' FROM consent_events "
            "WHERE site = $1 AND kind = 'lifecycle' AND subject IS NOT NULL "
            "AND payload::jsonb ->> 'lifecycle' = 'account_closed' ORDER BY seq", site)
        return [(str(r[0]), str(r[1])) for r in rows]

    async def contact_rows(self, site: str, subjects: list[str]) -> list[ContactRow]:
        rows = await self.pool.fetch(
            f"SELECT {_COLS} FROM contact_state WHERE site = $1 AND subject = ANY($2::text[]) "
            "ORDER BY channel, scope, subject", site, list(subjects))
        return [_row(r) for r in rows]

    async def item_people(self, site: str, year: int) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT item, COUNT(*) FROM dash_item_people WHERE site = $1 AND year = $2 "
            "GROUP BY item", site, year)
        return {str(r[0]): int(r[1]) for r in rows}

    async def recipient_people(self, site: str, year: int, limit: int
                               ) -> list[RecipientCount]:
        rows = await self.pool.fetch(_RECIPIENTS, site, f"{year:04d}", f"{year + 1:04d}",
                                     limit)
        return [RecipientCount(str(r[0]).removeprefix("separate:"), str(r[1]), int(r[2]),
                               str(r[3]), str(r[4])) for r in rows]

    async def contact_lookup(self, site: str, identifier: str, channel: str
                             ) -> tuple[str | None, list[ContactRow], bool]:
        # One round trip: the identifier's person, and every answer of either on the channel;
        # `known` also counts answers of the identifier on other channels. Two equality
        # lookups, not `subject = $2 OR subject = person`: without statistics (a table just
        # filled by an import, before autovacuum analyses it) the planner met the OR by
        # scanning every answer of the site's channel, 10,000 rows for 10,000 people.
        try:
            rows = await self.pool.fetch(
                "WITH p AS (SELECT person FROM person_links WHERE site = $1 AND identifier = $2) "
                f"SELECT (SELECT person FROM p), {_COLS}, "
                "EXISTS (SELECT 1 FROM contact_state WHERE site = $1 AND subject = $2) "
                "FROM (SELECT 1) one LEFT JOIN ("
                f"SELECT {_COLS} FROM contact_state WHERE site = $1 AND subject = $2 "
                "AND channel = $3 UNION ALL "
                f"SELECT {_COLS} FROM contact_state WHERE site = $1 "
                "AND subject = (SELECT person FROM p) AND channel = $3) c ON true",
                site, identifier, channel)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"read failed: {exc}") from exc
        person = rows[0][0] if rows else None
        found = [ContactRow(r[1], r[2], r[3], Permission(bool(r[4]), r[5], r[6], int(r[7])))
                 for r in rows if r[1] is not None]
        known = person is not None or bool(found) or bool(rows and rows[0][8])
        return person, found, known

    async def people_forget(self, site: str, person: str, keep: list[ContactRow]) -> int:
        async def fn(conn: asyncpg.Connection) -> int:
            idents = [r[0] for r in await conn.fetch(
                "SELECT identifier FROM person_links WHERE site = $1 AND person = $2",
                site, person)]
            subjects = [person, *idents]
            n = int((await conn.execute(
                "DELETE FROM contact_state WHERE site = $1 AND subject = ANY($2::text[])",
                site, subjects)).split()[-1])
            n += int((await conn.execute(
                "DELETE FROM person_links WHERE site = $1 AND person = $2",
                site, person)).split()[-1])
            await conn.execute("UPDATE dash_item_people SET person = $3 WHERE site = $1 AND "
                               "person = $2", site, person, "x_" + secrets.token_hex(16))
            if keep:
                await conn.executemany(_PUT, [
                    (site, k.subject, k.channel, k.scope, k.permission.allowed, k.permission.at,
                     k.permission.event_id, k.permission.seq) for k in keep])
            return n
        return await self._in_txn(fn)
