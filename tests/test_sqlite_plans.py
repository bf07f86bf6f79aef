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


async def test_may_contact_is_three_index_searches(tmp_path: Path) -> None:
    from cmp.storage.sqlite.people import _LOOKUP

    svc = build_services(tmp_path / "plans.db")
    await svc.storage.open()
    await svc.storage.close()
    svc.policy.close()
    db = sqlite3.connect(tmp_path / "plans.db")
    try:
        plan = [str(r[3]) for r in db.execute(f"EXPLAIN QUERY PLAN {_LOOKUP}",
                                              ("demo", "t_x", "sms"))]
    finally:
        db.close()
    searches = [p for p in plan if p.startswith("SEARCH")]
    assert not [p for p in plan if p.startswith("SCAN") and "CONSTANT" not in p and
                p != "SCAN p"], plan
    assert len(searches) == 3 and all("INDEX" in p for p in searches), plan
