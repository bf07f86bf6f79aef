"""Open the backend a `--database` URL names: the one module that knows both backends (neither
backend imports the other)."""

from __future__ import annotations

from cmp.storage.base import Storage, StorageError
from cmp.storage.sqlite import SQLiteStorage


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
