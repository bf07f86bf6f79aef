"""A data subject's rows outside the ledger on SQLite (beacon events, e-mail engagement and
signups): export, erasure and retention."""

from __future__ import annotations

from typing import Any

from cmp.storage.sqlite.connection import SQLiteConnection


class SQLiteActivity(SQLiteConnection):
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

    async def beacon_erase_subject(self, site: str, subject: str) -> int:
        return await self._update(
            "UPDATE beacon_events SET subject = NULL WHERE site = ? AND subject = ?",
            (site, subject))

    async def email_erase_recipient(self, site: str, recipient: str) -> int:
        n = await self._update(
            "UPDATE email_engagement SET recipient = NULL WHERE site = ? AND recipient = ?",
            (site, recipient))
        return n + await self._update(
            "DELETE FROM email_signups WHERE site = ? AND recipient = ?", (site, recipient))
