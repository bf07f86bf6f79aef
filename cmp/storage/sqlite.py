"""SQLite storage through aiosqlite: WAL, one writer connection with group commit, one reader.

Each batch runs in `BEGIN IMMEDIATE`, reads each site's chain head inside the transaction and
writes the head back, so even several processes on one file (`serve --workers N`) extend the
chain one after another without forks or gaps.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from cmp.config import canonical_json
from cmp.ledger import EVENT_COLUMNS, NewEvent, Notice, StoredEvent, chain, row_to_event
from cmp.storage.base import (
    BeaconRow,
    EmailSignup,
    Engagement,
    Storage,
    StorageError,
    plan_engagement,
)
from cmp.storage.writer import GroupCommitWriter, LazyWriter
from dashboards import rollups

T = TypeVar("T")


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """Numbered migrations shipped in cmp/storage/migrations/<dialect>/NNNN_name.sql."""
    folder = resources.files("cmp.storage") / "migrations" / dialect
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            num = int(entry.name.split("_", 1)[0])
            out.append((num, entry.name, entry.read_text("utf-8")))
    return sorted(out)


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file (semicolons inside comments are fine)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()):
        out.append(buf.strip())
    return out


def _write_events(db: sqlite3.Connection, events: list[NewEvent]) -> list[StoredEvent]:
    """One group-commit transaction: continue each site's chain from its stored head."""
    db.execute("BEGIN IMMEDIATE")
    try:
        heads: dict[str, tuple[int, str]] = {}
        for site in {e.site for e in events}:
            row = db.execute("SELECT seq, hash FROM chain_heads WHERE site = ?", (site,)).fetchone()
            if row is not None:
                heads[site] = (row[0], row[1])
        stored = chain(events, heads)
        db.executemany(
            f"INSERT INTO consent_events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(s.site, s.seq, s.event_id, s.subject, s.kind, s.ts,
              (s.payload_json or canonical_json(s.payload)).decode(),
              (s.personal_json or canonical_json(s.personal)).decode()
              if s.personal is not None else None,
              s.personal_digest, s.prev_hash, s.hash) for s in stored])
        db.executemany(
            "INSERT INTO chain_heads (site, seq, hash) VALUES (?, ?, ?) "
            "ON CONFLICT(site) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            [(site, seq, h) for site, (seq, h) in heads.items()])
        notices = {e.notice.hash: (e.notice, e.ts) for e in events if e.notice is not None}
        if notices:
            db.executemany(
                "INSERT OR IGNORE INTO notices (hash, site, revision, language, texts, first_ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(n.hash, n.site, n.revision, n.language, canonical_json(n.texts).decode(), ts)
                 for n, ts in notices.values()])
        rollups.apply_consent(db, stored)  # dashboard counts commit with the events
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return stored


