"""Checkpoints (signed tree heads) and the leaves they are built from, on PostgreSQL."""

from __future__ import annotations

from cmp.storage.postgres.connection import PostgresConnection


class PostgresCheckpoints(PostgresConnection):
    async def add_checkpoint(self, site: str, tree_size: int, root_hash: str, ts: str,
                             key_id: str, doc: str) -> bool:
        return await self._update(
            "INSERT INTO checkpoints (site, tree_size, root_hash, ts, key_id, doc) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site, tree_size) DO NOTHING",
            site, tree_size, root_hash, ts, key_id, doc) == 1

    async def checkpoint(self, site: str, tree_size: int | None = None) -> str | None:
        if tree_size is None:
            doc = await self.pool.fetchval(
                "SELECT doc FROM checkpoints WHERE site = $1 ORDER BY tree_size DESC LIMIT 1",
                site)
        else:
            doc = await self.pool.fetchval(
                "SELECT doc FROM checkpoints WHERE site = $1 AND tree_size = $2", site, tree_size)
        return str(doc) if doc is not None else None

    async def leaf_hashes(self, site: str, upto: int) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT hash FROM consent_events WHERE site = $1 AND seq <= $2 ORDER BY seq",
            site, upto)
        return [r[0] for r in rows]
