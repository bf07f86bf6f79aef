"""Web beacon page events on SQLite: a group-commit writer of their own on the same write
connection and lock, so a beacon answered 2xx as logged is committed; batches form while the
previous one commits."""

from __future__ import annotations

import sqlite3

from cmp.storage.records import BeaconRow
from cmp.storage.sqlite.connection import SQLiteConnection, immediate
from cmp.storage.writer import LazyWriter


def write_beacon_rows(db: sqlite3.Connection, rows: list[BeaconRow]) -> None:
    with immediate(db):
        db.executemany(
            "INSERT INTO beacon_events (site, name, url, referrer, props, subject, ua_class, ts, "
            "ts_ms) VALUES (?,?,?,?,?,?,?,?,?)",
            [(r.site, r.name, r.url, r.referrer, r.props, r.subject, r.ua_class, r.ts, r.ts_ms)
             for r in rows])


class SQLiteBeacon(SQLiteConnection):
    _beacon: LazyWriter[BeaconRow, None]  # built by the storage

    async def append_beacon(self, row: BeaconRow) -> None:
        await self._beacon.submit(row)

    async def close_beacon(self) -> None:
        await self._beacon.close()

    async def _write_beacon(self, rows: list[BeaconRow]) -> list[None]:
        await self._write(lambda db: write_beacon_rows(db, rows))
        return [None] * len(rows)

    async def count_beacon(self, site: str | None = None) -> int:
        return await self._count("beacon_events", site)
