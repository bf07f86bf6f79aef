"""Windows shared across real server processes through the real Redis: a scanner's clicks on
one message split over two servers are still a burst, a rate limit holds across two servers,
and a server whose Redis is down still answers and stores. Servers are stopped by PID group."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.app_state import Services
from cmp.config import load_config
from cmp.settings import Settings
from consentry.app import create_app

from .conftest import CHROME_UA, DEMO_ORIGIN, dead_redis_url
from .test_email_flow import BASE, HTML, links, path, write_config
from .test_scaleout import serve

SECRET = "scaleout-windows-master-secret-" + "w" * 40


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def tracked_message(tmp_path: Path, db: Path) -> tuple[Path, list[str], str]:
    """A shop config, the two visible click links and the open pixel of one tracked message,
    made in process
    over the database and secret the servers will use."""
    config, key = write_config(tmp_path)
    settings = Settings.load(config, database=f"sqlite:///{db}",
                             secret_file=str(tmp_path / "unused.secret"), public_url=BASE,
                             consent_rate_limit=0)
    svc = Services.build(load_config(config), settings, master_secret=SECRET.encode())
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            r = await client.post("/v1/sites/shop/email/signup", json={
                "email": "scan@example.com", "lists": ["news"], "tracking": True,
                "country": "DE"}, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 202, r.text
            assert (await client.post(path(r.json()["confirm_url"]))).status_code == 200
        prep = await app.state.email.preparer.prepare(
            "shop", campaign="spring", list_id="news", to="scan@example.com", html_body=HTML,
            now=time.time() - 3600)  # long after sending: not `too_soon`
    tokens = app.state.email.tokens
    visible = [u for u in links(prep.html, "c")
               if tokens.verify_click(path(u).split("/")[-1]).link >= 0]
    assert len(visible) == 2
    (pixel,) = links(prep.html, "o")
    return config, visible, pixel


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "per-process"])
async def test_a_burst_split_across_two_servers_is_seen_only_with_redis(
        shared: bool, redis_url: str, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    config, (first, second), _ = await tracked_message(tmp_path, db)
    env = {"CONSENTRY_SECRET": SECRET, "CONSENTRY_PUBLIC_URL": BASE}
    if shared:
        env["CONSENTRY_REDIS_URL"] = redis_url
    with serve(f"sqlite:///{db}", tmp_path, config=config, env=env) as (_, a), \
            serve(f"sqlite:///{db}", tmp_path, config=config, env=env) as (_, b):
        async with httpx.AsyncClient(headers={"User-Agent": CHROME_UA}, timeout=10) as client:
            r1 = await client.get(a + path(first))
            r2 = await client.get(b + path(second))  # well within burst_window_s (2 s)
    assert r1.status_code == r2.status_code == 302
    clicks = rows(db, "SELECT link, class, machine, reason FROM email_engagement "
                      "WHERE kind = 'click' ORDER BY id")
    if shared:
        # Both clicks are the scanner's: the second completed the burst on the other server,
        # and the first, stored as a person's a moment before, was reclassified.
        assert [(c, m, why) for _, c, m, why in clicks] == [("scanner", 1, "burst")] * 2
    else:
        # Each server saw one click: the known blind spot that redis_url removes.
        assert [m for *_, m, _ in clicks] == [0, 0]


async def test_a_rate_limit_holds_across_two_servers(redis_url: str, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    limit = 7
    # A fresh client network per run, so earlier runs' windows in Redis do not count.
    net = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    env = {"CONSENTRY_REDIS_URL": redis_url, "CONSENTRY_CLIENT_IP_HEADER": "X-Forwarded-For",
           "CONSENTRY_CONSENT_RATE_LIMIT": str(limit), "CONSENTRY_BEACON_RATE_LIMIT": str(limit),
           "CONSENTRY_RATE_WINDOW_S": "60"}
    with serve(f"sqlite:///{db}", tmp_path, env=env) as (_, a), \
            serve(f"sqlite:///{db}", tmp_path, env=env) as (_, b):
        async with httpx.AsyncClient(headers={"User-Agent": CHROME_UA}, timeout=10) as client:
            def consent(i: int) -> Any:
                return client.post(f"{(a, b)[i % 2]}/v1/sites/demo/consent",
                                   json={"action": "accept_all", "revision": 1},
                                   headers={"X-Forwarded-For": f"{net}.{1 + i % 200}"})

            # The limit taken in turns by both servers (each alone would allow it all again),
            # then a concurrent rush on both: every request of it is over the shared limit.
            consents = [await consent(i) for i in range(limit)]
            consents += await asyncio.gather(*(consent(i) for i in range(limit, 30)))
            token = consents[0].json()["token"]
            beacons = await asyncio.gather(*(
                client.post(f"{(a, b)[i % 2]}/b", content=f'{{"s":"demo","k":"{token}"}}',
                            headers={"Content-Type": "text/plain", "Origin": DEMO_ORIGIN,
                                     "X-Forwarded-For": f"{net}.9"})
                for i in range(30)))
            metrics = [(await client.get(f"{s}/metrics")).text for s in (a, b)]
    codes = [r.status_code for r in consents]
    assert codes == [201] * limit + [429] * (30 - limit), codes
    assert all(r.json()["field"] == "rate" and int(r.headers["retry-after"]) >= 1
               for r in consents if r.status_code == 429)
    # Together the servers stored no more than the limit.
    assert rows(db, "SELECT COUNT(*) FROM consent_events")[0][0] == limit
    assert {r.status_code for r in beacons} == {204}
    assert rows(db, "SELECT COUNT(*) FROM beacon_events")[0][0] == limit
    dropped = sum(int(line.rsplit(" ", 1)[1]) for m in metrics for line in m.splitlines()
                  if 'outcome="rate_limited"' in line)
    assert dropped == 30 - limit
    assert all("consentry_windows_errors_total 0" in m for m in metrics)


async def test_with_redis_down_pixel_and_click_answer_and_store(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    config, (first, second), pixel = await tracked_message(tmp_path, db)
    env = {"CONSENTRY_SECRET": SECRET, "CONSENTRY_PUBLIC_URL": BASE,
           "CONSENTRY_REDIS_URL": dead_redis_url()}
    with serve(f"sqlite:///{db}", tmp_path, config=config, env=env) as (_, a):
        async with httpx.AsyncClient(headers={"User-Agent": CHROME_UA}, timeout=10) as client:
            opened = await client.get(a + path(pixel))
            r1 = await client.get(a + path(first))
            r2 = await client.get(a + path(second))
            metrics = (await client.get(f"{a}/metrics")).text
    assert opened.status_code == 200 and len(opened.content) == 43
    assert r1.status_code == r2.status_code == 302
    assert rows(db, "SELECT class FROM email_engagement WHERE kind = 'open'") == [("human",)]
    # Decided on the server's own window: still a burst, both stored as the scanner's.
    clicks = rows(db, "SELECT machine, reason FROM email_engagement WHERE kind = 'click'")
    assert clicks == [(1, "burst"), (1, "burst")]
    assert "consentry_windows_errors_total 1" in metrics
