"""Sliding windows (cmp.windows) in memory and in the real Redis on 127.0.0.1:6379, the rate
limits built on them, and what happens when Redis is down: nothing fails."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from cmp.app_state import Services
from cmp.windows import FailOpen, LocalWindows, RedisWindows, Windows, open_windows

from .conftest import CHROME_UA, DEMO_ORIGIN, build_services, dead_redis_url, running

T0 = 1_800_000_000.0  # explicit times: the windows take the caller's clock


async def drop_prefix(url: str, prefix: str) -> None:
    r = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}*")]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A fresh key prefix per test, removed afterwards."""
    p = f"consentry-test:{secrets.token_hex(6)}:"
    yield p
    await drop_prefix(redis_url, p)


@pytest.fixture(params=["local", "redis"])
async def windows(request: pytest.FixtureRequest, redis_url: str,
                  prefix: str) -> AsyncIterator[Windows]:
    w: Windows = LocalWindows() if request.param == "local" else RedisWindows(redis_url, prefix)
    yield w
    await w.close()


# --- both implementations, one behaviour -------------------------------------------------------

async def test_admit_takes_at_most_limit_slots_per_window(windows: Windows) -> None:
    got = [await windows.admit("k", 3, 10.0, T0 + i) for i in range(5)]
    assert [a.allowed for a in got] == [True, True, True, False, False]
    # Refused at T0+3 and T0+4: the oldest slot (T0) frees at T0+10.
    assert got[3].retry_after == pytest.approx(7.0, abs=0.01)
    assert got[4].retry_after == pytest.approx(6.0, abs=0.01)
    assert not (await windows.admit("k", 3, 10.0, T0 + 9.9)).allowed
    assert (await windows.admit("k", 3, 10.0, T0 + 10.0)).allowed  # T0's slot has left
    assert (await windows.admit("other", 3, 10.0, T0 + 4)).allowed  # keys are apart


async def test_refused_requests_hold_no_slot(windows: Windows) -> None:
    # A client hammering past the limit must not push its own recovery further out.
    for i in range(100):
        await windows.admit("k", 2, 10.0, T0 + i / 100)
    assert (await windows.admit("k", 2, 10.0, T0 + 10.01)).allowed


async def test_distinct_links_within_the_window_are_a_burst(windows: Windows) -> None:
    assert await windows.distinct("m", 1, 2.0, T0) is None
    assert await windows.distinct("m", 1, 2.0, T0 + 0.5) is None  # the same link again
    start = await windows.distinct("m", 2, 2.0, T0 + 1.0)
    assert start == pytest.approx(T0, abs=0.001)  # the burst started with the first click
    assert await windows.distinct("m", 3, 2.0, T0 + 10.0) is None  # long after: alone again
    assert await windows.distinct("other", 4, 2.0, T0 + 10.1) is None
    assert await windows.distinct("m", -1, 2.0, T0 + 11.0) == pytest.approx(T0 + 10.0, abs=0.001)


async def test_distinct_window_edge(windows: Windows) -> None:
    assert await windows.distinct("m", 1, 2.0, T0) is None
    assert await windows.distinct("m", 2, 2.0, T0 + 2.0) == pytest.approx(T0)  # exactly 2 s
    assert await windows.distinct("n", 1, 2.0, T0) is None
    assert await windows.distinct("n", 2, 2.0, T0 + 2.002) is None


async def test_a_flood_of_clicks_keeps_a_bounded_window(windows: Windows) -> None:
    for i in range(500):
        await windows.distinct("m", 7, 2.0, T0 + i / 1000)
    assert await windows.distinct("m", 8, 2.0, T0 + 0.5) is not None


async def test_once_per_window(windows: Windows) -> None:
    assert await windows.once("m1", 2.0, T0)
    assert not any([await windows.once("m1", 2.0, T0 + i / 100) for i in range(1, 300)])
    assert await windows.once("m2", 2.0, T0 + 0.5)  # another key is its own window
    assert await windows.once("m1", 2.0, T0 + 2.99 + 2.1)  # quiet longer than the window


