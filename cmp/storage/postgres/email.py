"""E-mail engagement, suppressions and signups on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from cmp.config import canonical_json
from cmp.storage.postgres.connection import PostgresConnection
from cmp.storage.postgres.rollups import apply_engagement
from cmp.storage.records import EmailSignup, Engagement, plan_engagement
from cmp.storage.writer import LazyWriter

ENGAGEMENT_FIELDS = ["site", "campaign", "message", "recipient", "list", "kind", "link", "class",
                     "machine", "reason", "ts", "ts_ms"]
# A scanner burst: reclassify the message's human clicks since a time and return, per row
# changed, what its rollup key was (the old class comes from the pre-update row in `o`). Rows
# another transaction reclassified first fail the `e.machine = 0` recheck and are not returned,
# so counts move exactly once per row.
RECLASSIFY = (
    "UPDATE email_engagement AS e SET class = 'scanner', machine = 1, "
    "reason = COALESCE(e.reason, $1) "
    "FROM (SELECT id, class FROM email_engagement WHERE site = $2 AND message = $3 "
    "AND kind = 'click' AND ts_ms >= $4 AND machine = 0) AS o "
    "WHERE e.id = o.id AND e.machine = 0 "
    "RETURNING e.site, e.campaign, substr(e.ts, 1, 10), o.class")


async def write_engagement(conn: asyncpg.Connection, items: list[Engagement]) -> list[bool]:
    """Suppression check and inserts in one transaction. Recipients with a suppression to check
    or to write are locked first (transaction advisory locks, in one order), so an unsubscribe
    committed by another worker is either seen here or waits for this batch: nothing is stored
    for a recipient suppressed before this commit."""
    keys = sorted({f"{e.site}\x1f{e.recipient}" for e in items if e.blocked_by or e.suppress})
    blocked: dict[tuple[str, str], set[str]] = {}
    if keys:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 7)) "
            "FROM (SELECT unnest($1::text[]) AS k ORDER BY 1) AS ks", keys)
        sites, rcpts = zip(*(k.split("\x1f", 1) for k in keys), strict=True)
        for site, rcpt, scope in await conn.fetch(
                "SELECT s.site, s.recipient, s.scope FROM email_suppressions s "
                "JOIN unnest($1::text[], $2::text[]) AS u(site, recipient) "
                "ON s.site = u.site AND s.recipient = u.recipient", list(sites), list(rcpts)):
            blocked.setdefault((site, rcpt), set()).add(scope)
    plan = plan_engagement(items, blocked)
    if plan.rows:
        await conn.copy_records_to_table("email_engagement", columns=ENGAGEMENT_FIELDS,
                                         records=plan.rows)
    if plan.suppress:
        await conn.executemany(
            "INSERT INTO email_suppressions (site, recipient, scope, reason, ts) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", plan.suppress)
    moved: list[tuple[str, str, str, str]] = []  # (site, campaign, day, old class) per row
    for params in plan.reclassify:  # in order, as SQLite's executemany: the first reason wins
        moved += [(r[0], r[1], r[2], r[3]) for r in await conn.fetch(RECLASSIFY, *params)]
    # Dashboard counts commit with the rows, including the clicks just reclassified.
    await apply_engagement(conn, plan.rows, moved)
    return plan.accepted


class PostgresEmail(PostgresConnection):
    _engagement: LazyWriter[Engagement, bool]  # built by the storage

    async def append_engagement(self, item: Engagement) -> bool:
        return await self._engagement.submit(item)

    async def close_engagement(self) -> None:
        await self._engagement.close()

    async def _write_engagement(self, items: list[Engagement]) -> list[bool]:
        return await self._in_txn(lambda conn: write_engagement(conn, items))

    async def email_suppressions(self, site: str, recipient: str) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT scope FROM email_suppressions WHERE site = $1 AND recipient = $2",
            site, recipient)
        return {r[0] for r in rows}

    async def email_unsuppress(self, site: str, recipient: str, scopes: list[str]) -> int:
        if not scopes:
            return 0
        return await self._update(
            "DELETE FROM email_suppressions WHERE site = $1 AND recipient = $2 "
            "AND scope = ANY($3::text[])", site, recipient, scopes)

    async def email_signup_create(self, signup_id: str, site: str, recipient: str,
                                  request: dict[str, Any], created: str) -> None:
        await self._update(
            "INSERT INTO email_signups (id, site, recipient, request, created) "
            "VALUES ($1, $2, $3, $4, $5)",
            signup_id, site, recipient, canonical_json(request).decode(), created)

    async def email_signup(self, signup_id: str) -> EmailSignup | None:
        row = await self.pool.fetchrow(
            "SELECT id, site, recipient, request, created, confirmed FROM email_signups "
            "WHERE id = $1", signup_id)
        if row is None:
            return None
        return EmailSignup(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    async def email_signup_confirm(self, signup_id: str, ts: str) -> bool:
        return await self._update(
            "UPDATE email_signups SET confirmed = $1 WHERE id = $2 AND confirmed IS NULL",
            ts, signup_id) > 0

    async def email_counts(self, site: str, campaign: str) -> list[tuple[str, str, bool, int]]:
        rows = await self.pool.fetch(
            "SELECT kind, class, machine, COUNT(*) FROM email_engagement "
            "WHERE site = $1 AND campaign = $2 GROUP BY kind, class, machine ORDER BY 1, 2",
            site, campaign)
        return [(r[0], r[1], bool(r[2]), int(r[3])) for r in rows]
