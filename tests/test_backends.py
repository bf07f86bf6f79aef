"""The storage suite on both backends: every test runs on a fresh SQLite file and on a fresh
database on the real PostgreSQL server (127.0.0.1:5432; a server that does not answer fails
these tests, it never skips them).

Reads go through a second storage instance (a connection of its own, like another host), never
through the app's, so "committed before answered" is checked from outside.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import asyncpg
import httpx

from cmp.app import create_app
from cmp.config import load_config
from cmp.ledger import NewEvent, verify_chain
from cmp.settings import Settings
from cmp.storage.base import Engagement, Storage, StorageError
from cmp.storage.sqlite import migrations, open_storage
from cmp.types import EventKind

from .conftest import COUNTRY_HEADER, build_services, running
from .test_beacon import beacon, token
from .test_email_flow import CHROME, HTML, SECRET, links, path, write_config
from .test_storage import short_lived

N = 1000


async def opened(url: str) -> Storage:
    storage = open_storage(url)
    await storage.open()
    return storage


async def scalar(url: str, sql: str) -> list[object]:
    """First column of `sql`'s rows, read with the driver directly (not through our storage)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [r[0] for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    pg = await asyncpg.connect(url)
    try:
        return [r[0] for r in await pg.fetch(sql)]
    finally:
        await pg.close()


async def chain_ok(storage: Storage, site: str) -> int:
    report = await verify_chain(site, storage.iter_chain(site), await storage.chain_head(site))
    assert report.ok, report.line()
    return report.checked


