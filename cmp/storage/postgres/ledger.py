"""The consent ledger on PostgreSQL.

Each batch is one transaction that first makes sure every site it touches has a `chain_heads`
row (ON CONFLICT DO NOTHING), then locks those rows in site order (`FOR UPDATE`) and continues
each chain from the head it read: writers serialise per site, so a chain never forks or skips
a seq, and two writers on different sites do not wait for each other. Rows go in with COPY
(one round trip per batch).

Payloads are stored as the exact canonical JSON text the hash was computed over (text columns,
not jsonb, which would rewrite it), so verification reads back the hashed bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg

from cmp.config import canonical_json
from cmp.ledger import EVENT_COLUMNS, GENESIS, NewEvent, Notice, StoredEvent, chain, row_to_event
from cmp.storage.postgres.cases import apply_cases
from cmp.storage.postgres.connection import PostgresConnection
from cmp.storage.postgres.people import apply_people
from cmp.storage.postgres.rollups import apply_consent
from cmp.storage.writer import GroupCommitWriter

EVENT_FIELDS = [c.strip() for c in EVENT_COLUMNS.split(",")]


async def write_events(conn: asyncpg.Connection, events: list[NewEvent]) -> list[StoredEvent]:
    """One group-commit transaction: lock each site's head row, continue its chain, COPY rows."""
    sites = sorted({e.site for e in events})
    # A site's first event: create its head so there is a row to lock. Concurrent creators
    # wait on the primary key, then do nothing; both go on to lock the same row below.
    await conn.execute(
        "INSERT INTO chain_heads (site, seq, hash) SELECT s, 0, $2 FROM unnest($1::text[]) AS s "
        "ORDER BY s ON CONFLICT (site) DO NOTHING", sites, GENESIS)
    rows = await conn.fetch(
        "SELECT site, seq, hash FROM chain_heads WHERE site = ANY($1::text[]) "
        "ORDER BY site FOR UPDATE", sites)
    heads = {r[0]: (int(r[1]), r[2]) for r in rows}
    stored = chain(events, heads)
    await conn.copy_records_to_table(
        "consent_events", columns=EVENT_FIELDS,
        records=[(s.site, s.seq, s.event_id, s.subject, s.kind, s.ts,
                  (s.payload_json or canonical_json(s.payload)).decode(),
                  (s.personal_json or canonical_json(s.personal)).decode()
                  if s.personal is not None else None,
                  s.personal_digest, s.prev_hash, s.hash) for s in stored])
    await conn.execute(
        "UPDATE chain_heads h SET seq = u.seq, hash = u.hash "
        "FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(site, seq, hash) "
        "WHERE h.site = u.site",
        list(heads), [v[0] for v in heads.values()], [v[1] for v in heads.values()])
    notices = {e.notice.hash: (e.notice, e.ts) for e in events if e.notice is not None}
    if notices:
        await conn.executemany(
            "INSERT INTO notices (hash, site, revision, language, texts, first_ts) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
            [(n.hash, n.site, n.revision, n.language, canonical_json(n.texts).decode(), ts)
             for n, ts in notices.values()])
    await apply_consent(conn, stored)  # dashboard counts commit with the events
    await apply_people(conn, stored)  # so do links and contact answers (may-contact reads them)
    await apply_cases(conn, stored)  # and request cases' latest states
    return stored


class PostgresLedger(PostgresConnection):
    writer: GroupCommitWriter[NewEvent, StoredEvent]  # started by open(), built by the storage

    async def append(self, event: NewEvent) -> StoredEvent:
        return await self.writer.submit(event)

    async def _write_batch(self, events: list[NewEvent]) -> list[StoredEvent]:
        return await self._in_txn(lambda conn: write_events(conn, events))

    async def iter_chain(self, site: str) -> AsyncIterator[StoredEvent]:
        last = 0
        while True:
            rows = await self.pool.fetch(
                f"SELECT {EVENT_COLUMNS} FROM consent_events WHERE site = $1 AND seq > $2 "
                "ORDER BY seq LIMIT 5000", site, last)
            if not rows:
                return
            for row in rows:
                yield row_to_event(tuple(row))
            last = int(rows[-1]["seq"])

    async def chain_head(self, site: str) -> tuple[int, str] | None:
        row = await self.pool.fetchrow(
            "SELECT seq, hash FROM chain_heads WHERE site = $1 AND seq > 0", site)
        return (int(row[0]), row[1]) if row else None

    async def sites(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT site FROM chain_heads WHERE seq > 0 UNION "
            "SELECT DISTINCT site FROM consent_events ORDER BY 1")
        return [r[0] for r in rows]

    async def events_for_subject(self, site: str, subject: str) -> list[StoredEvent]:
        rows = await self.pool.fetch(
            f"SELECT {EVENT_COLUMNS} FROM consent_events WHERE site = $1 AND subject = $2 "
            "ORDER BY seq", site, subject)
        return [row_to_event(tuple(r)) for r in rows]

    async def notice(self, texts_hash: str) -> Notice | None:
        row = await self.pool.fetchrow(
            "SELECT hash, site, revision, language, texts FROM notices WHERE hash = $1", texts_hash)
        if row is None:
            return None
        return Notice(row[0], row[1], row[2], row[3], json.loads(row[4]))

    async def erase_subject(self, site: str, subject: str, seqs: list[int]) -> int:
        return await self._update(
            "UPDATE consent_events SET subject = NULL, personal = NULL "
            "WHERE site = $1 AND subject = $2 AND seq = ANY($3::bigint[])", site, subject, seqs)

    async def subjects_expiring(self, site: str, now: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (subject) subject, kind, payload::jsonb ->> 'expires_at' AS exp "
            "FROM consent_events WHERE site = $1 AND subject IS NOT NULL "
            "ORDER BY subject, seq DESC", site)
        return [r["subject"] for r in rows
                if r["kind"] in ("grant", "update") and r["exp"] is not None and r["exp"] < now]

    async def identified_before(self, site: str, before: str) -> int:
        n = await self.pool.fetchval(
            "SELECT COUNT(*) FROM consent_events WHERE site = $1 AND ts < $2 "
            "AND personal IS NOT NULL", site, before)
        return int(n or 0)

    async def delete_before(self, site: str, before: str, below_seq: int) -> int:
        return await self._update(
            "UPDATE consent_events SET subject = NULL, personal = NULL "
            "WHERE site = $1 AND ts < $2 AND seq < $3 AND personal IS NOT NULL",
            site, before, below_seq)

    async def count_events(self, site: str | None = None) -> int:
        return await self._count("consent_events", site)
