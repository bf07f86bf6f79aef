"""Dashboards over HTTP: login and sessions, site isolation, CSRF, numbers against plain SQL over
the event tables (seeded through the real consent API and e-mail pipeline), escaping, rollups."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.storage.sqlite import SQLiteStorage
from consentry.app import create_app
from dashboards.passwords import check_password, hash_password
from tests.conftest import CHROME_UA, COUNTRY_HEADER, SUBDIVISION_HEADER, build_services, site_toml

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>'
PASSWORDS = {"ann": "ann-long-password", "bob": "bob-long-password", "cat": "cat-long-password"}
HASHES = {name: hash_password(pw) for name, pw in PASSWORDS.items()}
BASE = "http://testserver"

EMAIL = """
[sites.alpha.email]
sender = "Alpha News <news@alpha.example>"
base_url = "http://testserver"
unsubscribe_mailto = "unsubscribe@alpha.example"
tracking_text.en = "Measure whether I open and click your e-mails."
tracking_text.zh-CN = "统计打开和点击。"

[sites.alpha.email.lists.news]
title.en = "Weekly news"
title.zh-CN = "新闻"
"""

MAIL_HTML = """<html><body><p><a href="https://alpha.example/sale">Sale</a>
<a href="https://alpha.example/new">New</a></p></body></html>"""


def config_text(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    keys: dict[str, str] = {}
    text = ""
    for site, users in (("alpha", ("ann", "cat")), ("beta", ("bob", "cat"))):
        key, key_hash = generate_admin_key()
        keys[site] = key
        text += site_toml(site, key_hash, origin=f"https://{site}.example")
        text += f"\n[sites.{site}.users]\n" + "".join(f'{u} = "{HASHES[u]}"\n' for u in users)
    # Markup in a site's name and in a banner text must show as text.
    text = text.replace('name = "Site alpha"', f"name = {json.dumps('Alpha ' + XSS)}")
    text = text.replace('title.en = "Privacy at alpha"', f"title.en = {json.dumps(XSS)}")
    text += EMAIL
    path = tmp_path / "dash.toml"
    path.write_text(text, "utf-8")
    return path, keys


@dataclass
class Env:
    client: httpx.AsyncClient
    svc: Services
    app: Any
    keys: dict[str, str]
    db: Path

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    async def login(self, *, user: str | None = None, key: str | None = None,
                    next_: str = "/dashboard/") -> httpx.Response:
        page = await self.client.get("/dashboard/login")
        token = form_token(page.text)
        return await self.client.post("/dashboard/login", data={
            "csrf": token, "username": user or "",
            "password": PASSWORDS[user] if user else (key or ""), "next": next_})

    async def csrf(self, site: str = "alpha") -> str:
        r = await self.client.get(f"/dashboard/sites/{site}/ledger")
        assert r.status_code == 200, r.text
        return form_token(r.text)

    async def consent(self, action: str, *, country: str = "DE", language: str = "en",
                      ua: str = CHROME_UA, token: str | None = None, region: str | None = None,
                      **extra: Any) -> dict[str, Any]:
        headers = {COUNTRY_HEADER: country, "User-Agent": ua}
        if region:
            headers[SUBDIVISION_HEADER] = region
        if token:
            headers["Authorization"] = f"Bearer {token}"
        r = await self.client.post("/v1/sites/alpha/consent", headers=headers, json={
            "action": action, "revision": 3, "language": language, **extra})
        assert r.status_code == 201, r.text
        return dict(r.json())


def form_token(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, page
    return html.unescape(m.group(1))


def cells(page: str) -> dict[str, str]:
    return {html.unescape(k): html.unescape(v).strip()
            for k, v in re.findall(r'data-cell="([^"]+)">([^<]*)<', page)}


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "–"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    path, keys = config_text(tmp_path)
    db = tmp_path / "dash.db"
    svc = build_services(db, path, public_url=BASE)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE,
                                     headers={"User-Agent": CHROME_UA}) as client:
            yield Env(client, svc, app, keys, db)


async def seed_consents(env: Env) -> list[str]:
    """A mix of actions, regimes and languages through the real consent API."""
    ids = []
    plan = [("accept_all", "DE", "en"), ("accept_all", "FR", "zh-CN"), ("reject_all", "DE", "en"),
            ("reject_all", "CN", "zh-CN"), ("accept_all", "CN", "zh-CN"),
            ("accept_all", "US", "en"), ("reject_all", "JP", "en")]
    for action, country, lang in plan:
        region = "CA" if country == "US" else None
        ids.append((await env.consent(action, country=country, language=lang, region=region))
                   ["consent_id"])
    r = await env.consent("custom", purposes={"analytics": True, "marketing": False})
    ids.append(r["consent_id"])
    # The same person changes their mind (an update) and then withdraws.
    up = await env.consent("custom", token=r["token"], purposes={"analytics": False,
                                                                 "marketing": True})
    w = await env.client.delete(f"/v1/sites/alpha/consent/{r['consent_id']}",
                                headers={"Authorization": f"Bearer {up['token']}"})
    assert w.status_code == 200, w.text
    await env.consent("accept_all", ua=XSS)  # markup in the User-Agent
    # Another site's events must not leak into alpha's numbers.
    r = await env.client.post("/v1/sites/beta/consent", headers={COUNTRY_HEADER: "DE"},
                              json={"action": "accept_all", "revision": 3, "language": "en"})
    assert r.status_code == 201
    return ids


# --- login, sessions, isolation ----------------------------------------------------------------

async def test_unauthenticated_requests_are_sent_to_login(env: Env) -> None:
    for p in ("/dashboard/", "/dashboard/sites/alpha/consent", "/dashboard/sites/alpha/email",
              "/dashboard/sites/alpha/ledger", "/dashboard/sites/nosuch/consent"):
        r = await env.client.get(p)
        assert r.status_code == 303, p
        assert r.headers["location"].startswith("/dashboard/login?next=")
    for p in ("/dashboard/sites/alpha/ledger/erase", "/dashboard/sites/alpha/ledger/export",
              "/dashboard/sites/alpha/ledger/verify", "/dashboard/sites/alpha/ledger/search"):
        r = await env.client.post(p, data={"subject": "c_abcdefghijk"})
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login"), p
    page = await env.client.get("/dashboard/login")
    assert page.status_code == 200 and "Log in" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # A forged or foreign cookie is no session.
    env.client.cookies.set("consentry_dash", "eyJ3IjoiYWRtaW4ifQ.forged.sig", path="/dashboard")
    r = await env.client.get("/dashboard/sites/alpha/consent")
    assert r.status_code == 303


async def test_login_with_password_sets_a_safe_cookie_and_logout_ends_it(env: Env) -> None:
    bad = await env.client.post("/dashboard/login", data={
        "csrf": form_token((await env.client.get("/dashboard/login")).text),
        "username": "ann", "password": "wrong-password"})
    assert bad.status_code == 401 and "Wrong name" in bad.text
    r = await env.login(user="ann", next_="/dashboard/sites/alpha/email")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/sites/alpha/email"
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("consentry_dash="))
    low = cookie.lower()
    assert "httponly" in low and "samesite=lax" in low and "path=/dashboard" in low
    assert "secure" not in low  # plain http here; see the https test below
    assert PASSWORDS["ann"] not in cookie
    assert (await env.client.get("/dashboard/sites/alpha/email")).status_code == 200
    # The next parameter never leads off-site.
    await env.client.post("/dashboard/logout", data={"csrf": await env.csrf()})
    r = await env.login(user="ann", next_="https://evil.example/")
    assert r.headers["location"] == "/dashboard/"
    r = await env.login(user="ann", next_="/dashboard//evil.example")
    assert r.headers["location"] == "/dashboard/"
    # Logout needs the CSRF token, then the session is gone.
    r = await env.client.post("/dashboard/logout", data={"csrf": "nope"})
    assert r.status_code == 403
    r = await env.client.post("/dashboard/logout", data={"csrf": await env.csrf()})
    assert r.status_code == 303
    assert (await env.client.get("/dashboard/sites/alpha/consent")).status_code == 303


async def test_cookie_is_secure_over_https(tmp_path: Path) -> None:
    path, keys = config_text(tmp_path)
    svc = build_services(tmp_path / "s.db", path)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://dash.example") as c:
            page = await c.get("/dashboard/login")
            assert "secure" in page.headers["set-cookie"].lower()
            r = await c.post("/dashboard/login", data={"csrf": form_token(page.text),
                                                       "password": keys["alpha"]})
            assert r.status_code == 303
            cookie = next(v for v in r.headers.get_list("set-cookie")
                          if v.startswith("consentry_dash="))
            assert "secure" in cookie.lower() and "httponly" in cookie.lower()


async def test_a_sites_user_gets_404_on_another_site(env: Env) -> None:
    await seed_consents(env)
    r = await env.login(user="ann")
    assert r.status_code == 303
    home = await env.client.get("/dashboard/", follow_redirects=True)
    assert home.status_code == 200 and "/dashboard/sites/alpha/" in str(home.url)
    token = await env.csrf("alpha")
    for p in ("/dashboard/sites/beta/consent", "/dashboard/sites/beta/email",
              "/dashboard/sites/beta/ledger", "/dashboard/sites/nosuch/consent"):
        r = await env.client.get(p)
        assert r.status_code == 404, p
        assert "Site beta" not in r.text
    beta_subject = env.rows("SELECT subject FROM consent_events WHERE site = 'beta'")[0][0]
    for action in ("erase", "export", "verify"):
        r = await env.client.post(f"/dashboard/sites/beta/ledger/{action}",
                                  data={"csrf": token, "subject": beta_subject, "confirm": "yes"})
        assert r.status_code == 404, action
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE site = 'beta' "
                    "AND subject IS NOT NULL")[0][0] == 1


async def test_admin_key_grants_its_site_and_a_shared_user_sees_both(env: Env) -> None:
    await env.login(key=env.keys["beta"])
    assert (await env.client.get("/dashboard/sites/beta/consent")).status_code == 200
    assert (await env.client.get("/dashboard/sites/alpha/consent")).status_code == 404
    await env.client.post("/dashboard/logout", data={"csrf": await env.csrf("beta")})
    await env.login(user="cat")  # listed under both sites
    home = await env.client.get("/dashboard/")
    assert home.status_code == 200
    assert "/dashboard/sites/alpha/consent" in home.text
    assert "/dashboard/sites/beta/consent" in home.text
    # A wrong admin key grants nothing.
    env.client.cookies.clear()
    r = await env.login(key="not-a-key")
    assert r.status_code == 401


async def test_session_ends_when_the_user_is_removed_from_the_config(env: Env) -> None:
    await env.login(user="ann")
    assert (await env.client.get("/dashboard/sites/alpha/consent")).status_code == 200
    site = env.svc.config.sites["alpha"]
    users = dict(site.users)
    users.pop("ann")
    object.__setattr__(site, "users", users)  # what a config reload with ann removed gives
    assert (await env.client.get("/dashboard/sites/alpha/consent")).status_code == 303


# --- CSRF ----------------------------------------------------------------------------------------

async def test_forms_without_a_valid_csrf_token_are_refused(env: Env) -> None:
    ids = await seed_consents(env)
    subject = ids[0]
    # Login form: the hidden token must match its cookie.
    r = await env.client.post("/dashboard/login", data={"username": "ann",
                                                        "password": PASSWORDS["ann"]})
    assert r.status_code == 403
    await env.login(user="ann")
    token = await env.csrf()
    other = httpx.AsyncClient(transport=env.client._transport, base_url=BASE)  # type: ignore[attr-defined]
    async with other:  # another session's token is not this session's
        page = await other.get("/dashboard/login")
        await other.post("/dashboard/login", data={"csrf": form_token(page.text),
                                                   "username": "cat",
                                                   "password": PASSWORDS["cat"]})
        foreign = form_token((await other.get("/dashboard/sites/alpha/ledger")).text)
    assert foreign != token
    for bad in ({}, {"csrf": ""}, {"csrf": "x" * 32}, {"csrf": foreign}):
        for action in ("erase", "export", "verify", "search"):
            r = await env.client.post(f"/dashboard/sites/alpha/ledger/{action}",
                                      data={**bad, "subject": subject, "q": subject,
                                            "confirm": "yes"})
            assert r.status_code == 403, (action, bad)
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE subject = ?", (subject,))[0][0] == 1
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE kind = 'erase'")[0][0] == 0


# --- numbers ---------------------------------------------------------------------------------------

async def test_consent_numbers_equal_plain_sql_over_the_events(env: Env) -> None:
    await seed_consents(env)
    await env.login(user="ann")
    r = await env.client.get("/dashboard/sites/alpha/consent?days=7")
    assert r.status_code == 200
    got = cells(r.text)

    def q(sql: str) -> list[tuple[Any, ...]]:
        return env.rows(sql)

    act = "json_extract(payload, '$.action')"
    decision = f"site = 'alpha' AND {act} IN ('accept_all', 'reject_all', 'custom')"
    total = q(f"SELECT COUNT(*) FROM consent_events WHERE {decision}")[0][0]
    assert total == 10
    assert re.search(rf'id="total-decisions">{total}<', r.text)
    withdrawn = q(f"SELECT COUNT(*) FROM consent_events WHERE site = 'alpha' AND {act} = 'withdraw'")
    assert re.search(rf'id="total-withdraw">{withdrawn[0][0]}<', r.text)
    for purpose in ("necessary", "analytics", "marketing"):
        granted = q(f"SELECT COUNT(*) FROM consent_events WHERE {decision} AND "
                    f"json_extract(payload, '$.choices.purposes.{purpose}') = 1")[0][0]
        assert got[f"purpose:{purpose}:granted"] == str(granted), purpose
        assert got[f"purpose:{purpose}:rate"] == pct(granted, total)
    assert got["purpose:necessary:rate"] == "100.0 %"
    for dim in ("regime", "language"):
        rows = q(f"SELECT json_extract(payload, '$.{dim}'), {act}, COUNT(*) FROM consent_events "
                 f"WHERE {decision} GROUP BY 1, 2")
        assert len({r[0] for r in rows}) >= 2, dim  # the seed spans several
        for key, action, n in rows:
            assert got[f"{dim}:{key}:{action}"] == str(n), (dim, key, action)
        for key, in {(r[0],) for r in rows}:
            d = sum(n for k, _, n in rows if k == key)
            assert got[f"{dim}:{key}:decisions"] == str(d)
            g = q(f"SELECT COUNT(*) FROM consent_events WHERE {decision} AND "
                  f"json_extract(payload, '$.{dim}') = '{key}' AND "
                  "json_extract(payload, '$.choices.purposes.analytics') = 1")[0][0]
            assert got[f"{dim}:{key}:rate:analytics"] == pct(g, d)
    for day, action, n in q(f"SELECT substr(ts, 1, 10), {act}, COUNT(*) FROM consent_events "
                            f"WHERE {decision} GROUP BY 1, 2"):
        assert got[f"day:{day}:{action}"] == str(n)
    assert r.text.count('<img class="chart" src="data:image/svg+xml;base64,') == 5


async def email_seed(env: Env) -> None:
    """Two recipients, three sends, opens by a person and by machines, a person's click, a
    scanner burst (honeypot) that reclassifies earlier clicks, and a one-click unsubscribe."""
    email = env.app.state.email
    for addr in ("ann@example.com", "dan@example.com"):
        r = await env.client.post("/v1/sites/alpha/email/signup", json={
            "email": addr, "lists": ["news"], "tracking": True, "country": "DE"},
            headers={"Authorization": f"Bearer {env.keys['alpha']}"})
        assert r.status_code == 202, r.text
        assert (await env.client.post(httpx.URL(r.json()["confirm_url"]).path)).status_code == 200
    preps = {}
    for addr, campaign in (("ann@example.com", "spring"), ("dan@example.com", "spring"),
                           ("ann@example.com", "summer")):
        preps[(addr, campaign)] = await email.preparer.prepare(
            "alpha", campaign=campaign, list_id="news", to=addr, html_body=MAIL_HTML,
            now=time.time() - 3600)  # an hour ago: no click is too soon after sending

    def urls(prep: Any, kind: str) -> list[str]:
        return [httpx.URL(u.replace("&amp;", "&")).raw_path.decode()
                for u in re.findall(rf'"({BASE}/e/{kind}/[^"]+)"', prep.html)]

    ann = preps[("ann@example.com", "spring")]
    await env.client.get(urls(ann, "o")[0])  # a person (desktop Chrome)
    await env.client.get(urls(ann, "o")[0], headers={"User-Agent": "Mozilla/5.0"})  # Apple MPP
    await env.client.get(urls(ann, "o")[0], headers={"User-Agent": "curl/8.0 bot"})
    await env.client.get(urls(ann, "c")[0])  # a person's click
    dan = preps[("dan@example.com", "spring")]
    await env.client.get(urls(dan, "o")[0])
    for u in urls(dan, "c"):  # every link at once, honeypot included: a scanner
        await env.client.get(u)
    summer = preps[("ann@example.com", "summer")]
    await env.client.get(urls(summer, "o")[0], headers={"User-Agent": XSS})
    r = await env.client.post(httpx.URL(summer.unsubscribe_url).raw_path.decode(),
                              content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200


async def test_email_numbers_equal_plain_sql_over_engagement(env: Env) -> None:
    await email_seed(env)
    assert env.rows("SELECT COUNT(*) FROM email_engagement WHERE kind = 'click' "
                    "AND machine = 1")[0][0] >= 2  # the burst really was reclassified
    await env.login(user="ann")
    r = await env.client.get("/dashboard/sites/alpha/email?campaign=spring")
    assert r.status_code == 200
    got = cells(r.text)
    assert "Sends are not recorded" not in r.text
    for campaign in ("spring", "summer"):
        def n(kind: str, machine: int, c: str = campaign) -> str:
            return str(env.rows("SELECT COUNT(*) FROM email_engagement WHERE site = 'alpha' AND "
                                "campaign = ? AND kind = ? AND machine = ?",
                                (c, kind, machine))[0][0])
        sends = env.rows("SELECT COUNT(*) FROM email_engagement WHERE site = 'alpha' AND "
                         "campaign = ? AND kind = 'send'", (campaign,))[0][0]
        assert got[f"{campaign}:sends"] == str(sends)
        assert got[f"{campaign}:open_rate"] == pct(int(n("open", 0)), sends)
        assert got[f"{campaign}:click_rate"] == pct(int(n("click", 0)), sends)
        assert got[f"{campaign}:human_opens"] == n("open", 0)
        assert got[f"{campaign}:machine_opens"] == n("open", 1)
        assert got[f"{campaign}:human_clicks"] == n("click", 0)
        assert got[f"{campaign}:machine_clicks"] == n("click", 1)
        unsub = env.rows("SELECT COUNT(*) FROM email_engagement WHERE site = 'alpha' AND "
                         "campaign = ? AND kind = 'unsubscribe'", (campaign,))[0][0]
        assert got[f"{campaign}:unsubscribes"] == str(unsub)
    assert got["summer:unsubscribes"] == "1"
    # Two messages to spring, one to summer; an open rate over 100 % would mean sends counted
    # as opens or the other way round.
    assert (got["spring:sends"], got["summer:sends"]) == ("2", "1")
    assert got["spring:open_rate"] == pct(2, 2) and got["summer:open_rate"] == pct(1, 1)
    assert got["spring:click_rate"] == pct(0, 2)  # every spring click was a scanner's
    for kind, what in (("open", "opens"), ("click", "clicks")):
        for cls, machine, cnt in env.rows(
                "SELECT class, machine, COUNT(*) FROM email_engagement WHERE site = 'alpha' AND "
                "campaign = 'spring' AND kind = ? GROUP BY 1, 2", (kind,)):
            side = "machine" if machine else "human"
            assert got[f"{what}:{cls}:{side}"] == str(cnt), (kind, cls)
    assert r.text.count("data:image/svg+xml;base64,") == 4


async def test_rollups_match_a_full_recount_and_the_migration_backfill(env: Env) -> None:
    await seed_consents(env)
    await email_seed(env)
    tables = ("dash_consent_daily", "dash_purpose_daily", "dash_email_daily")
    live = {t: sorted(env.rows(f"SELECT * FROM {t}")) for t in tables}
    assert all(live.values())
    # Drop the rollups and let migration 0004 rebuild them from the event tables.
    conn = sqlite3.connect(env.db)
    for t in tables:
        conn.execute(f"DROP TABLE {t}")
    conn.execute("DELETE FROM schema_migrations WHERE version = 4")
    conn.commit()
    conn.close()
    st = SQLiteStorage(env.db)
    await st.open()
    await st.close()
    rebuilt = {t: sorted(env.rows(f"SELECT * FROM {t}")) for t in tables}
    purposes = {(a, b, c, d, e): n for a, b, c, d, e, n in rebuilt["dash_purpose_daily"]}
    live_p = {(a, b, c, d, e): n for a, b, c, d, e, n in live["dash_purpose_daily"]}
    assert rebuilt["dash_consent_daily"] == live["dash_consent_daily"]
    assert purposes == live_p
    assert rebuilt["dash_email_daily"] == live["dash_email_daily"]


# --- lookup, export, erase -------------------------------------------------------------------------

async def test_ledger_lookup_by_consent_id_shows_history_and_what_was_shown(env: Env) -> None:
    ids = await seed_consents(env)
    await env.login(user="ann")
    token = await env.csrf()
    subject = ids[-1]  # custom, update, withdraw
    r = await env.client.post("/dashboard/sites/alpha/ledger/search",
                              data={"csrf": token, "q": subject})
    assert r.status_code == 303
    page = await env.client.get(r.headers["location"])
    assert page.status_code == 200
    assert page.text.count('<tr><td class="n">') == 3  # grant, update, withdraw
    for kind in ("grant", "update", "withdraw"):
        assert f"<td>{kind}</td>" in page.text
    # What was shown: the notice texts behind the texts hash, markup escaped.
    h = json.loads(env.rows("SELECT payload FROM consent_events WHERE subject = ? ORDER BY seq",
                            (subject,))[0][0])["texts_hash"]
    assert f'id="t-{h}"' in page.text and "We use cookies." in page.text
    assert XSS not in page.text and html.escape(XSS, quote=False) in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    bad = await env.client.post("/dashboard/sites/alpha/ledger/search",
                                data={"csrf": token, "q": "<b>nope</b>"})
    assert bad.status_code == 400 and "<b>nope</b>" not in bad.text


async def test_html_in_a_user_agent_or_site_name_shows_as_text(env: Env) -> None:
    await seed_consents(env)
    await email_seed(env)
    await env.login(user="ann")
    subject = env.rows("SELECT subject FROM consent_events WHERE site = 'alpha' "
                       "ORDER BY seq DESC LIMIT 1 OFFSET 0")[0][0]
    for p in ("/dashboard/sites/alpha/consent", "/dashboard/sites/alpha/email",
              f"/dashboard/sites/alpha/ledger?subject={subject}"):
        page = await env.client.get(p)
        assert page.status_code == 200
        assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text, p
        assert "Alpha &lt;script&gt;alert(1)&lt;/script&gt;" in page.text, p


async def test_lookup_by_email_address_export_and_erase_with_confirmation(env: Env) -> None:
    await email_seed(env)
    await env.login(user="ann")
    token = await env.csrf()
    r = await env.client.post("/dashboard/sites/alpha/ledger/search",
                              data={"csrf": token, "q": "  ANN@Example.com "})
    assert r.status_code == 303
    recipient = env.app.state.email.consents.recipient_id("alpha", "ann@example.com")
    assert r.headers["location"].endswith(f"subject={recipient}")
    assert "ann" not in r.headers["location"].lower().replace(recipient.lower(), "")
    page = await env.client.get(r.headers["location"])
    assert "e-mail recipient" in page.text.lower() and "Weekly news" in page.text
    assert "double_opt_in" in page.text and "withdraw" in page.text

    exp = await env.client.post("/dashboard/sites/alpha/ledger/export",
                                data={"csrf": token, "subject": recipient})
    assert exp.status_code == 200 and exp.headers["content-type"].startswith("application/json")
    assert "attachment" in exp.headers["content-disposition"]
    doc = exp.json()
    assert doc["subject"] == recipient
    assert len(doc["events"]) == env.rows("SELECT COUNT(*) FROM consent_events WHERE subject = ?",
                                          (recipient,))[0][0]

    before = env.rows("SELECT COUNT(*) FROM consent_events WHERE subject = ?", (recipient,))[0][0]
    ask = await env.client.post("/dashboard/sites/alpha/ledger/erase",
                                data={"csrf": token, "subject": recipient})
    assert ask.status_code == 200 and 'id="confirm-erase"' in ask.text
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE subject = ?",
                    (recipient,))[0][0] == before  # nothing yet
    done = await env.client.post("/dashboard/sites/alpha/ledger/erase",
                                 data={"csrf": token, "subject": recipient, "confirm": "yes"})
    assert done.status_code == 200 and 'id="erased"' in done.text
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE subject = ?", (recipient,))[0][0] == 0
    assert env.rows("SELECT COUNT(*) FROM email_engagement WHERE recipient = ?",
                    (recipient,))[0][0] == 0
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE kind = 'erase'")[0][0] == 1
    v = await env.client.post("/dashboard/sites/alpha/ledger/verify", data={"csrf": token})
    assert v.status_code == 200 and "Chain intact" in v.text
    # Counts are anonymous and stay.
    assert env.rows("SELECT SUM(events) FROM dash_email_daily")[0][0] == env.rows(
        "SELECT COUNT(*) FROM email_engagement")[0][0]


async def test_verify_reports_a_tampered_chain(env: Env) -> None:
    await seed_consents(env)
    await env.login(user="ann")
    token = await env.csrf()
    conn = sqlite3.connect(env.db)
    conn.execute("UPDATE consent_events SET payload = replace(payload, 'reject_all', 'accept_all') "
                 "WHERE site = 'alpha' AND seq = 3")
    conn.commit()
    conn.close()
    v = await env.client.post("/dashboard/sites/alpha/ledger/verify", data={"csrf": token})
    assert v.status_code == 200 and "Chain broken" in v.text and "seq 3" in v.text


def test_password_hashes_are_salted_and_checked() -> None:
    a, b = hash_password("same password"), hash_password("same password")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert check_password("same password", a) and not check_password("same passwordX", a)
    for bad in ("", "scrypt$1$8$1$AA$AA", "sha256$x", "scrypt$99999999999$8$1$AA$AA"):
        assert not check_password("same password", bad)


def test_sends_are_their_own_series_and_the_base_of_the_rates() -> None:
    from dashboards.metrics import campaigns

    rows = [("c", "2025-01-01", "send", "sent", False, 4),
            ("c", "2025-01-01", "open", "human", False, 2),
            ("c", "2025-01-02", "open", "apple_mpp", True, 3),
            ("c", "2025-01-02", "click", "human", False, 1),
            ("old", "2024-01-01", "open", "human", False, 5)]
    c, old = campaigns(rows)
    assert (c.sends, c.human_opens, c.machine_opens, c.human_clicks) == (4, 2, 3, 1)
    assert (c.open_rate, c.click_rate) == (0.5, 0.25)
    assert c.by_day["2025-01-01"] == {"sends": 4, "human opens": 2}
    assert old.sends == 0 and old.open_rate is None and old.click_rate is None  # before sends


async def test_login_attempts_are_rate_limited_per_network(tmp_path: Path) -> None:
    path, keys = config_text(tmp_path)
    svc = build_services(tmp_path / "l.db", path, login_rate_limit=3)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            page = await c.get("/dashboard/login")
            token = form_token(page.text)

            async def attempt(password: str) -> int:
                r = await c.post("/dashboard/login", data={"csrf": token, "username": "",
                                                           "password": password})
                return r.status_code

            assert [await attempt("wrong") for _ in range(3)] == [401, 401, 401]
            # Over the limit even the right key is not checked: guessing buys nothing.
            assert await attempt(keys["alpha"]) == 429
        other = httpx.ASGITransport(app=app, client=("198.51.100.9", 50000))
        async with httpx.AsyncClient(transport=other, base_url=BASE) as c2:
            page = await c2.get("/dashboard/login")
            r = await c2.post("/dashboard/login", data={"csrf": form_token(page.text),
                                                        "password": keys["alpha"]})
            assert r.status_code == 303  # another network is not affected
