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
from cmp.ledger import NewEvent
from cmp.storage.base import StorageError
from cmp.storage.sqlite import SQLiteStorage, migrations
from cmp.types import EventKind

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


async def test_failed_batch_acknowledges_nobody_and_stores_nothing(db: Path) -> None:
    storage = SQLiteStorage(db)
    await storage.open()
    try:
        first = NewEvent.build(site="s", subject="a", kind=EventKind.GRANT, payload={"n": 1})
        await storage.append(first)
        good = NewEvent.build(site="s", subject="b", kind=EventKind.GRANT, payload={"n": 2})
        # Same event id as a stored row: the UNIQUE constraint fails the whole transaction.
        clash = NewEvent(site="s", subject="c", kind=EventKind.GRANT, payload={"n": 3},
                         personal={"subject": "c", "ip": None, "salt": "00"},
                         event_id=first.event_id)
        results = await asyncio.gather(storage.append(good), storage.append(clash),
                                       return_exceptions=True)
        assert all(isinstance(r, StorageError) for r in results), results
        assert await storage.count_events() == 1
        assert await storage.chain_head("s") == (1, (await storage.events_for_subject("s", "a"))[0].hash)
        # The writer goes on: the next event continues the chain at seq 2.
        again = await storage.append(NewEvent.build(site="s", subject="b", kind=EventKind.GRANT,
                                                    payload={"n": 4}))
        assert again.seq == 2
    finally:
        await storage.close()


async def test_migrations_are_numbered_and_run_once(db: Path) -> None:
    nums = [n for n, _, _ in migrations("sqlite")]
    assert nums == sorted(set(nums)) and nums[0] == 1
    for _ in range(2):  # reopening the same file neither fails nor re-applies a migration
        storage = SQLiteStorage(db)
        await storage.open()
        await storage.append(NewEvent.build(site="s", subject="x", kind=EventKind.GRANT,
                                            payload={}))
        await storage.close()
    applied = db_rows(db, "SELECT version FROM schema_migrations ORDER BY version")
    assert [v for (v,) in applied] == nums
    assert count_events(db) == 2


async def test_storage_reopens_after_close(db: Path) -> None:
    """A second lifespan on the same Services (tests, reloads) must write again, not 503."""
    storage = SQLiteStorage(db)
    for i in range(1, 3):
        await storage.open()
        try:
            ev = await storage.append(NewEvent.build(site="s", subject="x", kind=EventKind.GRANT,
                                                     payload={"i": i}))
            assert ev.seq == i
        finally:
            await storage.close()


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
        reports = await svc.consent.verify()
        assert [r.ok for r in reports] == [True] and reports[0].checked == 3


@pytest.mark.parametrize("url", ["mysql://x", "sqlite:/relative.db"])
def test_unknown_database_url_is_refused(url: str) -> None:
    from cmp.storage.sqlite import open_storage

    with pytest.raises(StorageError):
        open_storage(url)
