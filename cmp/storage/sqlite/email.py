"""E-mail engagement, suppressions and signups on SQLite.

Engagement rows have a group-commit writer of their own on the same write connection and lock
as the ledger: they commit in batches of their own, and a 2xx from the pixel means the row is
on disk.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from cmp.config import canonical_json
from cmp.storage.records import EmailSignup, Engagement, plan_engagement
from cmp.storage.sqlite.connection import SQLiteConnection, immediate
from cmp.storage.sqlite.rollups import apply_engagement
from cmp.storage.writer import LazyWriter


def write_engagement(db: sqlite3.Connection, items: list[Engagement]) -> list[bool]:
    """Suppression check and inserts in one transaction: nothing is stored for a recipient
    suppressed before this commit, whichever worker wrote the suppression."""
    with immediate(db):
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
        if plan.rows:
            db.executemany(
                "INSERT INTO email_engagement (site, campaign, message, recipient, list, "
                "kind, link, class, machine, reason, ts, ts_ms) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", plan.rows)
        apply_engagement(db, plan.rows, plan.reclassify)  # before the reclassifying UPDATE
        if plan.suppress:
            db.executemany(
                "INSERT OR IGNORE INTO email_suppressions (site, recipient, scope, reason, ts) "
                "VALUES (?,?,?,?,?)", plan.suppress)
        if plan.reclassify:
            db.executemany(
                "UPDATE email_engagement SET class = 'scanner', machine = 1, "
                "reason = COALESCE(reason, ?) WHERE site = ? AND message = ? "
                "AND kind = 'click' AND ts_ms >= ? AND machine = 0", plan.reclassify)
    return plan.accepted


class SQLiteEmail(SQLiteConnection):
    _engagement: LazyWriter[Engagement, bool]  # built by the storage

    async def append_engagement(self, item: Engagement) -> bool:
        return await self._engagement.submit(item)

    async def close_engagement(self) -> None:
        await self._engagement.close()

    async def _write_engagement(self, items: list[Engagement]) -> list[bool]:
        return await self._write(lambda db: write_engagement(db, items))

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
