"""SQLite query plans that must use their index however large the site's ledger grows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cmp.storage.sqlite.ledger import FOR_SUBJECT
from tests.conftest import build_services


async def test_a_subjects_events_are_read_by_the_subject_index(tmp_path: Path) -> None:
    svc = build_services(tmp_path / "plans.db")
    await svc.storage.open()  # migrated as the server's
    await svc.storage.close()
    svc.policy.close()
    db = sqlite3.connect(tmp_path / "plans.db")
    try:
        plan = " ".join(str(r[3]) for r in db.execute(f"EXPLAIN QUERY PLAN {FOR_SUBJECT}",
                                                      ("demo", "c_x")))
    finally:
        db.close()
    assert "consent_events_subject" in plan, plan
