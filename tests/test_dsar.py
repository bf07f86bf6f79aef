"""Data-subject requests reach every table: the ledger, web beacon events, e-mail engagement.

Export lists a consent id's beacon events; erase unlinks them (and keeps the chain verifiable);
purge deletes beacon events past the site's retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.conftest import build_services, db_rows, running
from tests.test_beacon import beacon, token


async def test_export_erase_and_retention_cover_beacon_events(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    svc = build_services(db)
    async with running(svc) as client:
        tok = await token(client)
        cid = svc.tokens.verify("demo", tok).subject
        for name in ("pageview", "signup"):
            r = await beacon(client, {"s": "demo", "e": name, "u": "http://127.0.0.1:8000/", "k": tok})
            assert r.status_code == 204
        other = await token(client)
        await beacon(client, {"s": "demo", "e": "pageview", "u": "http://127.0.0.1:8000/", "k": other})

        doc = await svc.consent.export("demo", cid)
        assert doc is not None
        assert [e["name"] for e in doc["beacon_events"]] == ["pageview", "signup"]
        assert doc["email_engagement"] == []

        changed = await svc.consent.erase("demo", cid)
        assert changed == 1 + 2  # one ledger event, two beacon events
        assert db_rows(db, "SELECT COUNT(*) FROM beacon_events WHERE subject = ?", (cid,)) == [(0,)]
        assert db_rows(db, "SELECT COUNT(*) FROM beacon_events")[0][0] == 3  # unlinked, not lost
        assert (await svc.consent.export("demo", cid)) is None
        assert all(r.ok for r in await svc.consent.verify())

        # Retention (demo: retention_days) deletes beacon events older than the cutoff only.
        days = svc.config.sites["demo"].retention_days
        now = dt.datetime.now(dt.UTC)
        assert (await svc.consent.purge(now=now))["demo"]["activity_deleted"] == 0
        later = await svc.consent.purge(now=now + dt.timedelta(days=days + 1))
        assert later["demo"]["activity_deleted"] == 3
        assert db_rows(db, "SELECT COUNT(*) FROM beacon_events") == [(0,)]