class SQLiteStorage:
    def __init__(self, path: str | Path, *, synchronous: str = "FULL", batch_max: int = 500):
        self.path = str(path)
        self.synchronous = synchronous
        self._w: aiosqlite.Connection | None = None
        self._r: aiosqlite.Connection | None = None
        self._db: sqlite3.Connection | None = None  # stdlib write connection (group commit)
        self._lock = asyncio.Lock()  # one transaction at a time on the writer connection
        self.writer: GroupCommitWriter[NewEvent, StoredEvent] = GroupCommitWriter(
            self._write_batch, max_batch=batch_max)
        # E-mail engagement and beacon rows: group-commit writers of their own on the same
        # write connection and lock, so a 2xx from the pixel or beacon means the row is on disk.
        self._engagement: LazyWriter[Engagement, bool] = LazyWriter(
            self._write_engagement, max_batch=batch_max)
        self._beacon: LazyWriter[BeaconRow, None] = LazyWriter(self._write_beacon,
                                                                max_batch=batch_max)

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        await conn.execute("PRAGMA busy_timeout = 30000")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._w = await self._connect()
        try:
            await self._migrate(self._w)
            self._r = await self._connect()
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            for pragma in ("busy_timeout = 30000", "journal_mode = WAL",
                           f"synchronous = {self.synchronous}", "foreign_keys = ON"):
                self._db.execute(f"PRAGMA {pragma}")
        except BaseException:
            await self._w.close()  # aiosqlite's thread would keep the process alive
            self._w = None
            raise
        self.writer.start()

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied TEXT)")
            async with conn.execute("SELECT version FROM schema_migrations") as cur:
                done = {r[0] for r in await cur.fetchall()}
            for num, name, sql in migrations("sqlite"):
                if num in done:
                    continue
                for stmt in split_statements(sql):
                    await conn.execute(stmt)
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))", (num, name))
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        await self.close_engagement()  # as on PostgreSQL: waiting rows flush, writers stop
        await self.close_beacon()
        await self.writer.close()
        for conn in (self._w, self._r):
            if conn is not None:
                await conn.close()
        if self._db is not None:
            self._db.close()
        self._w = self._r = self._db = None

    @property
    def _wconn(self) -> aiosqlite.Connection:
        if self._w is None:
            raise StorageError("storage is not open")
        return self._w

    @property
    def _rconn(self) -> aiosqlite.Connection:
        if self._r is None:
            raise StorageError("storage is not open")
        return self._r

    async def append(self, event: NewEvent) -> StoredEvent:
        return await self.writer.submit(event)

    async def _in_write_txn(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(db)` on the event loop's thread with the stdlib write connection.

        Measured (PERF-NOTES, and again here): through aiosqlite a batch makes ~8 thread hops,
        and its thread re-acquires the GIL for every row stepped, each time waiting out a
        busy loop's switch interval: 1.6-2.6k consents/s. Run here, a 64-row batch blocks the
        loop ~2 ms including the fsync of synchronous=FULL. `_lock` keeps this and any
        aiosqlite write on `_w` from interleaving inside one process; other processes wait
        on SQLite's own lock (busy_timeout)."""
        if self._db is None:
            raise StorageError("storage is not open")
        async with self._lock:
            return fn(self._db)

    async def _write_batch(self, events: list[NewEvent]) -> list[StoredEvent]:
        try:
            return await self._in_write_txn(lambda db: _write_events(db, events))
        except sqlite3.Error as exc:
            raise StorageError(f"write failed: {exc}") from exc

    async def iter_chain(self, site: str) -> AsyncIterator[StoredEvent]:
        # Pages by seq so a chain of millions never sits in memory at once.
        last = 0
        while True:
            async with self._rconn.execute(
                f"SELECT {EVENT_COLUMNS} FROM consent_events WHERE site = ? AND seq > ? "
                "ORDER BY seq LIMIT 5000", (site, last)) as cur:
                rows = await cur.fetchall()
            if not rows:
                return
            for row in rows:
                ev = row_to_event(row)
                yield ev
            last = int(list(rows)[-1][1])

    async def chain_head(self, site: str) -> tuple[int, str] | None:
        async with self._rconn.execute("SELECT seq, hash FROM chain_heads WHERE site = ?",
                                       (site,)) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def sites(self) -> list[str]:
        async with self._rconn.execute(
                "SELECT site FROM chain_heads UNION SELECT DISTINCT site FROM consent_events "
                "ORDER BY 1") as cur:
            return [r[0] for r in await cur.fetchall()]

    async def events_for_subject(self, site: str, subject: str) -> list[StoredEvent]:
        async with self._rconn.execute(
            f"SELECT {EVENT_COLUMNS} FROM consent_events WHERE site = ? AND subject = ? ORDER BY seq",
            (site, subject)) as cur:
            return [row_to_event(r) for r in await cur.fetchall()]

    async def notice(self, texts_hash: str) -> Notice | None:
        async with self._rconn.execute(
                "SELECT hash, site, revision, language, texts FROM notices WHERE hash = ?",
                (texts_hash,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Notice(row[0], row[1], row[2], row[3], json.loads(row[4]))

    async def _update(self, sql: str, args: tuple[object, ...]) -> int:
        conn = self._wconn
        async with self._lock:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                cur = await conn.execute(sql, args)
                n = cur.rowcount
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return n

    async def erase_subject(self, site: str, subject: str) -> int:
        return await self._update(
            "UPDATE consent_events SET subject = NULL, personal = NULL WHERE site = ? AND subject = ?",
            (site, subject))

    async def subjects_expiring(self, site: str, now: str) -> list[str]:
        async with self._rconn.execute(
            "SELECT subject FROM consent_events e WHERE site = ? AND subject IS NOT NULL "
            "AND kind IN ('grant', 'update') AND json_extract(payload, '$.expires_at') < ? "
            "AND seq = (SELECT MAX(seq) FROM consent_events l "
            "           WHERE l.site = e.site AND l.subject = e.subject)",
            (site, now)) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def delete_before(self, site: str, before: str) -> int:
        return await self._update(
            "UPDATE consent_events SET subject = NULL, personal = NULL "
            "WHERE site = ? AND ts < ? AND personal IS NOT NULL", (site, before))

    async def ping(self) -> None:
        async with self._rconn.execute("SELECT 1") as cur:
            await cur.fetchone()

    async def count_events(self, site: str | None = None) -> int:
        return await self._count("consent_events", site)

    async def _count(self, table: str, site: str | None) -> int:
        """Rows of `table` (a name of ours, never input), of one site or all."""
        sql = f"SELECT COUNT(*) FROM {table}"
        args: tuple[str, ...] = ()
        if site is not None:
            sql, args = sql + " WHERE site = ?", (site,)
        async with self._rconn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # --- e-mail engagement (pixel/) --------------------------------------------------------
    # A second group-commit writer on the same connection and lock: engagement rows commit in
    # batches of their own, and a 2xx from the pixel means the row is on disk.

    async def append_engagement(self, item: Engagement) -> bool:
        return await self._engagement.submit(item)

    async def close_engagement(self) -> None:
        await self._engagement.close()

    async def _write_engagement(self, items: list[Engagement]) -> list[bool]:
        try:
            result: list[bool] = await self._in_write_txn(lambda db: self._engagement_txn(db, items))
        except sqlite3.Error as exc:
            raise StorageError(f"write failed: {exc}") from exc
        return result

    @staticmethod
    def _engagement_txn(db: sqlite3.Connection, items: list[Engagement]) -> list[bool]:
        """Suppression check and inserts in one transaction: nothing is stored for a recipient
        suppressed before this commit, whichever worker wrote the suppression."""
        db.execute("BEGIN IMMEDIATE")
        try:
            blocked: dict[tuple[str, str], set[str]] = {}
            by_site: dict[str, list[str]] = {}
            for site, rcpt in {(e.site, e.recipient) for e in items if e.blocked_by}:
                by_site.setdefault(site, []).append(rcpt)
            for site, rcpts in by_site.items():
                for i in range(0, len(rcpts), 500):
                    part = rcpts[i:i + 500]
                    for rcpt, scope in db.execute(
                            "SELECT recipient, scope FROM email_suppressions WHERE site = ? "
                            f"AND recipient IN ({','.join('?' * len(part))})", (site, *part)):
                        blocked.setdefault((site, rcpt), set()).add(scope)
            plan = plan_engagement(items, blocked)
            out, rows, suppress, reclassify = (plan.accepted, plan.rows, plan.suppress,
                                               plan.reclassify)
            if rows:
                db.executemany(
                    "INSERT INTO email_engagement (site, campaign, message, recipient, list, "
                    "kind, link, class, machine, reason, ts, ts_ms) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            rollups.apply_engagement(db, rows, reclassify)  # before the reclassifying UPDATE
            if suppress:
                db.executemany(
                    "INSERT OR IGNORE INTO email_suppressions (site, recipient, scope, reason, ts) "
                    "VALUES (?,?,?,?,?)", suppress)
            if reclassify:
                db.executemany(
                    "UPDATE email_engagement SET class = 'scanner', machine = 1, "
                    "reason = COALESCE(reason, ?) WHERE site = ? AND message = ? "
                    "AND kind = 'click' AND ts_ms >= ? AND machine = 0", reclassify)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return out

    async def email_suppressions(self, site: str, recipient: str) -> set[str]:
        async with self._rconn.execute(
                "SELECT scope FROM email_suppressions WHERE site = ? AND recipient = ?",
                (site, recipient)) as cur:
            return {r[0] for r in await cur.fetchall()}

    async def email_unsuppress(self, site: str, recipient: str, scopes: list[str]) -> int:
        if not scopes:
            return 0
        return await self._update(
            "DELETE FROM email_suppressions WHERE site = ? AND recipient = ? "
            f"AND scope IN ({','.join('?' * len(scopes))})", (site, recipient, *scopes))

    async def email_signup_create(self, signup_id: str, site: str, recipient: str,
                                  request: dict[str, Any], created: str) -> None:
        await self._update(
            "INSERT INTO email_signups (id, site, recipient, request, created) VALUES (?,?,?,?,?)",
            (signup_id, site, recipient, canonical_json(request).decode(), created))

    async def email_signup(self, signup_id: str) -> EmailSignup | None:
        async with self._rconn.execute(
                "SELECT id, site, recipient, request, created, confirmed FROM email_signups "
                "WHERE id = ?", (signup_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return EmailSignup(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    async def email_signup_confirm(self, signup_id: str, ts: str) -> bool:
        return await self._update(
            "UPDATE email_signups SET confirmed = ? WHERE id = ? AND confirmed IS NULL",
            (ts, signup_id)) > 0

    async def email_counts(self, site: str, campaign: str) -> list[tuple[str, str, bool, int]]:
        async with self._rconn.execute(
                "SELECT kind, class, machine, COUNT(*) FROM email_engagement "
                "WHERE site = ? AND campaign = ? GROUP BY kind, class, machine ORDER BY 1, 2",
                (site, campaign)) as cur:
            return [(r[0], r[1], bool(r[2]), int(r[3])) for r in await cur.fetchall()]

    async def email_erase_recipient(self, site: str, recipient: str) -> int:
        n = await self._update(
            "UPDATE email_engagement SET recipient = NULL WHERE site = ? AND recipient = ?",
            (site, recipient))
        return n + await self._update(
            "DELETE FROM email_signups WHERE site = ? AND recipient = ?", (site, recipient))

    # --- web beacon (pixel/beacon.py) ----------------------------------------------------------
    # A group-commit writer of its own on the same write connection and lock: a beacon answered
    # 2xx as logged is committed; batches form while the previous one commits.

    async def append_beacon(self, row: BeaconRow) -> None:
        await self._beacon.submit(row)

    async def close_beacon(self) -> None:
        await self._beacon.close()

    async def _write_beacon(self, rows: list[BeaconRow]) -> list[None]:
        try:
            await self._in_write_txn(lambda db: _write_beacon_rows(db, rows))
        except sqlite3.Error as exc:
            raise StorageError(f"write failed: {exc}") from exc
        return [None] * len(rows)

    async def count_beacon(self, site: str | None = None) -> int:
        return await self._count("beacon_events", site)

    async def beacon_erase_subject(self, site: str, subject: str) -> int:
        return await self._update(
            "UPDATE beacon_events SET subject = NULL WHERE site = ? AND subject = ?",
            (site, subject))

    # --- data-subject requests and retention over the activity tables -------------------------

    async def activity_for_subject(self, site: str, subject: str) -> dict[str, list[dict[str, Any]]]:
        """Beacon events of a consent id and e-mail engagement of a recipient id (export)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for key, sql in (
            ("beacon_events", "SELECT name, url, referrer, props, ua_class, ts FROM beacon_events "
                              "WHERE site = ? AND subject = ? ORDER BY id"),
            ("email_engagement", "SELECT campaign, message, list, kind, link, class, machine, reason, "
                                 "ts FROM email_engagement WHERE site = ? AND recipient = ? ORDER BY id"),
        ):
            async with self._rconn.execute(sql, (site, subject)) as cur:
                names = [d[0] for d in cur.description]
                out[key] = [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
        return out

    async def delete_activity_before(self, site: str, before_ms: int) -> int:
        """Retention: delete beacon events and e-mail engagement older than `before_ms`."""
        n = await self._update("DELETE FROM beacon_events WHERE site = ? AND ts_ms < ?",
                               (site, before_ms))
        return n + await self._update("DELETE FROM email_engagement WHERE site = ? AND ts_ms < ?",
                                      (site, before_ms))

    # --- dashboard rollups (dashboards/rollups.py) ------------------------------------------
    # Read-only: the writers keep these tables in their own transactions.

    async def dash_consent_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        async with self._rconn.execute(
                "SELECT day, regime, language, action, events FROM dash_consent_daily "
                "WHERE site = ? AND day >= ?", (site, since_day)) as cur:
            return [(r[0], r[1], r[2], r[3], int(r[4])) for r in await cur.fetchall()]

    async def dash_purpose_daily(self, site: str, since_day: str
                                 ) -> list[tuple[str, str, str, str, int]]:
        async with self._rconn.execute(
                "SELECT day, regime, language, purpose, granted FROM dash_purpose_daily "
                "WHERE site = ? AND day >= ?", (site, since_day)) as cur:
            return [(r[0], r[1], r[2], r[3], int(r[4])) for r in await cur.fetchall()]

    async def dash_email_daily(self, site: str, campaign: str | None = None
                               ) -> list[tuple[str, str, str, str, bool, int]]:
        sql = ("SELECT campaign, day, kind, class, machine, events FROM dash_email_daily "
               "WHERE site = ?")
        args: tuple[str, ...] = (site,)
        if campaign is not None:
            sql, args = sql + " AND campaign = ?", (site, campaign)
        async with self._rconn.execute(sql, args) as cur:
            return [(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5]))
                    for r in await cur.fetchall()]


def _write_beacon_rows(db: sqlite3.Connection, rows: list[BeaconRow]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT INTO beacon_events (site, name, url, referrer, props, subject, ua_class, ts, "
            "ts_ms) VALUES (?,?,?,?,?,?,?,?,?)",
            [(r.site, r.name, r.url, r.referrer, r.props, r.subject, r.ua_class, r.ts, r.ts_ms)
             for r in rows])
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def open_storage(url: str, *, synchronous: str = "FULL", batch_max: int = 500,
                 pg_pool_size: int = 10, pg_statement_cache_size: int = 100) -> Storage:
    """Storage for a `--database` URL: sqlite:///path or postgresql://user@host/db."""
    if url.startswith("sqlite:///"):
        return SQLiteStorage(url.removeprefix("sqlite:///"), synchronous=synchronous,
                             batch_max=batch_max)
    if url.startswith(("postgresql://", "postgres://")):
        from cmp.storage.postgres import PostgresStorage  # asyncpg only when asked for

        return PostgresStorage(url, batch_max=batch_max, max_pool=pg_pool_size,
                               statement_cache_size=pg_statement_cache_size)
    raise StorageError(f"database URL {url!r} must start with sqlite:/// or postgresql://")
