"""The storage suite on both backends: every test runs on a fresh SQLite file and on a fresh
database on the real PostgreSQL server (127.0.0.1:5432; a server that does not answer fails
these tests, it never skips them).

Reads go through a second storage instance (a connection of its own, like another host), never
through the app's, so "committed before answered" is checked from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from cmp.config import load_config
from cmp.ledger import NewEvent, verify_chain
from cmp.settings import Settings
from cmp.storage.base import Engagement, Storage, StorageError
from cmp.storage.factory import open_storage
from cmp.storage.schema import migrations
from cmp.types import EventKind
from consentry.app import create_app

from .conftest import CHROME_UA, COUNTRY_HEADER, build_services, running
from .test_beacon import beacon, token
from .test_dashboard import (
    BASE,
    MAIL_HTML,
    Env,
    cells,
    config_text,
    email_seed,
    pct,
    seed_consents,
)
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


async def rows_of(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Whole rows of `sql`, read with the driver directly (not through our storage)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    pg = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await pg.fetch(sql)]
    finally:
        await pg.close()


async def execute(url: str, *statements: str) -> None:
    """Run statements in one transaction with the driver directly."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with conn:
                for sql in statements:
                    conn.execute(sql)
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(url)
    try:
        async with pg.transaction():
            for sql in statements:
                await pg.execute(sql)
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


