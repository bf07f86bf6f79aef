"""PostgreSQL storage through asyncpg: a connection pool, group commit, the same interface.

Many workers on many hosts write one database. Each consent batch is one transaction that
first makes sure every site it touches has a `chain_heads` row (ON CONFLICT DO NOTHING), then
locks those rows in site order (`FOR UPDATE`) and continues each chain from the head it read:
writers serialise per site, so a chain never forks or skips a seq, and two writers on
different sites do not wait for each other. Rows go in with COPY (one round trip per batch).

Payloads are stored as the exact canonical JSON text the hash was computed over (text columns,
not jsonb, which would rewrite it), so verification reads back the hashed bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from cmp.config import canonical_json
from cmp.ledger import EVENT_COLUMNS, GENESIS, NewEvent, Notice, StoredEvent, chain, row_to_event
from cmp.storage.base import BeaconRow, EmailSignup, Engagement, StorageError, plan_engagement
from cmp.storage.sqlite import migrations
from cmp.storage.writer import GroupCommitWriter, LazyWriter
from dashboards import rollups

T = TypeVar("T")

# Any 64-bit constant: the advisory lock every process takes while it migrates.
MIGRATION_LOCK = 0x636F6E73656E7472  # "consentr"
EVENT_FIELDS = [c.strip() for c in EVENT_COLUMNS.split(",")]
ENGAGEMENT_FIELDS = ["site", "campaign", "message", "recipient", "list", "kind", "link", "class",
                     "machine", "reason", "ts", "ts_ms"]
BEACON_FIELDS = ["site", "name", "url", "referrer", "props", "subject", "ua_class", "ts", "ts_ms"]
# Dashboard rollups (dashboards/rollups.py does the counting): one batched upsert per table,
# rows in key order so concurrent writers lock the same rollup rows in the same order.
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
# Lock conflicts between writers on several hosts that a retry resolves.
RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError,
             asyncpg.exceptions.SerializationError)


def _rowcount(status: str) -> int:
    """Rows changed from a command tag such as 'UPDATE 3' or 'INSERT 0 1'."""
    try:
        return int(status.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return 0


class PostgresStorage:
    def __init__(self, url: str, *, batch_max: int = 500, min_pool: int = 2, max_pool: int = 10,
                 statement_cache_size: int = 100):
        self.url = url
        self.statement_cache_size = statement_cache_size
        self.min_pool, self.max_pool = min(min_pool, max_pool), max_pool
        self._pool: asyncpg.Pool | None = None
        self.writer: GroupCommitWriter[NewEvent, StoredEvent] = GroupCommitWriter(
            self._write_batch, max_batch=batch_max)
        self._engagement: LazyWriter[Engagement, bool] = LazyWriter(
            self._write_engagement, max_batch=batch_max)
        self._beacon: LazyWriter[BeaconRow, None] = LazyWriter(self._write_beacon,
                                                                max_batch=batch_max)

    # --- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self.min_pool, max_size=self.max_pool,
                # A pooler in transaction mode (pgbouncer) hands each transaction any server
                # connection, where a cached prepared statement may not exist: 0 turns the
                # cache off (asyncpg then only uses unnamed statements).
                statement_cache_size=self.statement_cache_size,
                server_settings={"application_name": "consentry"})
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            await self._migrate()
        except BaseException:
            await self._pool.close()
            self._pool = None
            raise
        self.writer.start()

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # Several workers start at once: one migrates, the others wait here and then
            # find every version applied.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT, applied TIMESTAMPTZ NOT NULL DEFAULT now())")
            done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for num, name, sql in migrations("postgresql"):
                if num in done:
                    continue
                await conn.execute(sql)  # simple query protocol: a whole file at once
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                   num, name)

    async def close(self) -> None:
        await self.close_engagement()
        await self.close_beacon()
        await self.writer.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("storage is not open")
        return self._pool

    async def _in_txn(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `fn(conn)` in one transaction; retry a deadlock, map driver errors."""
        for attempt in range(5):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await fn(conn)
            except RETRYABLE:
                if attempt == 4:
                    raise StorageError("write failed: lock conflict persisted") from None
                await asyncio.sleep(0.01 * (attempt + 1))
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise StorageError(f"write failed: {exc}") from exc
        raise AssertionError("unreachable")

    # --- the consent ledger -----------------------------------------------------------------

    async def append(self, event: NewEvent) -> StoredEvent:
        return await self.writer.submit(event)

    async def _write_batch(self, events: list[NewEvent]) -> list[StoredEvent]:
        return await self._in_txn(lambda conn: _write_events(conn, events))

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

    async def _update(self, sql: str, *args: Any) -> int:
        try:
            return _rowcount(await self.pool.execute(sql, *args))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"write failed: {exc}") from exc

    async def erase_subject(self, site: str, subject: str) -> int:
        return await self._update(
            "UPDATE consent_events SET subject = NULL, personal = NULL "
            "WHERE site = $1 AND subject = $2", site, subject)

    async def subjects_expiring(self, site: str, now: str) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (subject) subject, kind, payload::jsonb ->> 'expires_at' AS exp "
            "FROM consent_events WHERE site = $1 AND subject IS NOT NULL "
            "ORDER BY subject, seq DESC", site)
        return [r["subject"] for r in rows
                if r["kind"] in ("grant", "update") and r["exp"] is not None and r["exp"] < now]

    async def delete_before(self, site: str, before: str) -> int:
        return await self._update(
            "UPDATE consent_events SET subject = NULL, personal = NULL "
            "WHERE site = $1 AND ts < $2 AND personal IS NOT NULL", site, before)

    async def ping(self) -> None:
        try:
            await self.pool.fetchval("SELECT 1", timeout=5)
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"database not answering: {exc}") from exc

    async def count_events(self, site: str | None = None) -> int:
        return await self._count("consent_events", site)

    async def _count(self, table: str, site: str | None) -> int:
        """Rows of `table` (a name of ours, never input), of one site or all."""
        if site is None:
            return int(await self.pool.fetchval(f"SELECT COUNT(*) FROM {table}"))
        return int(await self.pool.fetchval(
            f"SELECT COUNT(*) FROM {table} WHERE site = $1", site))

    # --- e-mail engagement (pixel/) ---------------------------------------------------------

    async def append_engagement(self, item: Engagement) -> bool:
        return await self._engagement.submit(item)

    async def close_engagement(self) -> None:
        await self._engagement.close()

    async def _write_engagement(self, items: list[Engagement]) -> list[bool]:
        return await self._in_txn(lambda conn: _write_engagement(conn, items))

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

    async def email_erase_recipient(self, site: str, recipient: str) -> int:
        n = await self._update(
            "UPDATE email_engagement SET recipient = NULL WHERE site = $1 AND recipient = $2",
            site, recipient)
        return n + await self._update(
            "DELETE FROM email_signups WHERE site = $1 AND recipient = $2", site, recipient)

    # --- web beacon (pixel/beacon.py) -------------------------------------------------------

    async def append_beacon(self, row: BeaconRow) -> None:
        await self._beacon.submit(row)

    async def close_beacon(self) -> None:
        await self._beacon.close()

    async def _write_beacon(self, rows: list[BeaconRow]) -> list[None]:
        async def txn(conn: asyncpg.Connection) -> None:
            await conn.copy_records_to_table(
                "beacon_events", columns=BEACON_FIELDS,
                records=[(r.site, r.name, r.url, r.referrer, r.props, r.subject, r.ua_class,
                          r.ts, r.ts_ms) for r in rows])

        await self._in_txn(txn)
        return [None] * len(rows)

    async def count_beacon(self, site: str | None = None) -> int:
        return await self._count("beacon_events", site)

    async def beacon_erase_subject(self, site: str, subject: str) -> int:
        return await self._update(
            "UPDATE beacon_events SET subject = NULL WHERE site = $1 AND subject = $2",
            site, subject)

    # --- data-subject requests and retention over the activity tables -----------------------

    async def activity_for_subject(self, site: str, subject: str) -> dict[str, list[dict[str, Any]]]:
        """Beacon events of a consent id and e-mail engagement of a recipient id (export)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for key, sql in (
            ("beacon_events", "SELECT name, url, referrer, props, ua_class, ts FROM beacon_events "
                              "WHERE site = $1 AND subject = $2 ORDER BY id"),
            ("email_engagement", "SELECT campaign, message, list, kind, link, class, machine, "
                                 "reason, ts FROM email_engagement "
                                 "WHERE site = $1 AND recipient = $2 ORDER BY id"),
        ):
            out[key] = [dict(r) for r in await self.pool.fetch(sql, site, subject)]
        return out

    async def delete_activity_before(self, site: str, before_ms: int) -> int:
        """Retention: delete beacon events and e-mail engagement older than `before_ms`."""
        n = await self._update("DELETE FROM beacon_events WHERE site = $1 AND ts_ms < $2",
                               site, before_ms)
        return n + await self._update(
            "DELETE FROM email_engagement WHERE site = $1 AND ts_ms < $2", site, before_ms)

    # --- dashboard rollups (dashboards/rollups.py) ------------------------------------------
    # Read-only: the writers keep these tables in their own transactions.

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


async def _write_events(conn: asyncpg.Connection, events: list[NewEvent]) -> list[StoredEvent]:
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
    # Dashboard counts commit with the events. Each site's rollup rows are only written by
    # the batch holding that site's chain_heads lock, so these upserts never wait on a peer.
    decisions, granted = rollups.consent_changes(stored)
    if decisions:
        await conn.executemany(CONSENT_UPSERT, sorted(decisions))
    if granted:
        await conn.executemany(PURPOSE_UPSERT, sorted(granted))
    return stored


async def _write_engagement(conn: asyncpg.Connection, items: list[Engagement]) -> list[bool]:
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
    out, rows, suppress, reclassify = plan.accepted, plan.rows, plan.suppress, plan.reclassify
    if rows:
        await conn.copy_records_to_table("email_engagement", columns=ENGAGEMENT_FIELDS,
                                         records=rows)
    if suppress:
        await conn.executemany(
            "INSERT INTO email_suppressions (site, recipient, scope, reason, ts) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", suppress)
    moved: list[tuple[str, str, str, str]] = []  # (site, campaign, day, old class) per row
    for params in reclassify:  # in order, as SQLite's executemany: the first reason wins
        moved += [(r[0], r[1], r[2], r[3]) for r in await conn.fetch(RECLASSIFY, *params)]
    # Dashboard counts commit with the rows, including the clicks just reclassified.
    changes = rollups.engagement_changes(rows, moved)
    if changes:
        await conn.executemany(EMAIL_UPSERT, sorted(changes))
    return out
