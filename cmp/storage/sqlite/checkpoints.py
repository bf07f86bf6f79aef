"""Checkpoints (signed tree heads) and the leaves they are built from, on SQLite."""

from __future__ import annotations

from cmp.storage.sqlite.connection import SQLiteConnection


class SQLiteCheckpoints(SQLiteConnection):
    async def add_checkpoint(self, site: str, tree_size: int, root_hash: str, ts: str,
                             key_id: str, doc: str) -> bool:
        return await self._update(
            "INSERT INTO checkpoints (site, tree_size, root_hash, ts, key_id, doc) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, tree_size) DO NOTHING",
            (site, tree_size, root_hash, ts, key_id, doc)) == 1

    async def checkpoint(self, site: str, tree_size: int | None = None) -> str | None:
        if tree_size is None:
            sql, args = ("SELECT doc FROM checkpoints WHERE site = ? "
                         "ORDER BY tree_size DESC LIMIT 1", (site,))
        else:
            sql, args = ("SELECT doc FROM checkpoints WHERE site = ? AND tree_size = ?",
                         (site, tree_size))  # type: ignore[assignment]
        async with self._rconn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def leaf_hashes(self, site: str, upto: int) -> list[str]:
        async with self._rconn.execute(
                "SELECT hash FROM consent_events WHERE site = ? AND seq <= ? ORDER BY seq",
                (site, upto)) as cur:
            return [r[0] for r in await cur.fetchall()]