async def test_thousand_concurrent_consents_committed_before_answer(
        database_url: str, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db", database=database_url)
    checker = await opened(database_url)
    missing: list[str] = []

    async def one(client: httpx.AsyncClient, i: int) -> str:
        body = {"action": ("accept_all", "reject_all", "custom")[i % 3], "revision": 1,
                "purposes": {"analytics": True} if i % 3 == 2 else {}}
        r = await client.post("/v1/sites/demo/consent", json=body,
                              headers={COUNTRY_HEADER: ("DE", "CN", "US")[i % 3]})
        assert r.status_code == 201, r.text
        cid = str(r.json()["consent_id"])
        if len(await checker.events_for_subject("demo", cid)) != 1:
            missing.append(cid)
        return cid

    try:
        async with running(svc) as client:
            ids = await asyncio.gather(*(one(client, i) for i in range(N)))
            writer = svc.storage.writer  # type: ignore[attr-defined]
            batches = writer.batches
        assert missing == []
        assert len(set(ids)) == N
        assert await checker.count_events("demo") == N
        assert 1 <= batches < N, f"no group commit: {batches} batches for {N} rows"
        assert await chain_ok(checker, "demo") == N
        assert [e.seq async for e in checker.iter_chain("demo")] == list(range(1, N + 1))
    finally:
        await checker.close()


async def test_two_writers_on_one_database_never_fork_the_chain(database_url: str) -> None:
    """Two storages (two hosts' workers) append to the same sites at once."""
    a, b = await opened(database_url), await opened(database_url)
    try:
        async def put(s: Storage, i: int) -> int:
            ev = await s.append(NewEvent.build(site=("x", "y", "z")[i % 3], subject=f"s{i}",
                                               kind=EventKind.GRANT, payload={"i": i}))
            return ev.seq

        await asyncio.gather(*(put(a if i % 2 else b, i) for i in range(1200)))
        assert a.writer.batches > 1 and b.writer.batches > 1  # type: ignore[attr-defined]
        for site in ("x", "y", "z"):
            assert await chain_ok(a, site) == 400
            assert [e.seq async for e in b.iter_chain(site)] == list(range(1, 401))
        assert await a.sites() == ["x", "y", "z"]
    finally:
        await a.close()
        await b.close()


async def test_failed_batch_acknowledges_nobody_and_stores_nothing(database_url: str) -> None:
    storage = await opened(database_url)
    try:
        first = NewEvent.build(site="s", subject="a", kind=EventKind.GRANT, payload={"n": 1})
        await storage.append(first)
        good = NewEvent.build(site="s", subject="b", kind=EventKind.GRANT, payload={"n": 2})
        clash = NewEvent(site="s", subject="c", kind=EventKind.GRANT, payload={"n": 3},
                         personal={"subject": "c", "ip": None, "salt": "00"},
                         event_id=first.event_id)
        results = await asyncio.gather(storage.append(good), storage.append(clash),
                                       return_exceptions=True)
        assert all(isinstance(r, StorageError) for r in results), results
        assert await storage.count_events() == 1
        head = (await storage.events_for_subject("s", "a"))[0].hash
        assert await storage.chain_head("s") == (1, head)
        again = await storage.append(NewEvent.build(site="s", subject="b", kind=EventKind.GRANT,
                                                    payload={"n": 4}))
        assert again.seq == 2
    finally:
        await storage.close()


async def test_migrations_run_once_and_storage_reopens(database_url: str) -> None:
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    nums = [n for n, _, _ in migrations(dialect)]
    assert nums == sorted(set(nums)) and nums[0] == 1
    storage = open_storage(database_url)
    for i in range(1, 3):  # the same object opened twice (a second lifespan), then a new one
        await storage.open()
        try:
            ev = await storage.append(NewEvent.build(site="s", subject="x", kind=EventKind.GRANT,
                                                     payload={"i": i}))
            assert ev.seq == i
        finally:
            await storage.close()
    # Several workers starting at once: the migration lock lets one migrate, the rest wait.
    many = [open_storage(database_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in many))
    for s in many:
        await s.close()
    applied = await scalar(database_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert applied == nums


async def test_postgres_migrations_race_on_an_empty_database(pg_url: str) -> None:
    many = [open_storage(pg_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in many))
    for s in many:
        await s.close()
    applied = await scalar(pg_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert applied == [n for n, _, _ in migrations("postgresql")]


async def test_erase_keeps_the_chain_and_export_works(database_url: str, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db", database=database_url)
    async with running(svc) as c:
        ids = []
        for action in ("accept_all", "reject_all", "accept_all"):
            r = await c.post("/v1/sites/demo/consent", json={"action": action, "revision": 1})
            assert r.status_code == 201
            ids.append(r.json()["consent_id"])
        assert (await svc.consent.export("demo", ids[0]))["events"]  # type: ignore[index]
        assert await svc.consent.erase("demo", ids[0]) >= 1
        erased = await svc.storage.events_for_subject("demo", ids[0])
        assert erased == []
        reports = await svc.consent.verify("demo")
        assert [r.ok for r in reports] == [True] and reports[0].checked == 4  # + the erase event
    personal = await scalar(database_url, "SELECT personal FROM consent_events WHERE "
                                          "subject IS NULL AND kind = 'grant'")
    assert personal == [None]


async def test_purge_expires_and_anonymises(database_url: str, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db",
                         short_lived(tmp_path, accept_days=1, retention_days=3),
                         database=database_url)
    async with running(svc) as c:
        for action in ("accept_all", "reject_all"):
            r = await c.post("/v1/sites/shop/consent", json={"action": action, "revision": 3})
            assert r.status_code == 201
        now = dt.datetime.now(dt.UTC)
        first = await svc.consent.purge(now=now)
        assert (first["shop"]["expired"], first["shop"]["anonymised"]) == (0, 0)
        out = await svc.consent.purge(now=now + dt.timedelta(days=2))
        assert out["shop"]["expired"] == 2
        out = await svc.consent.purge(now=now + dt.timedelta(days=10))
        assert (out["shop"]["expired"], out["shop"]["anonymised"]) == (0, 4)
        reports = await svc.consent.verify()
        assert [r.ok for r in reports] == [True] and reports[0].checked == 4


def _eng(recipient: str, kind: str = "open", *, blocked: tuple[str, ...] = (),
         suppress: tuple[str, ...] = (), ts_ms: int = 1_000, machine: bool = False,
         reclassify: int | None = None) -> Engagement:
    return Engagement(site="shop", campaign="spring", message="m1", recipient=recipient,
                      list="news", kind=kind, link=0 if kind == "click" else None,
                      cls="scanner" if machine else "human", machine=machine, reason="burst" if reclassify else None,
                      ts="2025-01-01T00:00:00.000Z", ts_ms=ts_ms, blocked_by=blocked,
                      suppress=suppress, reclassify_since_ms=reclassify)


async def test_email_engagement_and_suppression(database_url: str) -> None:
    storage = await opened(database_url)
    other = await opened(database_url)  # another worker
    try:
        assert await storage.append_engagement(_eng("r1", blocked=("#tracking", "news")))
        assert await storage.append_engagement(_eng("r1", "click", ts_ms=2_000))
        # An unsubscribe written by one worker stops the other's next open for that list.
        assert await other.append_engagement(_eng("r1", "unsubscribe", suppress=("news",)))
        assert await storage.email_suppressions("shop", "r1") == {"news"}
        assert not await storage.append_engagement(_eng("r1", blocked=("#tracking", "news")))
        assert await storage.append_engagement(_eng("r1", blocked=("deals",)))
        # Inside one batch: the unsubscribe stops the opens queued after it.
        got = await asyncio.gather(
            storage.append_engagement(_eng("r2", "unsubscribe", suppress=("#all", "news"))),
            *(storage.append_engagement(_eng("r2", blocked=("news",))) for _ in range(3)))
        assert got == [True, False, False, False]
        # A scanner burst reclassifies the message's earlier human clicks.
        assert await storage.append_engagement(
            _eng("r3", "click", machine=True, ts_ms=3_000, reclassify=1_500))
        counts = await storage.email_counts("shop", "spring")
        assert ("click", "scanner", True, 2) in counts
        assert ("open", "human", False, 2) in counts
        assert await storage.email_unsuppress("shop", "r1", ["news"]) == 1
        assert await storage.append_engagement(_eng("r1", blocked=("news",)))

        await storage.email_signup_create("sid1", "shop", "r1", {"lists": ["news"]}, "t0")
        signup = await other.email_signup("sid1")
        assert signup is not None and signup.request == {"lists": ["news"]}
        assert await other.email_signup_confirm("sid1", "t1")
        assert not await storage.email_signup_confirm("sid1", "t2")
        assert await storage.email_erase_recipient("shop", "r1") >= 5  # rows + the signup
        assert await storage.email_signup("sid1") is None
    finally:
        await storage.close_engagement()
        await other.close_engagement()
        await storage.close()
        await other.close()


async def test_email_open_pixel_end_to_end(database_url: str, tmp_path: Path) -> None:
    config_path, key = write_config(tmp_path)
    settings = Settings.load(config_path, database=database_url,
                             secret_file=str(tmp_path / "s"), public_url="https://cmp.example")
    from cmp.app_state import Services

    svc = Services.build(load_config(config_path), settings, master_secret=SECRET)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://cmp.example",
                                     headers={"User-Agent": CHROME}) as client:
            r = await client.post("/v1/sites/shop/email/signup", json={
                "email": "ann@example.com", "lists": ["news"], "tracking": True,
                "country": "DE", "ip": "198.51.100.23", "user_agent": CHROME},
                headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 202, r.text
            assert (await client.post(path(r.json()["confirm_url"]))).status_code == 200
            prep = await app.state.email.preparer.prepare(
                "shop", campaign="spring", list_id="news", to="ann@example.com",
                html_body=HTML, now=1_000_000)
            pixel = path(links(prep.html, "o")[0])
            for _ in range(2):
                r = await client.get(pixel)
                assert r.status_code == 200 and len(r.content) == 43
            assert await svc.storage.email_counts("shop", "spring") == [("open", "human", False, 2)]
            # one-click unsubscribe (RFC 8058), then the pixel logs no more for this list
            r = await client.post(path(prep.unsubscribe_url),
                                  content=b"List-Unsubscribe=One-Click",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert r.status_code == 200, r.text
            await client.get(pixel)
            counts = await svc.storage.email_counts("shop", "spring")
            assert ("open", "human", False, 2) in counts
            reports = await svc.consent.verify("shop")
            assert all(rep.ok for rep in reports)


async def test_beacon_stored_only_with_consent(database_url: str, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db", database=database_url)
    async with running(svc) as client:
        yes = await token(client)
        no = await token(client, "reject_all")
        answers = [await beacon(client, {"s": "demo", "e": "signup", "k": k,
                                         "u": "http://127.0.0.1:8000/p?q=1"})
                   for k in (yes, no, yes)]
        assert [a.status_code for a in answers] == [204, 204, 204]
        assert await svc.storage.count_beacon("demo") == 2
        urls = await scalar(database_url, "SELECT url FROM beacon_events ORDER BY id")
        assert urls == ["http://127.0.0.1:8000/p"] * 2
        subjects = await scalar(database_url, "SELECT DISTINCT subject FROM beacon_events")
        assert len(subjects) == 1 and subjects[0]
        assert await svc.storage.beacon_erase_subject("demo", str(subjects[0])) == 2
        assert await scalar(database_url, "SELECT subject FROM beacon_events") == [None, None]
