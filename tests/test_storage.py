"""SQLite storage: group commit under concurrency, durable before acknowledged, migrations,
failed batches, reopening, and retention (purge)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.storage.base import StorageError

from .conftest import COUNTRY_HEADER, build_services, count_events, db_rows, running, site_toml

N = 1000


async def test_thousand_concurrent_consents_each_committed_before_its_answer(
        svc: Services, db: Path) -> None:
    checker = sqlite3.connect(db, isolation_level=None)  # our own connection, not the app's
    checker.execute("PRAGMA busy_timeout = 5000")
    seen_missing: list[str] = []

    async def one(client: httpx.AsyncClient, i: int) -> str:
        body = {"action": ("accept_all", "reject_all", "custom")[i % 3], "revision": 1,
                "purposes": {"analytics": True} if i % 3 == 2 else {}}
        r = await client.post("/v1/sites/demo/consent", json=body,
                              headers={COUNTRY_HEADER: ("DE", "CN", "US")[i % 3]})
        assert r.status_code == 201, r.text
        cid = r.json()["consent_id"]
        # The very moment the answer is here, the row must already be committed.
        found = checker.execute("SELECT COUNT(*) FROM consent_events WHERE subject = ?",
                                (cid,)).fetchone()[0]
        if found != 1:
            seen_missing.append(cid)
        return cid

    try:
        async with running(svc) as client:
            ids = await asyncio.gather(*(one(client, i) for i in range(N)))
            writer = svc.storage.writer  # type: ignore[attr-defined]
            batches, rows = writer.batches, writer.rows
            report = (await svc.consent.verify("demo"))[0]
    finally:
        checker.close()
    assert seen_missing == []
    assert len(set(ids)) == N
    assert count_events(db) == N
    assert rows == N
    assert 1 <= batches < N, f"no group commit: {batches} batches for {N} rows"
    assert report.ok and report.checked == N
    seqs = [s for (s,) in db_rows(db, "SELECT seq FROM consent_events ORDER BY seq")]
    assert seqs == list(range(1, N + 1))
    assert db_rows(db, "PRAGMA journal_mode")[0][0] == "wal"


# The failed-batch, migration and reopen tests run on both backends in tests/test_backends.py.


# --- retention --------------------------------------------------------------------------------


def short_lived(tmp_path: Path, *, accept_days: int, retention_days: int) -> Path:
    _, key_hash = generate_admin_key()
    path = tmp_path / "short.toml"
    path.write_text(site_toml("shop", key_hash, origin="https://shop.example",
                              accept_days=accept_days, reject_days=accept_days,
                              retention_days=retention_days), "utf-8")
    return path


async def test_purge_expires_lapsed_consents(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    svc = build_services(db, short_lived(tmp_path, accept_days=1, retention_days=30))
    async with running(svc) as c:
        ids = []
        for action in ("accept_all", "reject_all", "accept_all"):
            r = await c.post("/v1/sites/shop/consent", json={"action": action, "revision": 3})
            ids.append((r.json()["consent_id"], r.json()["token"]))
        # a withdrawn consent is no longer "granted", so it does not expire again
        r = await c.delete(f"/v1/sites/shop/consent/{ids[2][0]}",
                           headers={"Authorization": f"Bearer {ids[2][1]}"})
        assert r.status_code == 200

        now = dt.datetime.now(dt.UTC)
        none = {"expired": 0, "anonymised": 0, "activity_deleted": 0}
        assert await svc.consent.purge() == {"shop": none}
        out = await svc.consent.purge(now=now + dt.timedelta(days=2))
        assert out == {"shop": {**none, "expired": 2}}
        expired = db_rows(db, "SELECT subject, payload FROM consent_events WHERE kind = 'expire'")
        assert sorted(s for s, _ in expired) == sorted([ids[0][0], ids[1][0]])
        # once expired, nothing more to expire
        again = await svc.consent.purge(now=now + dt.timedelta(days=3))
        assert again["shop"]["expired"] == 0
        h = (await c.get(f"/v1/sites/shop/consent/{ids[0][0]}",
                         headers={"Authorization": f"Bearer {ids[0][1]}"})).json()
        assert h["events"][-1]["kind"] == "expire"
        assert not h["current"]["purposes"]["analytics"]
        reports = await svc.consent.verify()
        assert [r.ok for r in reports] == [True] and reports[0].checked == 6


async def test_purge_anonymises_events_past_retention(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    svc = build_services(db, short_lived(tmp_path, accept_days=365, retention_days=1))
    async with running(svc) as c:
        for _ in range(3):
            await c.post("/v1/sites/shop/consent", json={"action": "accept_all", "revision": 3})
        now = dt.datetime.now(dt.UTC)
        assert (await svc.consent.purge(now=now))["shop"]["anonymised"] == 0
        out = await svc.consent.purge(now=now + dt.timedelta(days=2))
        assert out == {"shop": {"expired": 0, "anonymised": 3, "activity_deleted": 0}}
        assert db_rows(db, "SELECT COUNT(*) FROM consent_events WHERE subject IS NOT NULL "
                           "OR personal IS NOT NULL")[0][0] == 0
        # The sweep is recorded before it runs (a 4th event, with no personal fields): verify
        # accepts anonymised rows only under such a record.
        reports = await svc.consent.verify()
        assert [r.ok for r in reports] == [True] and reports[0].checked == 3 + 1
        assert db_rows(db, "SELECT kind, json_extract(payload, '$.action') FROM consent_events "
                           "ORDER BY seq DESC LIMIT 1") == [("erase", "retention")]


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:/relative.db"])
def test_unknown_database_url_is_refused(url: str) -> None:
    from cmp.storage.factory import open_storage

    with pytest.raises(StorageError):
        open_storage(url)
