"""SQLite storage through aiosqlite: WAL, one writer connection with group commit, one reader.

One class per dialect, its methods by concern: connection.py (connections, migrations, how
writes run), ledger.py, email.py, beacon.py, activity.py (a subject's other rows), rollups.py
(dashboard counts). This module puts them together and owns the writers' lifecycle.
"""

from __future__ import annotations

from pathlib import Path

from cmp.ledger import NewEvent, StoredEvent
from cmp.storage.records import BeaconRow, Engagement
from cmp.storage.sqlite.activity import SQLiteActivity
from cmp.storage.sqlite.beacon import SQLiteBeacon
from cmp.storage.sqlite.cases import SQLiteCases
from cmp.storage.sqlite.checkpoints import SQLiteCheckpoints
from cmp.storage.sqlite.email import SQLiteEmail
from cmp.storage.sqlite.ledger import SQLiteLedger
from cmp.storage.sqlite.people import SQLitePeople
from cmp.storage.sqlite.rollups import SQLiteRollups
from cmp.storage.writer import GroupCommitWriter, LazyWriter

__all__ = ["SQLiteStorage"]


class SQLiteStorage(SQLiteLedger, SQLiteEmail, SQLiteBeacon, SQLiteActivity, SQLiteRollups,
                    SQLiteCheckpoints, SQLitePeople, SQLiteCases):
    def __init__(self, path: str | Path, *, synchronous: str = "FULL", batch_max: int = 500):
        super().__init__(path, synchronous=synchronous)
        self.writer = GroupCommitWriter[NewEvent, StoredEvent](self._write_batch,
                                                               max_batch=batch_max)
        # E-mail engagement and beacon rows: group-commit writers of their own on the same
        # write connection and lock, so a 2xx from the pixel or beacon means the row is on disk.
        self._engagement = LazyWriter[Engagement, bool](self._write_engagement,
                                                        max_batch=batch_max)
        self._beacon = LazyWriter[BeaconRow, None](self._write_beacon, max_batch=batch_max)

    async def open(self) -> None:
        await self._open_connections()
        self.writer.start()

    async def close(self) -> None:
        await self.close_engagement()  # as on PostgreSQL: waiting rows flush, writers stop
        await self.close_beacon()
        await self.writer.close()
        await self._close_connections()
