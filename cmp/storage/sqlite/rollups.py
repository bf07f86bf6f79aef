"""The dashboard rollup tables on SQLite: the upserts the writers run inside their
transactions (what to add is decided in cmp/storage/rollups.py), and the dashboards' reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from cmp.ledger import StoredEvent
from cmp.storage.rollups import consent_changes, engagement_changes
from cmp.storage.sqlite.connection import SQLiteConnection

CONSENT_UPSERT = (
    "INSERT INTO dash_consent_daily (site, day, regime, language, action, events) "
    "VALUES (?,?,?,?,?,?) ON CONFLICT (site, day, regime, language, action) "
    "DO UPDATE SET events = dash_consent_daily.events + excluded.events")
PURPOSE_UPSERT = (
    "INSERT INTO dash_purpose_daily (site, day, regime, language, purpose, granted) "
    "VALUES (?,?,?,?,?,?) ON CONFLICT (site, day, regime, language, purpose) "
    "DO UPDATE SET granted = dash_purpose_daily.granted + excluded.granted")
EMAIL_UPSERT = (
    "INSERT INTO dash_email_daily (site, campaign, day, kind, class, machine, events) "
    "VALUES (?,?,?,?,?,?,?) ON CONFLICT (site, campaign, day, kind, class, machine) "
    "DO UPDATE SET events = dash_email_daily.events + excluded.events")


def apply_consent(db: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
    """Add a batch of ledger events to the rollups (inside the writer's open transaction)."""
    decisions, granted = consent_changes(events)
    if decisions:
        db.executemany(CONSENT_UPSERT, decisions)
    if granted:
        db.executemany(PURPOSE_UPSERT, granted)


def apply_engagement(db: sqlite3.Connection, rows: Sequence[Sequence[Any]],
                     reclassify: Sequence[Sequence[Any]]) -> None:
    """Count inserted engagement rows, and move the clicks a scanner burst is about to
    reclassify from their class to (scanner, machine).

    Call after the INSERT and before the reclassifying UPDATE: `reclassify` holds that
    UPDATE's parameters (reason, site, message, since_ms) and selects the same rows."""
    moved: dict[int, tuple[str, str, str, str]] = {}  # by row id: one burst may list a row twice
    for _reason, site, message, since_ms in reclassify:
        for rid, campaign, day, cls in db.execute(
                "SELECT id, campaign, substr(ts, 1, 10), class FROM email_engagement "
                "WHERE site = ? AND message = ? AND kind = 'click' AND ts_ms >= ? "
                "AND machine = 0", (site, message, since_ms)):
            moved[rid] = (site, campaign, day, cls)
    changes = engagement_changes(rows, moved.values())
    if changes:
        db.executemany(EMAIL_UPSERT, changes)


class SQLiteRollups(SQLiteConnection):
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