# --- Redis only: shared by several clients (workers) --------------------------------------------

async def test_limit_holds_across_clients_deciding_at_once(redis_url: str, prefix: str) -> None:
    # 200 commands at once open ~200 connections: give them time to connect on a busy machine
    # (the limit is what is tested here, not the production timeout).
    workers = [RedisWindows(redis_url, prefix, timeout=5.0) for _ in range(4)]
    try:
        got = await asyncio.gather(*(workers[i % 4].admit("k", 25, 60.0, T0 + i / 1000)
                                     for i in range(200)))
    finally:
        for w in workers:
            await w.close()
    assert sum(a.allowed for a in got) == 25


async def test_a_burst_split_across_clients_is_seen(redis_url: str, prefix: str) -> None:
    a, b = RedisWindows(redis_url, prefix), RedisWindows(redis_url, prefix)
    try:
        assert await a.distinct("m", 1, 2.0, T0) is None
        assert await b.distinct("m", 2, 2.0, T0 + 0.3) == pytest.approx(T0)
        assert await b.once("flag-m", 2.0, T0 + 0.3)
        assert not await a.once("flag-m", 2.0, T0 + 0.4)
    finally:
        await a.close()
        await b.close()


async def test_keys_expire_with_their_window(redis_url: str, prefix: str) -> None:
    w = RedisWindows(redis_url, prefix)
    r = aioredis.Redis.from_url(redis_url)
    try:
        now = time.time()
        await w.admit("k", 5, 3.0, now)
        await w.distinct("m", 1, 2.0, now)
        await w.once("f", 2.0, now)
        ttls = [await r.pttl(f"{prefix}{k}") for k in ("k", "m", "f")]
        assert all(0 < t <= 3_000 for t in ttls), ttls
    finally:
        await w.close()
        await r.aclose()


# --- Redis down: decide locally, count it, never raise ------------------------------------------

async def test_fail_open_decides_locally_when_redis_is_down() -> None:
    w = FailOpen(RedisWindows(dead_redis_url(), timeout=0.2))
    try:
        t = time.monotonic()
        assert await w.distinct("m", 1, 2.0, T0) is None
        assert await w.distinct("m", 2, 2.0, T0 + 0.5) == T0  # the local window still judges
        assert [(await w.admit("k", 1, 10.0, T0)).allowed,
                (await w.admit("k", 1, 10.0, T0 + 1)).allowed] == [True, False]
        assert time.monotonic() - t < 1.0
        # One failed attempt, then Redis is left alone for a while (no cost per request).
        assert w.errors == 1 and w.fallbacks == 4
    finally:
        await w.close()


async def test_fail_open_goes_back_to_redis(redis_url: str, prefix: str) -> None:
    w = FailOpen(RedisWindows(redis_url, prefix), pause=0.0)
    try:
        assert await w.distinct("m", 1, 2.0, T0) is None
        assert w.errors == 0 and w.fallbacks == 0
    finally:
        await w.close()


def test_open_windows_picks_by_setting(redis_url: str) -> None:
    assert isinstance(open_windows(""), LocalWindows)
    assert isinstance(open_windows(redis_url), FailOpen)


# --- rate limits over HTTP (in process) ---------------------------------------------------------

