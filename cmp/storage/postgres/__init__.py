"""PostgreSQL storage through asyncpg: a connection pool, group commit, the same interface.

Many workers on many hosts write one database. One class, its methods by concern:
connection.py (pool, migrations, how writes run), ledger.py, email.py, beacon.py, activity.py
(a subject's other rows), rollups.py (dashboard counts). This module puts them together and
owns the writers' lifecycle.
"""

from __future__ import annotations

from cmp.ledger import NewEvent, StoredEvent
from cmp.storage.postgres.activity import PostgresActivity
from cmp.storage.postgres.beacon import PostgresBeacon
from cmp.storage.postgres.cases import PostgresCases
from cmp.storage.postgres.checkpoints import PostgresCheckpoints
from cmp.storage.postgres.email import PostgresEmail
from cmp.storage.postgres.ledger import PostgresLedger
from cmp.storage.postgres.people import PostgresPeople
from cmp.storage.postgres.rollups import PostgresRollups
from cmp.storage.records import BeaconRow, Engagement
from cmp.storage.writer import GroupCommitWriter, LazyWriter

__all__ = ["PostgresStorage"]


class PostgresStorage(PostgresLedger, PostgresEmail, PostgresBeacon, PostgresActivity,
                      PostgresRollups, PostgresCheckpoints, PostgresPeople, PostgresCases):
    def __init__(self, url: str, *, batch_max: int = 500, min_pool: int = 2, max_pool: int = 10,
                 statement_cache_size: int = 100):
        super().__init__(url, min_pool=min_pool, max_pool=max_pool,
                         statement_cache_size=statement_cache_size)
        self.writer = GroupCommitWriter[NewEvent, StoredEvent](self._write_batch,
                                                               max_batch=batch_max)
        self._engagement = LazyWriter[Engagement, bool](self._write_engagement,
                                                        max_batch=batch_max)
        self._beacon = LazyWriter[BeaconRow, None](self._write_beacon, max_batch=batch_max)

    async def open(self) -> None:
        await self._open_pool()
        self.writer.start()

    async def close(self) -> None:
        await self.close_engagement()
        await self.close_beacon()
        await self.writer.close()
        await self._close_pool()
