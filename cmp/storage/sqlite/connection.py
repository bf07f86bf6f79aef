"""The connections of one SQLite storage, its migrations, and the ways the concerns write.

WAL; one aiosqlite connection for small writes, one for reads, and one stdlib connection that
the group-commit writers run their batches on (`_write`). Every batch runs in `BEGIN
IMMEDIATE`, so several processes on one file (`serve --workers N`) write one after another.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import aiosqlite

from cmp.storage.base import StorageError
from cmp.storage.schema import migrations

T = TypeVar("T")


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


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on the stdlib connection: taken at BEGIN, so the chain head or
    suppression read inside it cannot change before COMMIT."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class SQLiteConnection:
    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self._w: aiosqlite.Connection | None = None
        self._r: aiosqlite.Connection | None = None
        self._db: sqlite3.Connection | None = None  # stdlib write connection (group commit)
        self._lock = asyncio.Lock()  # one transaction at a time on the writer connections

    def _pragmas(self) -> tuple[str, ...]:
        return ("busy_timeout = 30000", "journal_mode = WAL", f"synchronous = {self.synchronous}",
                "foreign_keys = ON")

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        for pragma in self._pragmas():
            await conn.execute(f"PRAGMA {pragma}")
        return conn

    async def _open_connections(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._w = await self._connect()
        try:
            await self._migrate(self._w)
            self._r = await self._connect()
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            for pragma in self._pragmas():
                self._db.execute(f"PRAGMA {pragma}")
        except BaseException:
            await self._w.close()  # aiosqlite's thread would keep the process alive
            self._w = None
            raise

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

    async def _close_connections(self) -> None:
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

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a group-commit batch `fn(db)` on the event loop's thread with the stdlib write
        connection; a driver error becomes StorageError (the batch is not acknowledged).

        Measured (PERF-NOTES, and again here): through aiosqlite a batch makes ~8 thread hops,
        and its thread re-acquires the GIL for every row stepped, each time waiting out a
        busy loop's switch interval: 1.6-2.6k consents/s. Run here, a 64-row batch blocks the
        loop ~2 ms including the fsync of synchronous=FULL. `_lock` keeps this and any
        aiosqlite write on `_w` from interleaving inside one process; other processes wait
        on SQLite's own lock (busy_timeout)."""
        if self._db is None:
            raise StorageError("storage is not open")
        try:
            async with self._lock:
                return fn(self._db)
        except sqlite3.Error as exc:
            raise StorageError(f"write failed: {exc}") from exc

    async def _update(self, sql: str, args: tuple[object, ...]) -> int:
        """One small write statement in a transaction of its own; returns rows changed."""
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

    async def _count(self, table: str, site: str | None) -> int:
        """Rows of `table` (a name of ours, never input), of one site or all."""
        sql = f"SELECT COUNT(*) FROM {table}"
        args: tuple[str, ...] = ()
        if site is not None:
            sql, args = sql + " WHERE site = ?", (site,)
        async with self._rconn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def ping(self) -> None:
        async with self._rconn.execute("SELECT 1") as cur:
            await cur.fetchone()