async def test_consent_over_the_limit_gets_429_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    svc = build_services(db, consent_rate_limit=3, rate_window_s=60)
    async with running(svc) as client:
        answers = [await client.post("/v1/sites/demo/consent",
                                     json={"action": "accept_all", "revision": 1})
                   for _ in range(5)]
        # Another network (a different /24) has its own limit.
        async with running(svc, client_ip="198.51.100.7") as other:
            assert (await other.post("/v1/sites/demo/consent",
                                     json={"action": "accept_all", "revision": 1})
                    ).status_code == 201
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in answers] == [201, 201, 201, 429, 429]
    refused = answers[3]
    assert refused.json()["field"] == "rate" and refused.json()["error"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    from .conftest import count_events
    assert count_events(db) == 4
    assert 'consentry_rate_limited_total{kind="consent",site="demo"} 2' in metrics


async def test_beacon_over_the_limit_is_dropped_as_rate_limited(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    svc = build_services(db, beacon_rate_limit=2, rate_window_s=60)
    async with running(svc) as client:
        token = (await client.post("/v1/sites/demo/consent", json={
            "action": "accept_all", "revision": 1})).json()["token"]
        answers = [await client.post("/b", content=f'{{"s":"demo","e":"pageview","k":"{token}"}}',
                                     headers={"Content-Type": "text/plain",
                                              "Origin": DEMO_ORIGIN})
                   for _ in range(4)]
        metrics = (await client.get("/metrics")).text
    # The same answer either way: a beacon never says whether it logged.
    assert {(r.status_code, r.content) for r in answers} == {(204, b"")}
    assert len({tuple(sorted(r.headers.items())) for r in answers}) == 1
    from .conftest import db_rows
    assert db_rows(db, "SELECT COUNT(*) FROM beacon_events")[0][0] == 2
    assert 'consentry_beacon_events_total{site="demo",outcome="rate_limited"} 2' in metrics
    assert 'consentry_beacon_events_total{site="demo",outcome="stored"} 2' in metrics


async def test_with_redis_down_consent_and_beacon_still_answer_and_store(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    svc = build_services(db, redis_url=dead_redis_url(), consent_rate_limit=5,
                         beacon_rate_limit=5)
    async with running(svc) as client:
        r = await client.post("/v1/sites/demo/consent", json={"action": "accept_all",
                                                               "revision": 1})
        assert r.status_code == 201
        b = await client.post("/b", content=f'{{"s":"demo","k":"{r.json()["token"]}"}}',
                              headers={"Content-Type": "text/plain", "Origin": DEMO_ORIGIN,
                                       "User-Agent": CHROME_UA})
        assert b.status_code == 204
        metrics = (await client.get("/metrics")).text
    from .conftest import db_rows
    assert db_rows(db, "SELECT COUNT(*) FROM beacon_events")[0][0] == 1
    assert "consentry_windows_shared 1" in metrics
    assert "consentry_windows_errors_total 1" in metrics


def test_settings_refuse_bad_limits(tmp_path: Path) -> None:
    from cmp.config import ConfigError
    from cmp.settings import Settings

    for bad in ({"consent_rate_limit": -1}, {"rate_window_s": 0}, {"redis_url": "127.0.0.1"},
                {"redis_prefix": ""}, {"pg_pool_size": 0}, {"pg_statement_cache_size": -1}):
        with pytest.raises(ConfigError) as err:
            Settings.load(None, **bad)
        assert f"server.{next(iter(bad))}" in str(err.value)


async def test_installs_with_their_own_redis_prefix_keep_their_own_limits(
        tmp_path: Path, redis_url: str, prefix: str) -> None:
    """Staging and production on one Redis: the same client counts separately in each."""
    def install(name: str, key_prefix: str) -> Services:
        (tmp_path / name).mkdir()
        return build_services(tmp_path / name / "c.db", redis_url=redis_url,
                              redis_prefix=key_prefix, consent_rate_limit=1, rate_window_s=60)

    statuses = []
    for svc in (install("a", prefix + "prod:"), install("b", prefix + "staging:"),
                install("c", prefix + "prod:")):
        async with running(svc) as client:
            statuses.append((await client.post("/v1/sites/demo/consent", json={
                "action": "accept_all", "revision": 1})).status_code)
    # the third shares the first one's prefix, so its one consent per window is already taken
    assert statuses == [201, 201, 429]
    r = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in r.scan_iter(match=f"{prefix}*")]
    finally:
        await r.aclose()
    assert keys and all(k.startswith((prefix + "prod:", prefix + "staging:")) for k in keys)


_ = httpx  # the clients above are httpx's