async def test_pg_pool_settings_reach_the_pool(pg_url: str, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db", database=pg_url, pg_pool_size=3)
    await svc.storage.open()
    try:
        pool = svc.storage._pool  # type: ignore[attr-defined]
        assert pool.get_max_size() == 3 and pool.get_min_size() == 2
    finally:
        await svc.storage.close()
    # behind pgbouncer (transaction mode): no named prepared statement may outlive its query
    for cache, named in ((100, True), (0, False)):
        svc = build_services(tmp_path / "unused.db", database=pg_url,
                             pg_statement_cache_size=cache)
        await svc.storage.open()
        try:
            async with svc.storage._pool.acquire() as conn:  # type: ignore[attr-defined]
                await conn.fetchval("SELECT count(*) FROM consent_events WHERE site = $1", "x")
                kept = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements")
            assert (kept > 0) is named, (cache, kept)
        finally:
            await svc.storage.close()
    one = open_storage(pg_url, pg_pool_size=1)  # smaller than the usual minimum of 2
    await one.open()
    try:
        assert one._pool.get_max_size() == 1 and one._pool.get_min_size() == 1  # type: ignore[attr-defined]
    finally:
        await one.close()


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
        # + the retention record the sweep writes before it anonymises
        reports = await svc.consent.verify()
        assert [r.ok for r in reports] == [True] and reports[0].checked == 4 + 1


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
        # A send (a prepared message) is stopped by a list or #all suppression, not #tracking.
        send = dataclasses.replace(_eng("r1", "send"), cls="sent", blocked_by=("news", "#all"))
        assert not await storage.append_engagement(send)
        assert await other.append_engagement(_eng("r4", "unsubscribe", suppress=("#tracking",)))
        assert await storage.append_engagement(dataclasses.replace(send, recipient="r4"))
        assert ("send", "sent", False, 1) in await other.email_counts("shop", "spring")
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
            assert await svc.storage.email_counts("shop", "spring") == [
                ("open", "human", False, 2), ("send", "sent", False, 1)]
            stats = (await client.get("/v1/sites/shop/email/campaigns/spring",
                                      headers={"Authorization": f"Bearer {key}"})).json()
            assert (stats["sends"], stats["opens"]["human"]) == (1, 2)
            assert stats["rates"] == {"human_opens_per_send": 2.0, "human_clicks_per_send": 0.0}
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


# --- dashboard rollups (cmp/storage/rollups.py, migration 0004) ----------------------------------

@contextlib.asynccontextmanager
async def dash_env(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    """test_dashboard's environment (sites alpha and beta with e-mail) on any backend."""
    path, keys = config_text(tmp_path)
    svc = build_services(tmp_path / "unused.db", path, public_url=BASE, database=database_url)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE,
                                     headers={"User-Agent": CHROME_UA}) as client:
            yield Env(client, svc, app, keys, tmp_path / "unused.db")


async def burst_after_human_clicks(env: Env) -> None:
    """A scanner that clicks a message's real links before its honeypot: the first click is
    stored as a person's, the second completes a burst and reclassifies the first (after
    email_seed, whose recipients are signed up)."""
    prep = await env.app.state.email.preparer.prepare(
        "alpha", campaign="autumn", list_id="news", to="dan@example.com", html_body=MAIL_HTML,
        now=1_000_000)
    clicks = [httpx.URL(u.replace("&amp;", "&")).raw_path.decode()
              for u in re.findall(rf'"({BASE}/e/c/[^"]+)"', prep.html)]
    assert len(clicks) == 3  # two links and the honeypot
    for u in reversed(clicks):
        assert (await env.client.get(u)).status_code in (302, 303, 307)
    assert await env.svc.storage.email_counts("alpha", "autumn") == [
        ("click", "scanner", True, 3), ("send", "sent", False, 1)]


def _json(url: str, field: str) -> str:
    """A payload field as text in each dialect (JSON true reads as 1 / 'true')."""
    if url.startswith("sqlite:///"):
        return f"json_extract(payload, '$.{field}')"
    return f"(payload::jsonb #>> '{{{field.replace('.', ',')}}}')"


async def expected_rollups(url: str, site: str) -> dict[str, list[tuple[Any, ...]]]:
    """The dash_* read methods' rows recounted with plain SQL over the event tables."""
    act = _json(url, "action")
    banner = f"site = '{site}' AND COALESCE({_json(url, 'channel')}, '') <> 'email'"
    consent = await rows_of(
        url, f"SELECT substr(ts, 1, 10), {_json(url, 'regime')}, {_json(url, 'language')}, "
             f"{act}, COUNT(*) FROM consent_events WHERE {banner} AND "
             f"{act} IN ('accept_all', 'reject_all', 'custom', 'withdraw') GROUP BY 1, 2, 3, 4")
    purpose = []
    for name in ("necessary", "analytics", "marketing"):
        on = _json(url, f"choices.purposes.{name}")
        purpose += [(d, r, lang, name, n) for d, r, lang, n in await rows_of(
            url, f"SELECT substr(ts, 1, 10), {_json(url, 'regime')}, {_json(url, 'language')}, "
                 f"SUM(CASE WHEN CAST({on} AS TEXT) IN ('1', 'true') THEN 1 ELSE 0 END) FROM consent_events "
                 f"WHERE {banner} AND {act} IN ('accept_all', 'reject_all', 'custom') "
                 "GROUP BY 1, 2, 3")]
    email = await rows_of(
        url, "SELECT campaign, substr(ts, 1, 10), kind, class, machine, COUNT(*) "
             f"FROM email_engagement WHERE site = '{site}' GROUP BY 1, 2, 3, 4, 5")
    return {"consent": sorted((a, b, c, d, int(n)) for a, b, c, d, n in consent),
            "purpose": sorted((a, b, c, d, int(n)) for a, b, c, d, n in purpose),
            "email": sorted((a, b, c, d, bool(m), int(n)) for a, b, c, d, m, n in email)}


async def rollups_read(storage: Storage, site: str) -> dict[str, list[tuple[Any, ...]]]:
    """What the dash_* methods return, sorted. E-mail rows whose count moved to zero (every
    click of a key reclassified) stay in the table on both backends; a recount has no such
    row, so they are left out here."""
    return {"consent": sorted(await storage.dash_consent_daily(site, "2000-01-01")),
            "purpose": sorted(await storage.dash_purpose_daily(site, "2000-01-01")),
            "email": sorted(r for r in await storage.dash_email_daily(site) if r[-1])}


async def test_dashboard_rollups_equal_plain_sql_and_the_backfill(
        database_url: str, tmp_path: Path) -> None:
    """Consents and e-mail engagement (with a scanner burst) through the real app and pixel
    pipeline: the rollups kept by the writers equal a recount over the event tables, read from
    another connection; migration 0004's backfill rebuilds the same rows."""
    async with dash_env(database_url, tmp_path) as env:
        await seed_consents(env)
        await email_seed(env)
        await burst_after_human_clicks(env)
        live = {site: await rollups_read(env.svc.storage, site) for site in ("alpha", "beta")}
    # The first click was stored as a person's, then reclassified by the burst.
    first = await rows_of(database_url, "SELECT class, machine, reason FROM email_engagement "
                                        "WHERE campaign = 'autumn' AND kind = 'click' "
                                        "ORDER BY id LIMIT 1")
    assert first == [("scanner", 1, "burst")]
    checker = await opened(database_url)
    try:
        for site in ("alpha", "beta"):
            want = await expected_rollups(database_url, site)
            assert live[site] == await rollups_read(checker, site) == want, site
        alpha = live["alpha"]
        assert {c for c, *_ in alpha["email"]} == {"spring", "summer", "autumn"}
        autumn = [(k, c, m, n) for camp, _, k, c, m, n in alpha["email"] if camp == "autumn"]
        # the human click's count moved; the send is neither a click nor touched by the burst
        assert sorted(autumn) == [("click", "scanner", True, 3), ("send", "sent", False, 1)]
        assert sorted(r[2:] for r in await checker.dash_email_daily("alpha", "autumn")
                      if not r[4]) == [("click", "human", False, 0), ("send", "sent", False, 1)]
        assert any(k == "click" and c == "scanner" and m for _, _, k, c, m, _ in alpha["email"])
        summer = sorted(await checker.dash_email_daily("alpha", "summer"))
        assert summer == [r for r in alpha["email"] if r[0] == "summer"] and summer
        assert await checker.dash_consent_daily("alpha", "2999-01-01") == []
    finally:
        await checker.close()
    # Drop the rollups and let migration 0004 rebuild them from the event tables.
    await execute(database_url, *(f"DROP TABLE {t}" for t in (
        "dash_consent_daily", "dash_purpose_daily", "dash_email_daily")),
        "DELETE FROM schema_migrations WHERE version = 4")
    rebuilt = await opened(database_url)
    try:
        for site in ("alpha", "beta"):
            assert await rollups_read(rebuilt, site) == live[site], site
    finally:
        await rebuilt.close()


async def test_sends_on_the_stats_route_and_dashboard_equal_plain_sql(
        database_url: str, tmp_path: Path) -> None:
    """Each prepared message is one send; the campaign stats route and the e-mail view count
    them like SQL does, never as opens or clicks, and divide human opens and clicks by them."""
    async with dash_env(database_url, tmp_path) as env:
        await email_seed(env)
        await burst_after_human_clicks(env)
        r = await env.login(user="ann")
        assert r.status_code == 303
        page = cells((await env.client.get("/dashboard/sites/alpha/email")).text)
        for campaign in ("spring", "summer", "autumn"):
            sql = {k: (await scalar(database_url, "SELECT COUNT(*) FROM email_engagement WHERE "
                                    f"site = 'alpha' AND campaign = '{campaign}' AND {w}"))[0]
                   for k, w in (("sends", "kind = 'send'"),
                                ("opens", "kind = 'open' AND machine = 0"),
                                ("clicks", "kind = 'click' AND machine = 0"))}
            sends, opens, clicks = (int(str(sql[k])) for k in ("sends", "opens", "clicks"))
            assert sends >= 1
            stats = (await env.client.get(f"/v1/sites/alpha/email/campaigns/{campaign}",
                                          headers={"Authorization": f"Bearer {env.keys['alpha']}"}
                                          )).json()
            assert stats["sends"] == sends
            assert (stats["opens"]["human"], stats["clicks"]["human"]) == (opens, clicks)
            assert "sent" not in stats["opens"]["by_class"] | stats["clicks"]["by_class"]
            assert stats["rates"] == {"human_opens_per_send": opens / sends,
                                      "human_clicks_per_send": clicks / sends}
            assert page[f"{campaign}:sends"] == str(sends)
            assert page[f"{campaign}:open_rate"] == pct(opens, sends)
            assert page[f"{campaign}:click_rate"] == pct(clicks, sends)
            assert page[f"{campaign}:human_opens"] == str(opens)


async def dashboard_cells(database_url: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    async with dash_env(database_url, tmp_path) as env:
        await seed_consents(env)
        await email_seed(env)
        await burst_after_human_clicks(env)
        r = await env.login(user="ann")
        assert r.status_code == 303
        out = {}
        for view in ("consent?days=7", "consent?days=365", "email?campaign=spring",
                     "email?campaign=autumn", "email"):
            page = await env.client.get(f"/dashboard/sites/alpha/{view}")
            assert page.status_code == 200, page.text
            out[view] = cells(page.text)
            assert out[view], view
        return out


async def test_dashboard_views_show_the_same_numbers_on_postgresql_as_on_sqlite(
        pg_url: str, tmp_path: Path) -> None:
    on_sqlite = await dashboard_cells(f"sqlite:///{tmp_path / 'lite' / 'dash.db'}",
                                      tmp_path / "lite")
    on_pg = await dashboard_cells(pg_url, tmp_path / "pg")
    assert on_pg == on_sqlite
    assert on_pg["consent?days=7"]["purpose:analytics:granted"] != "0"
    assert on_pg["email?campaign=spring"]["spring:machine_clicks"] != "0"
