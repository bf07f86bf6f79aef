"""Data-subject request cases on SQLite: `request_cases` kept by the ledger writer's
transaction (`apply_cases`) and the reads the case service makes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cmp.caserows import OPEN_STATES, CaseRow, case_changes
from cmp.ledger import StoredEvent
from cmp.storage.sqlite.connection import SQLiteConnection

_COLS = "site, case_id, type, state, regime, received_at, due, requester, updated_at, seq"
_OPEN = "state IN ('" + "','".join(OPEN_STATES) + "')"


def apply_cases(db: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
    rows = case_changes(events)
    if rows:
        db.executemany(
            f"INSERT INTO request_cases ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (site, case_id) DO UPDATE SET type = excluded.type, "
            "state = excluded.state, regime = excluded.regime, due = excluded.due, "
            "requester = excluded.requester, updated_at = excluded.updated_at, "
            "seq = excluded.seq",
            [(r.site, r.case_id, r.type, r.state, r.regime, r.received_at, r.due, r.requester,
              r.updated_at, r.seq) for r in rows])


def _row(r: Sequence[object]) -> CaseRow:
    return CaseRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]),
                   None if r[7] is None else str(r[7]), str(r[8]), int(str(r[9])))


class SQLiteCases(SQLiteConnection):
    async def case_row(self, site: str, case_id: str) -> CaseRow | None:
        async with self._rconn.execute(
                f"SELECT {_COLS} FROM request_cases WHERE site = ? AND case_id = ?",
                (site, case_id)) as cur:
            r = await cur.fetchone()
        return _row(r) if r else None

    async def case_rows(self, site: str, open_only: bool, due_before: str | None,
                        limit: int) -> list[CaseRow]:
        where, args = "site = ?", [site]
        if open_only:
            where += f" AND {_OPEN}"
        if due_before is not None:
            where += " AND due < ?"
            args.append(due_before)
        async with self._rconn.execute(
                f"SELECT {_COLS} FROM request_cases WHERE {where} "
                "ORDER BY due, received_at, case_id LIMIT ?", (*args, limit)) as cur:
            return [_row(r) for r in await cur.fetchall()]

    async def case_counts(self, today: str) -> list[tuple[str, int, int]]:
        async with self._rconn.execute(
                "SELECT site, COUNT(*), SUM(CASE WHEN due < ? THEN 1 ELSE 0 END) "
                f"FROM request_cases WHERE {_OPEN} GROUP BY site ORDER BY site",
                (today,)) as cur:
            return [(str(r[0]), int(r[1]), int(r[2] or 0)) for r in await cur.fetchall()]
