"""The consent API over HTTP: what a consent records, the resolved config, history, withdrawal,
bad input, CORS, site isolation and the service routes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.app_state import Services
from cmp.config import SiteConfig
from cmp.types import Visitor

from .conftest import (
    CLIENT_IP,
    CLIENT_IP_TRUNCATED,
    COUNTRY_HEADER,
    DEMO_ORIGIN,
    SUBDIVISION_HEADER,
    TwoSites,
    build_services,
    canonical,
    count_events,
    db_rows,
    running,
)

CONSENT = "/v1/sites/demo/consent"
CONFIG = "/v1/sites/demo/config"


def demo(svc: Services) -> SiteConfig:
    return svc.config.sites["demo"]


def optional(site: SiteConfig) -> list[str]:
    return [pid for pid, p in site.purposes.items() if not p.necessary]


def event_row(db: Path, event_id: str) -> dict[str, Any]:
    rows = db_rows(db, "SELECT site, seq, subject, kind, ts, payload, personal FROM consent_events "
                       "WHERE event_id = ?", (event_id,))
    assert len(rows) == 1, f"event {event_id} not stored exactly once"
    site, seq, subject, kind, ts, payload, personal = rows[0]
    return {"site": site, "seq": seq, "subject": subject, "kind": kind, "ts": ts,
            "payload": json.loads(payload), "personal": json.loads(personal) if personal else None}


async def post(client: httpx.AsyncClient, body: dict[str, Any], *, country: str = "DE",
               headers: dict[str, str] | None = None, site: str = "demo") -> httpx.Response:
    h = {COUNTRY_HEADER: country, **(headers or {})}
    return await client.post(f"/v1/sites/{site}/consent", json=body, headers=h)


# --- 1. what a consent records -----------------------------------------------------------------


async def test_post_custom_consent_records_the_proof(client: httpx.AsyncClient, svc: Services,
                                                     db: Path) -> None:
    site = demo(svc)
    body = {"action": "custom", "revision": site.revision, "language": "en",
            "purposes": {"analytics": True, "marketing": False},
            "vendors": {"sensors_data": True}, "separate": {"overseas_buyers": True}}
    r = await post(client, body, country="DE")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["consent_id"].startswith("c_") and out["token"]
    assert f"/v1/sites/demo/consent/{out['consent_id']}/receipt?access=" in out["receipt_url"]
    assert out["kind"] == "grant"

    row = event_row(db, out["event_id"])
    p = row["payload"]
    assert row["site"] == "demo" and row["kind"] == "grant" and row["subject"] == out["consent_id"]
    assert p["revision"] == site.revision
    assert p["language"] == "en"
    assert p["texts_hash"] == site.texts_hash("en")
    assert p["action"] == "custom"
    assert p["regime"] == "gdpr" and p["country"] == "DE"
    assert p["gpc"] is False
    assert p["ua_class"] == "desktop"
    # accept_days for a yes to anything optional
    lifetime = dt.datetime.fromisoformat(p["expires_at"]) - dt.datetime.fromisoformat(row["ts"])
    assert abs(lifetime - dt.timedelta(days=site.cookie.accept_days)) < dt.timedelta(seconds=2)
    choices = p["choices"]
    # one entry for every purpose, vendor and separate item of the site
    assert set(choices["purposes"]) == set(site.purposes)
    assert set(choices["vendors"]) == set(site.vendors)
    assert set(choices["separate"]) == set(site.banner_separate)
    assert choices["purposes"]["necessary"] is True
    assert choices["purposes"]["analytics"] is True
    assert choices["purposes"]["marketing"] is False
    assert choices["purposes"]["functional"] is False  # opt-in: not mentioned means no
    assert choices["vendors"]["sensors_data"] is True
    assert choices["vendors"]["google_ads"] is False  # its purpose is refused
    assert choices["vendors"]["netease_yidun"] is True  # necessary-only vendor
    assert choices["separate"] == {sid: sid == "overseas_buyers" for sid in site.banner_separate}
    assert row["personal"]["ip"] == CLIENT_IP_TRUNCATED
    assert row["personal"]["subject"] == out["consent_id"]

    # The notices table holds exactly the texts behind the hash.
    (texts,) = db_rows(db, "SELECT texts FROM notices WHERE hash = ?", (p["texts_hash"],))[0]
    shown = json.loads(texts)
    assert shown == site.texts_for("en")
    assert hashlib.sha256(canonical(shown)).hexdigest() == p["texts_hash"]
    assert shown["banner"]["title"] == site.texts["title"]["en"]


async def test_full_ip_is_never_stored(svc: Services, db: Path) -> None:
    # Also as an IPv4-mapped IPv6 peer, the way dual-stack servers report IPv4 clients.
    ips = [CLIENT_IP, "::ffff:" + CLIENT_IP, "2001:db8:1234:5678:9abc::42"]
    for ip in ips:
        async with running(svc, client_ip=ip) as c:
            r = await post(c, {"action": "accept_all", "revision": 1})
            assert r.status_code == 201
    stored = [json.loads(p)["ip"] for (p,) in db_rows(db, "SELECT personal FROM consent_events")]
    assert stored == [CLIENT_IP_TRUNCATED, CLIENT_IP_TRUNCATED, "2001:db8:1234::"]
    conn_dump = "\n".join(_dump(db))
    raw = b"".join(f.read_bytes() for f in db.parent.glob(db.name + "*"))
    for needle in (CLIENT_IP, "2001:db8:1234:5678", "9abc::42"):
        assert needle not in conn_dump
        assert needle.encode() not in raw


def _dump(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


async def test_accept_all_never_grants_a_separate_item(client: httpx.AsyncClient,
                                                       svc: Services, db: Path) -> None:
    site = demo(svc)
    r = await post(client, {"action": "accept_all", "revision": 1}, country="CN")
    assert r.status_code == 201
    choices = event_row(db, r.json()["event_id"])["payload"]["choices"]
    assert all(choices["purposes"].values())
    assert all(choices["vendors"].values())
    assert choices["separate"] == dict.fromkeys(site.banner_separate, False)
    # One explicit action per item: only the item named is granted.
    r = await post(client, {"action": "accept_all", "revision": 1,
                            "separate": {"facial_biometrics": True}}, country="CN")
    sep = event_row(db, r.json()["event_id"])["payload"]["choices"]["separate"]
    assert [k for k, v in sep.items() if v] == ["facial_biometrics"]
    # reject_all refuses every optional purpose and separate item
    r = await post(client, {"action": "reject_all", "revision": 1,
                            "separate": {"facial_biometrics": True}}, country="CN")
    p = event_row(db, r.json()["event_id"])["payload"]
    assert p["action"] == "reject_all" and p["regime"] == "pipl"
    assert not any(p["choices"]["purposes"][pid] for pid in optional(site))
    assert not any(p["choices"]["separate"].values())


async def test_gpc_keeps_marketing_denied_under_accept_all(client: httpx.AsyncClient,
                                                           db: Path) -> None:
    r = await post(client, {"action": "accept_all", "revision": 1}, headers={"Sec-GPC": "1"})
    assert r.status_code == 201
    p = event_row(db, r.json()["event_id"])["payload"]
    assert p["gpc"] is True
    assert p["choices"]["purposes"]["marketing"] is False
    assert p["choices"]["vendors"]["google_ads"] is False
    assert p["choices"]["purposes"]["analytics"] is True
    # Only the exact value "1" is a GPC signal.
    r = await post(client, {"action": "accept_all", "revision": 1}, headers={"Sec-GPC": "true"})
    p = event_row(db, r.json()["event_id"])["payload"]
    assert p["gpc"] is False and p["choices"]["purposes"]["marketing"] is True
    # The page's navigator.globalPrivacyControl counts too.
    r = await post(client, {"action": "accept_all", "revision": 1, "gpc": True})
    assert event_row(db, r.json()["event_id"])["payload"]["choices"]["purposes"]["marketing"] is False


async def test_explicit_custom_choice_lifts_gpc(client: httpx.AsyncClient, db: Path) -> None:
    r = await post(client, {"action": "custom", "revision": 1, "purposes": {"marketing": True}},
                   headers={"Sec-GPC": "1"})
    assert r.status_code == 201
    p = event_row(db, r.json()["event_id"])["payload"]
    assert p["gpc"] is True
    assert p["choices"]["purposes"]["marketing"] is True
    assert p["choices"]["vendors"]["google_ads"] is True


@pytest.mark.parametrize(("country", "sub", "regime"), [
    ("CN", None, "pipl"), ("DE", None, "gdpr"), ("US", "CA", "us_optout"), ("BR", None, "gdpr")])
async def test_regime_by_country_header(client: httpx.AsyncClient, svc: Services, db: Path,
                                        country: str, sub: str | None, regime: str) -> None:
    headers = {COUNTRY_HEADER: country}
    if sub:
        headers[SUBDIVISION_HEADER] = sub
    r = await client.get(CONFIG, headers=headers)
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["regime"] == regime and cfg["country"] == country
    assert cfg["separate_consent"] is (regime == "pipl")
    granted = cfg["defaults"]["purposes"]
    site = demo(svc)
    if regime == "us_optout":
        assert all(granted[pid] for pid in site.purposes)  # opt-out: on until refused
    else:
        assert not any(granted[pid] for pid in optional(site))  # opt-in: nothing pre-granted
    assert not any(cfg["defaults"]["separate"].values())
    r = await post(client, {"action": "reject_all", "revision": 1},
                   headers={SUBDIVISION_HEADER: sub} if sub else None, country=country)
    assert event_row(db, r.json()["event_id"])["payload"]["regime"] == regime


async def test_unknown_place_gets_the_strictest_regime(client: httpx.AsyncClient) -> None:
    cfg = (await client.get(CONFIG, headers={COUNTRY_HEADER: "XX"})).json()
    assert cfg["regime"] == "pipl" and cfg["country"] is None


async def test_gpc_in_config_defaults(client: httpx.AsyncClient) -> None:
    headers = {COUNTRY_HEADER: "US", SUBDIVISION_HEADER: "CA", "Sec-GPC": "1"}
    cfg = (await client.get(CONFIG, headers=headers)).json()
    assert cfg["gpc"] is True and cfg["regime"] == "us_optout"
    assert cfg["defaults"]["purposes"]["marketing"] is False
    assert cfg["defaults"]["purposes"]["analytics"] is True
    assert cfg["defaults"]["vendors"]["google_ads"] is False


async def test_config_carries_what_the_banners_grant_rule_needs(client: httpx.AsyncClient,
                                                                svc: Services) -> None:
    """The banner decides with choose/effective over this answer: model, revision, each
    purpose's necessary/gpc (default only where set, to keep the answer small), each vendor's
    purposes and the separate items."""
    from cmp.api.consent import banner_config

    site = demo(svc)
    cfg = (await client.get(CONFIG)).json()
    assert cfg["model"] in ("opt_in", "opt_out", "notice") and cfg["revision"] == site.revision
    for p in cfg["purposes"]:
        rule = site.purposes[p["id"]]
        assert (p["necessary"], p["gpc"]) == (rule.necessary, rule.gpc)
        assert "default" not in p  # the demo pre-ticks nothing
    assert {v["id"]: v["purposes"] for v in cfg["vendors"]} == {
        vid: v.purposes for vid, v in site.vendors.items()}
    ticked = site.model_copy(update={"purposes": {
        **site.purposes, "analytics": site.purposes["analytics"].model_copy(update={"default": True})}})
    decision = svc.policy.decide("demo", Visitor(country="DE"), None)
    shown = {p["id"]: p for p in banner_config(svc, "demo", ticked, decision)["purposes"]}
    assert shown["analytics"]["default"] is True and "default" not in shown["marketing"]


async def test_config_names_indexeddb_and_caches_only_where_declared(client: httpx.AsyncClient,
                                                                      svc: Services) -> None:
    """The banner deletes declared IndexedDB databases and caches on refusal; a purpose or
    vendor that declares none adds nothing to the answer every visitor downloads."""
    from cmp.api.consent import banner_config

    cfg = (await client.get(CONFIG)).json()
    for x in cfg["purposes"] + cfg["vendors"]:
        assert "indexeddb" not in x and "caches" not in x, x["id"]
    site = demo(svc)
    declared = site.model_copy(update={
        "purposes": {**site.purposes, "analytics": site.purposes["analytics"].model_copy(
            update={"indexeddb": ["stats-*"]})},
        "vendors": {**site.vendors, "google_ads": site.vendors["google_ads"].model_copy(
            update={"caches": ["gads-*", "gads"]})}})
    decision = svc.policy.decide("demo", Visitor(country="DE"), None)
    answer = banner_config(svc, "demo", declared, decision)
    purposes = {p["id"]: p for p in answer["purposes"]}
    vendors = {v["id"]: v for v in answer["vendors"]}
    assert purposes["analytics"]["indexeddb"] == ["stats-*"] and "caches" not in purposes["analytics"]
    assert vendors["google_ads"]["caches"] == ["gads-*", "gads"]
    assert "indexeddb" not in vendors["google_ads"]


# --- 2. config, update, history, withdraw ------------------------------------------------------


async def test_config_language_from_accept_language_and_query(client: httpx.AsyncClient,
                                                              svc: Services) -> None:
    site = demo(svc)
    zh = (await client.get(CONFIG, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})).json()
    assert zh["language"] == "zh-CN"
    assert zh["texts"]["title"] == site.texts["title"]["zh-CN"]
    assert zh["texts_hash"] == site.texts_hash("zh-CN")
    marketing = next(p for p in zh["purposes"] if p["id"] == "marketing")
    assert marketing["title"] == site.purposes["marketing"].title["zh-CN"]
    assert marketing["gpc"] is True

    en = (await client.get(CONFIG, headers={"Accept-Language": "fr-FR,en;q=0.8"})).json()
    assert en["language"] == "en" and en["texts"]["title"] == site.texts["title"]["en"]
    q = (await client.get(CONFIG + "?lang=zh-CN", headers={"Accept-Language": "en"})).json()
    assert q["language"] == "zh-CN"
    for cfg in (zh, en, q):
        assert cfg["revision"] == site.revision
        assert {"regime", "gpc", "defaults", "model"} <= set(cfg)
        assert [v["id"] for v in cfg["vendors"]] == list(site.vendors)
        assert [s["id"] for s in cfg["separate"]] == list(site.banner_separate)


async def test_zh_consent_records_the_chinese_notice(client: httpx.AsyncClient, svc: Services,
                                                     db: Path) -> None:
    r = await post(client, {"action": "reject_all", "revision": 1, "language": "zh-CN"},
                   country="CN")
    p = event_row(db, r.json()["event_id"])["payload"]
    assert p["language"] == "zh-CN" and p["texts_hash"] == demo(svc).texts_hash("zh-CN")
    (texts,) = db_rows(db, "SELECT texts FROM notices WHERE hash = ?", (p["texts_hash"],))[0]
    assert json.loads(texts)["banner"]["title"] == demo(svc).texts["title"]["zh-CN"]


async def test_update_history_and_withdraw(client: httpx.AsyncClient, svc: Services,
                                           db: Path) -> None:
    site = demo(svc)
    first = (await post(client, {"action": "accept_all", "revision": 1})).json()
    cid, token = first["consent_id"], first["token"]

    # The banner sends its cookie back; an update keeps the consent id.
    client.cookies.set(site.cookie.name, token)
    try:
        r = await post(client, {"action": "custom", "revision": 1, "purposes": {"analytics": True}})
    finally:
        client.cookies.clear()
    second = r.json()
    assert r.status_code == 201 and second["consent_id"] == cid and second["kind"] == "update"
    assert event_row(db, second["event_id"])["kind"] == "update"

    auth = {"Authorization": f"Bearer {second['token']}"}
    h = await client.get(f"{CONSENT}/{cid}", headers=auth)
    assert h.status_code == 200
    hist = h.json()
    assert [e["kind"] for e in hist["events"]] == ["grant", "update"]
    assert [e["action"] for e in hist["events"]] == ["accept_all", "custom"]
    assert hist["current"]["purposes"]["analytics"] is True
    assert hist["current"]["purposes"]["marketing"] is False
    assert all(e["ip_truncated"] == CLIENT_IP_TRUNCATED for e in hist["events"])

    # Without a token, or with another subject's token: refused.
    assert (await client.get(f"{CONSENT}/{cid}")).status_code == 401
    other = (await post(client, {"action": "reject_all", "revision": 1})).json()
    assert other["consent_id"] != cid
    r = await client.get(f"{CONSENT}/{cid}", headers={"Authorization": f"Bearer {other['token']}"})
    assert r.status_code == 401 and r.json()["field"] == "token"
    before = count_events(db)
    r = await client.delete(f"{CONSENT}/{cid}",
                            headers={"Authorization": f"Bearer {other['token']}"})
    assert r.status_code == 401 and count_events(db) == before

    # Withdraw: an event of its own, every optional choice off, and a token that says so.
    r = await client.delete(f"{CONSENT}/{cid}", headers=auth)
    assert r.status_code == 200
    w = r.json()
    assert w["consent_id"] == cid and w["kind"] == "withdraw"
    row = event_row(db, w["event_id"])
    assert row["kind"] == "withdraw" and row["payload"]["action"] == "withdraw"
    ch = row["payload"]["choices"]
    assert not any(ch["purposes"][pid] for pid in optional(site))
    assert all(ch["purposes"][pid] for pid, p in site.purposes.items() if p.necessary)
    assert not any(ch["separate"].values())
    assert ch["vendors"]["google_ads"] is False and ch["vendors"]["netease_yidun"] is True
    cfg = (await client.get(CONFIG, headers={"Authorization": f"Bearer {w['token']}"})).json()
    necessary = sorted(pid for pid, p in site.purposes.items() if p.necessary)
    assert cfg["consent"]["consent_id"] == cid
    assert cfg["consent"]["purposes"] == necessary
    assert cfg["consent"]["separate"] == []
    hist = (await client.get(f"{CONSENT}/{cid}",
                             headers={"Authorization": f"Bearer {w['token']}"})).json()
    assert [e["kind"] for e in hist["events"]] == ["grant", "update", "withdraw"]


# --- 7. bad input: a 4xx naming the field, nothing stored --------------------------------------


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


BAD_POSTS: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
    ("malformed json", CONSENT, b'{"action": "accept_all", ', {}, 400, "body"),
    ("not utf-8", CONSENT, b'{"action": "\xff"}', {}, 400, "body"),
    ("unknown site", "/v1/sites/nope/consent", _json({"action": "accept_all", "revision": 1}),
     {}, 404, "site"),
    ("unknown purpose", CONSENT,
     _json({"action": "custom", "revision": 1, "purposes": {"telepathy": True}}), {}, 400,
     "purposes.telepathy"),
    ("unknown vendor", CONSENT,
     _json({"action": "custom", "revision": 1, "vendors": {"acme": True}}), {}, 400,
     "vendors.acme"),
    ("unknown separate item", CONSENT,
     _json({"action": "accept_all", "revision": 1, "separate": {"kidneys": True}}), {}, 400,
     "separate.kidneys"),
    ("unknown action", CONSENT, _json({"action": "maybe", "revision": 1}), {}, 400, "action"),
    ("missing action", CONSENT, _json({"revision": 1}), {}, 400, "action"),
    ("revision not a number", CONSENT, _json({"action": "accept_all", "revision": "one"}), {},
     400, "revision"),
    ("choice not a bool", CONSENT,
     _json({"action": "custom", "revision": 1, "purposes": {"analytics": "perhaps"}}), {}, 400,
     "purposes.analytics"),
    ("purposes a list", CONSENT,
     _json({"action": "custom", "revision": 1, "purposes": ["analytics"]}), {}, 400, "purposes"),
    ("gpc not a bool", CONSENT, _json({"action": "accept_all", "revision": 1, "gpc": "maybe"}),
     {}, 400, "gpc"),
    ("body a list", CONSENT, _json([{"action": "accept_all"}]), {}, 400, "body"),
    ("extra field", CONSENT, _json({"action": "accept_all", "revision": 1, "admin": True}), {},
     400, "admin"),
    ("unknown language", CONSENT,
     _json({"action": "accept_all", "revision": 1, "language": "fr"}), {}, 400, "language"),
    ("stale revision", CONSENT, _json({"action": "accept_all", "revision": 99}), {}, 409,
     "revision"),
    ("oversize with content-length", CONSENT,
     _json({"action": "custom", "revision": 1, "tc_string": "A" * 20_000}), {}, 413, "body"),
    ("form content type", CONSENT, b"action=accept_all&revision=1",
     {"Content-Type": "application/x-www-form-urlencoded"}, 415, "content-type"),
    ("disallowed origin", CONSENT, _json({"action": "accept_all", "revision": 1}),
     {"Origin": "https://evil.example"}, 403, "Origin"),
]


@pytest.mark.parametrize(("name", "url", "content", "headers", "status", "field"), BAD_POSTS,
                         ids=[b[0] for b in BAD_POSTS])
async def test_bad_input_is_refused_and_nothing_stored(
        client: httpx.AsyncClient, db: Path, name: str, url: str, content: bytes,
        headers: dict[str, str], status: int, field: str) -> None:
    ok = await post(client, {"action": "accept_all", "revision": 1})  # the database exists
    assert ok.status_code == 201
    before = count_events(db)
    notices_before = db_rows(db, "SELECT COUNT(*) FROM notices")[0][0]
    h = {"Content-Type": "application/json", **headers}
    r = await client.post(url, content=content, headers=h)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()
    assert err["field"] == field, err
    assert err["error"]
    assert count_events(db) == before
    assert db_rows(db, "SELECT COUNT(*) FROM notices")[0][0] == notices_before


async def test_oversize_chunked_body_without_content_length(client: httpx.AsyncClient,
                                                           db: Path) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"action": "custom", "revision": 1, "tc_string": "'
        for _ in range(40):
            sent += 1
            yield b"A" * 1024
        yield b'"}'

    before = count_events(db)
    req = client.build_request("POST", CONSENT, content=chunks(),
                               headers={"Content-Type": "application/json"})
    assert "content-length" not in req.headers
    assert req.headers.get("transfer-encoding") == "chunked"
    r = await client.send(req)
    assert r.status_code == 413 and r.json()["field"] == "body"
    assert count_events(db) == before
    # A small chunked body is fine.
    async def small() -> AsyncIterator[bytes]:
        yield b'{"action": "reject_all", '
        yield b'"revision": 1}'

    r = await client.post(CONSENT, content=small(), headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and count_events(db) == before + 1


async def test_cors_only_for_the_sites_origins(client: httpx.AsyncClient, db: Path) -> None:
    pre = await client.options(CONSENT, headers={
        "Origin": DEMO_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == DEMO_ORIGIN
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "content-type" in pre.headers["access-control-allow-headers"].lower()

    bad = await client.options(CONSENT, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers

    r = await client.post(CONSENT, json={"action": "accept_all", "revision": 1},
                          headers={"Origin": DEMO_ORIGIN})
    assert r.status_code == 201
    assert r.headers["access-control-allow-origin"] == DEMO_ORIGIN
    assert count_events(db) == 1
    r = await client.get(CONFIG, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["field"] == "Origin"
    # The public verification key is for everyone.
    r = await client.get("/v1/sites/demo/receipt-key", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


# --- 8. site isolation ------------------------------------------------------------------------


async def test_site_isolation(two_sites: TwoSites, tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    svc = build_services(db, two_sites.config_path)
    ka, kb = two_sites.keys["alpha"], two_sites.keys["beta"]
    async with running(svc) as c:
        a = (await c.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3},
                          headers={COUNTRY_HEADER: "DE"})).json()
        b = (await c.post("/v1/sites/beta/consent", json={"action": "accept_all", "revision": 3},
                          headers={COUNTRY_HEADER: "DE"})).json()
        sb = b["consent_id"]

        def admin(key: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {key}"}

        # Each key works on its own site.
        assert (await c.get(f"/v1/sites/beta/subjects/{sb}", headers=admin(kb))).status_code == 200
        assert (await c.get(f"/v1/sites/alpha/subjects/{a['consent_id']}",
                            headers=admin(ka))).status_code == 200
        # Site A's key on site B: refused, for export, erase and verify.
        r = await c.get(f"/v1/sites/beta/subjects/{sb}", headers=admin(ka))
        assert r.status_code == 401 and r.json()["field"] == "authorization"
        assert (await c.delete(f"/v1/sites/beta/subjects/{sb}",
                               headers=admin(ka))).status_code == 401
        assert (await c.get("/v1/sites/beta/ledger/verify", headers=admin(ka))).status_code == 401
        # Asking through site A's path for B's subject finds nothing of B's.
        assert (await c.get(f"/v1/sites/alpha/subjects/{sb}", headers=admin(ka))).status_code == 404
        assert (await c.delete(f"/v1/sites/alpha/subjects/{sb}",
                               headers=admin(ka))).status_code == 404
        assert db_rows(db, "SELECT COUNT(*) FROM consent_events WHERE subject = ?", (sb,))[0][0] == 1

        # A site-A token means nothing on site B.
        r = await c.get(f"/v1/sites/beta/consent/{a['consent_id']}",
                        headers={"Authorization": f"Bearer {a['token']}"})
        assert r.status_code == 401
        r = await c.post("/v1/sites/beta/consent", json={"action": "reject_all", "revision": 3},
                         headers={"Authorization": f"Bearer {a['token']}"})
        assert r.status_code == 201
        assert r.json()["consent_id"] != a["consent_id"] and r.json()["kind"] == "grant"
        # Each site's origin only.
        r = await c.post("/v1/sites/beta/consent", json={"action": "reject_all", "revision": 3},
                         headers={"Origin": "https://alpha.example"})
        assert r.status_code == 403
        # Separate chains per site.
        assert sorted(db_rows(db, "SELECT site, seq FROM chain_heads")) == [("alpha", 1),
                                                                             ("beta", 2)]


# --- 10. service routes -----------------------------------------------------------------------


async def test_openapi_lists_every_v1_route(client: httpx.AsyncClient, svc: Services) -> None:
    from starlette.routing import Route

    from consentry.app import create_app

    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    app = create_app(svc)
    routes = [rt for rt in app.routes if isinstance(rt, Route) and rt.path.startswith("/v1/")]
    assert len(routes) >= 10
    for rt in routes:
        assert rt.path in doc["paths"], rt.path
        for method in rt.methods or ():
            if method == "HEAD":
                continue
            op = doc["paths"][rt.path].get(method.lower())
            assert op is not None, f"{method} {rt.path} missing from OpenAPI"
            assert op["responses"] and op["summary"]
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in rt.path
    consent_in = doc["components"]["schemas"]["ConsentIn"]
    assert {"action", "revision"} <= set(consent_in["required"])

    def refs(o: Any) -> list[str]:
        if isinstance(o, dict):
            return [o["$ref"]] if "$ref" in o else [x for v in o.values() for x in refs(v)]
        if isinstance(o, list):
            return [x for v in o for x in refs(v)]
        return []

    for ref in refs(doc["paths"]):
        name = ref.removeprefix("#/components/schemas/")
        assert name in doc["components"]["schemas"], ref


async def test_gpc_well_known_and_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/gpc.json")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == "application/json"
    doc = r.json()
    assert set(doc) == {"gpc", "lastUpdate"} and doc["gpc"] is True
    assert dt.date.fromisoformat(doc["lastUpdate"]).isoformat() == doc["lastUpdate"]
    h = await client.get("/healthz")
    assert h.status_code == 200 and h.json()["ok"] is True
    nf = await client.get("/v1/nothing-here")
    assert nf.status_code == 404 and nf.json()["field"] == "path"


async def test_config_answer_is_gzipped_when_accepted(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "g.db")) as c:
        plain = await c.get("/v1/sites/demo/config", headers={"Accept-Encoding": "identity"})
        zipped = await c.get("/v1/sites/demo/config", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    # httpx decodes for us: same document, a fraction of the bytes on the wire
    assert zipped.json() == plain.json()
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2


async def test_client_ip_header_uses_the_address_the_proxy_appended(tmp_path: Path) -> None:
    """A forged X-Forwarded-For entry left of the proxy's own is neither stored nor trusted."""
    db = tmp_path / "xff.db"
    svc = build_services(db, client_ip_header="X-Forwarded-For")
    async with running(svc) as c:
        r = await c.post("/v1/sites/demo/consent", json={"action": "accept_all", "revision": 1},
                         headers={"X-Forwarded-For": "198.51.100.77, 192.0.2.55"})
        assert r.status_code == 201
        cid = r.json()["consent_id"]
        (ev,) = await svc.storage.events_for_subject("demo", cid)
    assert (ev.personal or {})["ip"] == "192.0.2.0"  # the proxy's entry, truncated
