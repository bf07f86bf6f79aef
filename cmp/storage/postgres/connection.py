"""The connection pool of one PostgreSQL storage, its migrations, and the ways the concerns
write (`_in_txn` for group-commit batches, `_update` for one statement)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from cmp.storage.base import StorageError
from cmp.storage.schema import migrations

T = TypeVar("T")

# Any 64-bit constant: the advisory lock every process takes while it migrates.
MIGRATION_LOCK = 0x636F6E73656E7472  # "consentr"
# Lock conflicts between writers on several hosts that a retry resolves.
RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError,
             asyncpg.exceptions.SerializationError)


def _rowcount(status: str) -> int:
    """Rows changed from a command tag such as 'UPDATE 3' or 'INSERT 0 1'."""
    try:
        return int(status.rsplit(" ", 1)[1])
    except (IndexError, ValueError):
        return 0


class PostgresConnection:
    def __init__(self, url: str, *, min_pool: int = 2, max_pool: int = 10,
                 statement_cache_size: int = 100) -> None:
        self.url = url
        self.statement_cache_size = statement_cache_size
        self.min_pool, self.max_pool = min(min_pool, max_pool), max_pool
        self._pool: asyncpg.Pool | None = None

    async def _open_pool(self) -> None:
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

    async def _close_pool(self) -> None:
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

    async def _update(self, sql: str, *args: Any) -> int:
        """One small write statement (autocommit); returns rows changed."""
        try:
            return _rowcount(await self.pool.execute(sql, *args))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"write failed: {exc}") from exc

    async def _count(self, table: str, site: str | None) -> int:
        """Rows of `table` (a name of ours, never input), of one site or all."""
        if site is None:
            return int(await self.pool.fetchval(f"SELECT COUNT(*) FROM {table}"))
        return int(await self.pool.fetchval(
            f"SELECT COUNT(*) FROM {table} WHERE site = $1", site))

    async def ping(self) -> None:
        try:
            await self.pool.fetchval("SELECT 1", timeout=5)
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"database not answering: {exc}") from exc
