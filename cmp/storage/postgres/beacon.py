"""Web beacon page events on PostgreSQL: batches go in with COPY, one round trip each."""

from __future__ import annotations

import asyncpg

from cmp.storage.postgres.connection import PostgresConnection
from cmp.storage.records import BeaconRow
from cmp.storage.writer import LazyWriter

BEACON_FIELDS = ["site", "name", "url", "referrer", "props", "subject", "ua_class", "ts", "ts_ms"]


class PostgresBeacon(PostgresConnection):
    _beacon: LazyWriter[BeaconRow, None]  # built by the storage

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
