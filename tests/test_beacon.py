"""The web beacon POST /b and GET /b: the real app over real SQLite, tokens from the real API.

Stored only with consent; bad input gets 4xx and stores nothing; every outcome is counted by
reason; a logged and a dropped event get the same answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from cmp.app_state import Services
from tests.conftest import build_services, db_rows, running, site_toml

DE = {"CF-IPCountry": "DE"}
CA = {"CF-IPCountry": "US", "CF-Region-Code": "CA"}
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/124.0.0.0 Safari/537.36")


async def token(client: httpx.AsyncClient, action: str = "accept_all", **body: Any) -> str:
    r = await client.post("/v1/sites/demo/consent", headers=DE,
                          json={"action": action, "revision": 1, "language": "en", **body})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


async def beacon(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return await client.post("/b", content=raw,
                             headers={"Content-Type": "text/plain;charset=UTF-8", **DE, **headers})


def rows(db: Path) -> list[tuple[Any, ...]]:
    return db_rows(db, "SELECT site, name, url, referrer, props, subject, ua_class FROM "
                       "beacon_events ORDER BY id")


async def metrics(client: httpx.AsyncClient) -> dict[str, int]:
    text = (await client.get("/metrics")).text
    out = {}
    for line in text.splitlines():
        if line.startswith("consentry_beacon_events_total{"):
            labels, n = line.split("} ")
            outcome = labels.split('outcome="')[1].rstrip('"')
            out[outcome] = out.get(outcome, 0) + int(n)
    return out


async def test_stored_only_with_analytics_consent(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with running(build_services(db)) as client:
        yes = await token(client)
        analytics_only = await token(client, "custom", purposes={"analytics": True})
        no = await token(client, "reject_all")
        other = await token(client, "custom", purposes={"marketing": True, "functional": True})
        answers = []
        for k in (yes, analytics_only, no, other, None):
            body = {"s": "demo", "e": "signup", "u": "http://127.0.0.1:8000/p?email=a@b.c#x",
                    "r": "https://search.example/q?term=secret", "p": {"plan": "pro", "n": 3}}
            if k:
                body["k"] = k
            answers.append(await beacon(client, body))
        got = await metrics(client)
        stored = rows(db)  # read apart from the app, before shutdown: a 2xx means committed
    # a logged and a dropped event look the same to the page
    assert {(r.status_code, r.content, r.headers["cache-control"].split(",")[0])
            for r in answers} == {(204, b"", "no-store")}
    assert len(stored) == 2 and {r[5] for r in stored} and all(r[5] for r in stored)
    # no query string, no fragment, referrer origin only; properties as canonical JSON
    assert stored[0][:5] == ("demo", "signup", "http://127.0.0.1:8000/p",
                             "https://search.example", '{"n":3,"plan":"pro"}')
    assert stored[0][6] == "desktop"
    assert got == {"stored": 2, "no_consent": 3}


async def test_the_cookie_and_bearer_carry_consent_too(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with running(build_services(db)) as client:
        yes = await token(client)
        client.cookies.clear()
        assert (await beacon(client, {"s": "demo"}, Cookie=f"consentry={yes}")).status_code == 204
        assert (await beacon(client, {"s": "demo"},
                             Authorization=f"Bearer {yes}")).status_code == 204
    assert [r[1] for r in rows(db)] == ["pageview", "pageview"]


async def test_regime_defaults_apply_without_a_token(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with running(build_services(db)) as client:
        client.cookies.clear()
        await beacon(client, {"s": "demo"})  # GDPR: opt-in, nothing yet
        await beacon(client, {"s": "demo"}, **CA)  # California: opt-out, allowed by default
        await beacon(client, {"s": "demo"}, **{**CA, "Sec-GPC": "1"})  # GPC spares analytics
        got = await metrics(client)
    assert [(r[1], r[5]) for r in rows(db)] == [("pageview", None), ("pageview", None)]
    assert got == {"no_consent": 1, "stored": 2}


async def test_forged_tokens_bots_and_foreign_pages_are_dropped(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with running(build_services(db)) as client:
        yes = await token(client)
        forged = yes[:-2] + ("AA" if not yes.endswith("AA") else "BB")
        ok = {"s": "demo", "k": yes}
        answers = [
            await beacon(client, {"s": "demo", "k": forged}),
            await beacon(client, ok, **{"User-Agent": GOOGLEBOT}),
            await beacon(client, ok, **{"User-Agent": HEADLESS}),
            await beacon(client, ok, **{"User-Agent": ""}),
            await beacon(client, ok, Origin="https://evil.example"),
            await beacon(client, ok, Origin="http://127.0.0.1:8000"),
        ]
        got = await metrics(client)
    assert [r.status_code for r in answers] == [204] * 6
    assert "access-control-allow-origin" not in answers[4].headers
    assert answers[5].headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert len(rows(db)) == 1
    assert got == {"bad_token": 1, "bot": 3, "bad_origin": 1, "stored": 1}


async def test_bad_bodies_get_4xx_store_nothing_and_are_counted(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with running(build_services(db)) as client:
        yes = await token(client)
        cases: list[tuple[Any, dict[str, str], int, str]] = [
            ("{not json", {}, 400, "body"),
            ("[1, 2]", {}, 400, "body"),
            ({"e": "x"}, {}, 400, "s"),
            ({"s": "Not A Site!"}, {}, 400, "s"),
            ({"s": "nope"}, {}, 400, "s"),
            ({"s": "demo", "e": "x" * 65}, {}, 400, "e"),
            ({"s": "demo", "e": "<script>"}, {}, 400, "e"),
            ({"s": "demo", "u": "javascript:alert(1)"}, {}, 400, "u"),
            ({"s": "demo", "u": "https://x/" + "a" * 2100}, {}, 400, "u"),
            ({"s": "demo", "p": [1]}, {}, 400, "p"),
            ({"s": "demo", "p": {f"k{i}": i for i in range(21)}}, {}, 400, "p"),
            ({"s": "demo", "p": {"deep": {"x": 1}}}, {}, 400, "p.deep"),
            ({"s": "demo", "p": {"long": "v" * 257}}, {}, 400, "p.long"),
            ({"s": "demo", "p": {"bad key": 1}}, {}, 400, "p.bad key"),
            ({"s": "demo", "k": yes, "p": {"pad": "x" * 200}, "r": "https://r/" + "y" * 2000,
              "u": "https://u/" + "z" * 2000}, {}, 413, "body"),
            ({"s": "demo", "k": yes}, {"Content-Type": "application/xml"}, 415, "content-type"),
        ]
        for body, headers, status, field in cases:
            r = await beacon(client, body, **headers)
            assert r.status_code == status, (body, r.text)
            assert r.json()["field"] == field, (body, r.json())
        # a body streamed without Content-Length is cut off at the limit too
        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000
        r = await client.post("/b", content=chunks(), headers={"Content-Type": "text/plain"})
        assert r.status_code == 413
        got = await metrics(client)
    assert rows(db) == []
    assert got == {"malformed": 14, "unknown_site": 1, "oversize": 2}


async def test_gif_form_for_pages_without_javascript(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with running(build_services(db)) as client:
        yes = await token(client)
        client.cookies.clear()
        with_consent = await client.get("/b", params={"s": "demo", "e": "pageview",
                                                      "u": "http://127.0.0.1:8000/a?q=1"},
                                        headers={**DE, "Cookie": f"consentry={yes}"})
        without = await client.get("/b", params={"s": "demo"}, headers=DE)
        foreign = await client.get("/b", params={"s": "demo", "u": "https://evil.example/"},
                                   headers={**DE, "Cookie": f"consentry={yes}"})
        bad = await client.get("/b", params={"e": "pageview"}, headers=DE)
        got = await metrics(client)
    for r in (with_consent, without):
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
        assert len(r.content) == 43 and "no-store" in r.headers["cache-control"]
    assert with_consent.content == without.content == foreign.content
    # A beacon answers like a beacon, bad parameters included (issue 12): the same GIF,
    # the refusal counted as malformed below.
    assert bad.status_code == 200 and bad.content == with_consent.content
    assert bad.headers["cache-control"] == with_consent.headers["cache-control"]
    assert [r[1:3] for r in rows(db)] == [("pageview", "http://127.0.0.1:8000/a")]
    # the page URL of the GIF form stands in for the missing Origin header
    assert got == {"stored": 1, "no_consent": 1, "bad_origin": 1, "malformed": 1}


async def test_gpc_drop_when_the_beacon_purpose_is_gpc_governed(tmp_path: Path) -> None:
    from cmp.adminkeys import generate_admin_key

    _, key_hash = generate_admin_key()
    cfg = tmp_path / "a.toml"
    cfg.write_text(site_toml("alpha", key_hash, origin="https://alpha.example")
                   + '\n[sites.alpha.beacon]\npurpose = "marketing"\n', "utf-8")
    db = tmp_path / "b.db"
    svc: Services = build_services(db, cfg)
    async with running(svc) as client:
        r = await client.post("/v1/sites/alpha/consent", headers=DE, json={
            "action": "accept_all", "revision": 3, "language": "en"})
        yes = r.json()["token"]
        await beacon(client, {"s": "alpha", "k": yes})
        await beacon(client, {"s": "alpha", "k": yes}, **{"Sec-GPC": "1"})
        await beacon(client, {"s": "demo", "k": yes})  # a site this config does not have
        got = await metrics(client)
    assert len(rows(db)) == 1
    assert got == {"stored": 1, "gpc": 1, "unknown_site": 1}


async def test_preflight_allows_only_a_content_type(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "b.db")) as client:
        r = await client.options("/b", headers={"Origin": "http://127.0.0.1:8000",
                                                "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-methods"] == "POST"
    assert r.headers["access-control-allow-headers"] == "Content-Type"
