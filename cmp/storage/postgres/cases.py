"""Data-subject request cases on PostgreSQL (as cmp/storage/sqlite/cases.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from cmp.caserows import OPEN_STATES, CaseRow, case_changes
from cmp.ledger import StoredEvent
from cmp.storage.postgres.connection import PostgresConnection

_COLS = "site, case_id, type, state, regime, received_at, due, requester, updated_at, seq"
_OPEN = "state IN ('" + "','".join(OPEN_STATES) + "')"


async def apply_cases(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    rows = case_changes(events)
    if rows:
        await conn.executemany(
            f"INSERT INTO request_cases ({_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) "
            "ON CONFLICT (site, case_id) DO UPDATE SET type = excluded.type, "
            "state = excluded.state, regime = excluded.regime, due = excluded.due, "
            "requester = excluded.requester, updated_at = excluded.updated_at, "
            "seq = excluded.seq",
            [(r.site, r.case_id, r.type, r.state, r.regime, r.received_at, r.due, r.requester,
              r.updated_at, r.seq) for r in rows])


def _row(r: Any) -> CaseRow:
    return CaseRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
                   None if r[7] is None else str(r[7]), str(r[8]), int(r[9]))


class PostgresCases(PostgresConnection):
    async def case_row(self, site: str, case_id: str) -> CaseRow | None:
        r = await self.pool.fetchrow(
            f"SELECT {_COLS} FROM request_cases WHERE site = $1 AND case_id = $2", site, case_id)
        return _row(r) if r else None

    async def case_rows(self, site: str, open_only: bool, due_before: str | None,
                        limit: int) -> list[CaseRow]:
        where, args = "site = $1", [site]
        if open_only:
            where += f" AND {_OPEN}"
        if due_before is not None:
            args.append(due_before)
            where += f" AND due < ${len(args)}"
        args_all: list[Any] = [*args, limit]
        rows = await self.pool.fetch(
            f"SELECT {_COLS} FROM request_cases WHERE {where} "
            f"ORDER BY due, received_at, case_id LIMIT ${len(args_all)}", *args_all)
        return [_row(r) for r in rows]

    async def case_counts(self, today: str) -> list[tuple[str, int, int]]:
        rows = await self.pool.fetch(
            "SELECT site, COUNT(*), SUM(CASE WHEN due < $1 THEN 1 ELSE 0 END) "
            f"FROM request_cases WHERE {_OPEN} GROUP BY site ORDER BY site", today)
        return [(str(r[0]), int(r[1]), int(r[2] or 0)) for r in rows]
