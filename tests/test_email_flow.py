"""E-mail side end to end over HTTP: signup with double opt-in, prepare, open pixel, clicks,
one-click unsubscribe (both encodings, no cookies), and what gets stored or dropped."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.config import load_config
from cmp.errors import FieldError
from cmp.ledger import iso, utc_now
from cmp.settings import Settings
from consentry.app import create_app
from pixel.email.service import EmailService

SECRET = b"email-test-master-secret-" + b"z" * 40
BASE = "https://cmp.example"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")

SITE = """
[sites.shop]
name = "Shop"
origins = ["https://shop.example"]
languages = ["en"]
admin_key_hashes = ["{admin_hash}"]

[sites.shop.texts]
title.en = "Privacy"
description.en = "We use cookies."
accept_all.en = "Accept all"
reject_all.en = "Reject all"
customise.en = "Customise"
save.en = "Save"
preferences.en = "Preferences"
close.en = "Close"

[sites.shop.purposes.necessary]
necessary = true
title.en = "Necessary"

[sites.shop.regions]
default = "gdpr"

[[sites.shop.regions.rules]]
match = ["US"]
regime = "us_optout"

[sites.shop.email]
sender = "Shop News <news@shop.example>"
base_url = "{base}"
unsubscribe_mailto = "unsubscribe@shop.example"
tracking_without_consent = {twc}
tracking_text.en = "Measure whether I open and click your e-mails."

[sites.shop.email.lists.news]
title.en = "Weekly news"

[sites.shop.email.lists.deals]
title.en = "Deals"
"""


def write_config(tmp_path: Path, twc: str = "[]") -> tuple[Path, str]:
    key, key_hash = generate_admin_key()
    path = tmp_path / "shop.toml"
    path.write_text(SITE.format(admin_hash=key_hash, base=BASE, twc=twc), "utf-8")
    return path, key


def build(tmp_path: Path, twc: str = "[]", secret: bytes = SECRET) -> tuple[Services, str, Path]:
    path, key = write_config(tmp_path, twc)
    db = tmp_path / "c.db"
    settings = Settings.load(path, database=f"sqlite:///{db}", secret_file=str(tmp_path / "s"),
                             public_url=BASE)
    return Services.build(load_config(path), settings, master_secret=secret), key, db


@dataclass
class Env:
    client: httpx.AsyncClient
    svc: Services
    email: EmailService
    key: str
    db: Path

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def engagement(self, kind: str | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT kind, class, machine, reason, link, recipient FROM email_engagement"
        if kind:
            return self.rows(sql + " WHERE kind = ? ORDER BY id", (kind,))
        return self.rows(sql + " ORDER BY id")

    async def subscribe(self, address: str, lists: list[str], tracking: bool,
                        country: str = "DE") -> str:
        r = await self.client.post("/v1/sites/shop/email/signup", json={
            "email": address, "lists": lists, "tracking": tracking, "country": country,
            "ip": "198.51.100.23", "user_agent": CHROME},
            headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code == 202, r.text
        url = r.json()["confirm_url"]
        assert url.startswith(f"{BASE}/e/s/")
        r = await self.client.post(path(url))
        assert r.status_code == 200, r.text
        return str(url)

    async def prepare(self, address: str, html: str, list_id: str = "news",
                      campaign: str = "spring", now: float | None = None) -> Any:
        return await self.email.preparer.prepare("shop", campaign=campaign, list_id=list_id,
                                                 to=address, html_body=html, now=now)


def path(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    svc, key, db = build(tmp_path)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://cmp.example",
                                     headers={"User-Agent": CHROME}) as client:
            yield Env(client, svc, app.state.email, key, db)


HTML = """<html><body><h1>Spring</h1>
<p><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a>
<a class="b" href='https://shop.example/new'>New</a>
<a href="mailto:help@shop.example">Mail us</a> <a href="#top">Top</a></p>
</body></html>"""


def links(html: str, kind: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(rf'"({BASE}/e/{kind}/[^"]+)"', html)]


async def test_double_opt_in_records_a_ledger_event_with_proof(env: Env) -> None:
    r = await env.client.post("/v1/sites/shop/email/signup", json={
        "email": " Ann@Example.COM ", "lists": ["news"], "tracking": True, "country": "DE",
        "ip": "198.51.100.23"}, headers={"Authorization": f"Bearer {env.key}"})
    assert r.status_code == 202
    body = r.json()
    assert body["recipient"] == env.email.consents.recipient_id("shop", "ann@example.com")
    assert env.rows("SELECT COUNT(*) FROM consent_events")[0][0] == 0  # pending only
    # GET shows the page and changes nothing (link scanners follow GETs).
    g = await env.client.get(path(body["confirm_url"]))
    assert g.status_code == 200 and "Confirm" in g.text and "Weekly news" in g.text
    assert env.rows("SELECT COUNT(*) FROM consent_events")[0][0] == 0
    p = await env.client.post(path(body["confirm_url"]))
    assert p.status_code == 200 and "confirmed" in p.text
    again = await env.client.post(path(body["confirm_url"]))
    assert again.status_code == 200
    events = env.rows("SELECT subject, kind, payload, personal FROM consent_events")
    assert len(events) == 1  # idempotent
    subject, kind, payload, personal = events[0]
    assert subject == body["recipient"] and kind == "grant"
    for col in (payload, personal):
        assert "ann@" not in col.lower() and "example.com" not in col  # never the address
    assert '"double_opt_in"' in payload and '"news":true' in payload and '"regime":"gdpr"' in payload
    assert '"requested_ip":"198.51.100.0"' in payload and '"texts_hash"' in payload
    assert "203.0.113.0" in personal  # the confirming request's IP, truncated
    # Without the admin key, no signup (the link must only reach the mailbox).
    r = await env.client.post("/v1/sites/shop/email/signup",
                              json={"email": "x@example.com", "lists": ["news"]})
    assert r.status_code == 401
    r = await env.client.post("/v1/sites/shop/email/signup", json={
        "email": "x@example.com", "lists": ["nope"]}, headers={"Authorization": f"Bearer {env.key}"})
    assert r.status_code == 400 and r.json()["field"] == "lists.nope"
    r = await env.client.post("/v1/sites/shop/email/signup", json={
        "email": "not-an-address", "lists": ["news"]}, headers={"Authorization": f"Bearer {env.key}"})
    assert r.status_code == 400 and r.json()["field"] == "email"
    v = await env.client.get("/v1/sites/shop/ledger/verify",
                             headers={"Authorization": f"Bearer {env.key}"})
    assert v.json()["ok"]


async def test_prepare_pixel_and_clicks_are_stored_and_classified(env: Env) -> None:
    await env.subscribe("ann@example.com", ["news"], tracking=True)
    prep = await env.prepare("ann@example.com", HTML, now=1_000_000)
    assert prep.tracked and prep.links == 2
    opens, clicks = links(prep.html, "o"), links(prep.html, "c")
    assert len(opens) == 1 and opens[0].endswith(".gif")
    assert len(clicks) == 3  # two links and the honeypot
    assert 'href="mailto:help@shop.example"' in prep.html and 'href="#top"' in prep.html
    assert prep.unsubscribe_url in prep.html.replace("&amp;", "&")
    assert prep.headers["List-Unsubscribe"].startswith(f"<{BASE}/e/u/")
    assert "<mailto:unsubscribe@shop.example?subject=" in prep.headers["List-Unsubscribe"]

    r = await env.client.get(path(opens[0]))
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    assert len(r.content) == 43 and "no-store" in r.headers["cache-control"]
    await env.client.get(path(opens[0]), headers={"User-Agent": "Mozilla/5.0"})
    await env.client.get(path(opens[0]), headers={
        "User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"})
    assert [(k, c, m) for k, c, m, *_ in env.engagement("open")] == [
        ("open", "human", 0), ("open", "apple_mpp", 1), ("open", "gmail_proxy", 0)]

    sale = next(u for u in clicks if "shop.example/sale" in _dest(env, u))
    r = await env.client.get(path(sale))
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example/sale?x=1&y=2"
    assert r.headers["cache-control"] == "no-store"
    # The request cannot steer the redirect: extra query is ignored, the signed one wins.
    r = await env.client.get(path(sale) + "?url=https://evil.example")
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example/sale?x=1&y=2"
    r = await env.client.head(path(sale))
    assert r.status_code == 302
    rows = env.engagement("click")
    assert [(c, m, reason) for _, c, m, reason, *_ in rows][-1] == ("scanner", 1, "head")

    stats = await env.client.get("/v1/sites/shop/email/campaigns/spring",
                                 headers={"Authorization": f"Bearer {env.key}"})
    s = stats.json()
    assert s["opens"]["human"] == 2 and s["opens"]["machine"] == 1
    assert s["opens"]["by_class"]["apple_mpp"] == 1
    assert s["outcomes_this_process"]["open"]["stored"] == 3


def _dest(env: Env, url: str) -> str:
    return env.email.tokens.verify_click(path(url).split("/")[-1]).destination


async def test_scanner_bursts_honeypot_and_early_clicks_are_machine(env: Env) -> None:
    import time

    await env.subscribe("bob@example.com", ["news"], tracking=True)
    prep = await env.prepare("bob@example.com", HTML, now=time.time() - 3600)
    real = [u for u in links(prep.html, "c") if "link" not in u]
    by_dest = {_dest(env, u): u for u in real}
    honeypot = next(u for u in real if env.email.tokens.verify_click(
        path(u).split("/")[-1]).link == -1)
    first = by_dest["https://shop.example/sale?x=1&y=2"]
    await env.client.get(path(first))
    assert env.engagement("click")[-1][1:3] == ("human", 0)
    await env.client.get(path(by_dest["https://shop.example/new"]))  # a second link within 2 s
    rows = env.engagement("click")
    assert all(m == 1 for _, _, m, *_ in rows)  # the burst turned the first click machine too
    assert rows[-1][3] == "burst"
    await env.client.get(path(honeypot))
    assert env.engagement("click")[-1][3] == "honeypot"

    fresh = await env.prepare("bob@example.com", HTML)  # sent just now: a delivery-time scanner
    u = next(u for u in links(fresh.html, "c") if "sale" in _dest(env, u))
    await env.client.get(path(u))
    assert env.engagement("click")[-1][3] == "too_soon"


async def test_no_event_without_tracking_consent(env: Env) -> None:
    await env.subscribe("cat@example.com", ["news"], tracking=False)
    prep = await env.prepare("cat@example.com", HTML)
    assert not prep.tracked and not links(prep.html, "o") and not links(prep.html, "c")
    assert 'href="https://shop.example/sale?x=1&amp;y=2"' in prep.html  # links left alone
    assert prep.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Even a token made without tracking consent (defence in depth) is never stored.
    t = env.email.tokens
    rid = env.email.consents.recipient_id("shop", "cat@example.com")
    o = t.open_token("shop", "spring", "m1", rid, "news", False, 1)
    c = t.click_token("shop", "spring", "m1", rid, "news", False, 1, 0, "https://shop.example/")
    r = await env.client.get(f"/e/o/{o}.gif")
    assert r.status_code == 200 and len(r.content) == 43
    r = await env.client.get(f"/e/c/{c}")
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example/"
    # Only the send: an untracked message counts as sent, but nothing about its reading.
    assert env.engagement() == [("send", "sent", 0, None, None, rid)]
    counts = env.email.pipeline.counters.for_campaign("shop", "spring")
    assert counts == {"open": {"no_consent": 1}, "click": {"no_consent": 1}}


async def test_regime_may_allow_tracking_without_explicit_consent(tmp_path: Path) -> None:
    svc, key, db = build(tmp_path, twc='["us_optout"]')
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            e = Env(client, svc, app.state.email, key, db)
            for addr, country in (("us@example.com", "US"), ("eu@example.com", "FR")):
                r = await client.post("/v1/sites/shop/email/signup", json={
                    "email": addr, "lists": ["news"], "country": country},
                    headers={"Authorization": f"Bearer {key}"})
                await client.post(path(r.json()["confirm_url"]))
            # tracking never asked: allowed in us_optout by config, not under GDPR
            assert (await e.prepare("us@example.com", HTML)).tracked
            assert not (await e.prepare("eu@example.com", HTML)).tracked


async def test_unsubscribe_get_changes_nothing_and_one_click_works(env: Env) -> None:
    await env.subscribe("dan@example.com", ["news", "deals"], tracking=True)
    prep = await env.prepare("dan@example.com", HTML, now=1_000_000)
    unsub = path(prep.unsubscribe_url)
    for _ in range(3):
        g = await env.client.get(unsub)
        assert g.status_code == 200 and "List-Unsubscribe" in g.text and "Preferences" in g.text
        h = await env.client.head(unsub)
        assert h.status_code == 200
    assert env.rows("SELECT COUNT(*) FROM email_suppressions")[0][0] == 0
    assert env.rows("SELECT COUNT(*) FROM consent_events WHERE kind = 'withdraw'")[0][0] == 0

    events_before = env.rows("SELECT COUNT(*) FROM consent_events")[0][0]
    env.client.cookies.clear()
    r = await env.client.post(unsub, content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "location" not in r.headers
    assert "set-cookie" not in r.headers
    r2 = await env.client.post(unsub, files={"List-Unsubscribe": (None, "One-Click")})
    assert r2.status_code == 200 and "already" in r2.text  # idempotent
    assert env.rows("SELECT COUNT(*) FROM consent_events")[0][0] == events_before + 1
    w = env.rows("SELECT payload FROM consent_events WHERE kind = 'withdraw'")
    assert '"news":false' in w[0][0] and '"one_click"' in w[0][0]
    assert {r[0] for r in env.rows("SELECT scope FROM email_suppressions")} == {"news"}
    with pytest.raises(Exception, match="unsubscribed"):
        await env.prepare("dan@example.com", HTML)
    assert (await env.prepare("dan@example.com", HTML, list_id="deals")).tracked

    # After unsubscribing, nothing more is stored from the old message.
    before = len(env.engagement())
    await env.client.get(path(links(prep.html, "o")[0]))
    r = await env.client.get(path(links(prep.html, "c")[1]))
    assert r.status_code == 302  # the link still works for the person
    assert len(env.engagement()) == before
    assert env.email.pipeline.counters.for_campaign("shop", "spring")["open"] == {"suppressed": 1}


async def test_one_click_multipart_first_and_preferences(env: Env) -> None:
    await env.subscribe("eve@example.com", ["news", "deals"], tracking=True)
    prep = await env.prepare("eve@example.com", HTML)
    r = await env.client.post(path(prep.unsubscribe_url),
                              files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    prep2 = await env.prepare("eve@example.com", HTML, list_id="deals")
    r = await env.client.post(path(prep2.unsubscribe_url),
                              data={"preferences": "1", "scope": "all", "tracking": "off"})
    assert r.status_code == 200
    scopes = {r[0] for r in env.rows("SELECT scope FROM email_suppressions")}
    assert scopes == {"news", "deals", "#all", "#tracking"}
    r = await env.client.post(path(prep2.unsubscribe_url), data={"something": "else"})
    assert r.status_code == 400


async def test_tracking_withdrawn_stops_logging_but_not_mail(env: Env) -> None:
    await env.subscribe("fay@example.com", ["news", "deals"], tracking=True)
    prep = await env.prepare("fay@example.com", HTML)
    unsub_deals = (await env.prepare("fay@example.com", HTML, list_id="deals")).unsubscribe_url
    r = await env.client.post(path(unsub_deals), data={"preferences": "1", "scope": "list",
                                                        "tracking": "off"})
    assert r.status_code == 200
    await env.client.get(path(links(prep.html, "o")[0]))
    assert env.engagement("open") == []
    again = await env.prepare("fay@example.com", HTML)
    assert not again.tracked


async def test_signup_after_unsubscribe_resubscribes(env: Env) -> None:
    await env.subscribe("gil@example.com", ["news"], tracking=True)
    prep = await env.prepare("gil@example.com", HTML)
    await env.client.post(path(prep.unsubscribe_url), data={"List-Unsubscribe": "One-Click"})
    await env.subscribe("gil@example.com", ["news"], tracking=True)
    assert (await env.prepare("gil@example.com", HTML)).tracked


async def test_a_burst_asks_for_reclassification_once_per_window() -> None:
    from pixel.email.classify import BurstTracker

    b = BurstTracker(window=2.0)
    # A replayed honeypot link: the first click reclassifies, the next thousand do not.
    assert await b.first_flag("m1", 100.0)
    assert not any([await b.first_flag("m1", 100.0 + i / 1000) for i in range(1, 1000)])
    assert await b.first_flag("m2", 100.5)  # another message is its own burst
    # Quiet for longer than the window: a new burst reclassifies again.
    assert await b.first_flag("m1", 103.1)


async def test_replayed_honeypot_clicks_stay_machine_and_counted(env: Env) -> None:
    import time

    await env.subscribe("dan@example.com", ["news"], tracking=True)
    prep = await env.prepare("dan@example.com", HTML, now=time.time() - 3600)
    honeypot = next(u for u in links(prep.html, "c") if "link" not in u and
                    env.email.tokens.verify_click(path(u).split("/")[-1]).link == -1)
    first = next(u for u in links(prep.html, "c") if "sale" in _dest(env, u))
    await env.client.get(path(first))
    for _ in range(20):
        r = await env.client.get(path(honeypot))
        assert r.status_code in (302, 303, 307)
    rows = env.engagement("click")
    assert len(rows) == 21 and all(m == 1 for _, _, m, *_ in rows)  # the human-looking one too


async def test_pixel_fast_path_answers_like_the_routed_pixel(env: Env) -> None:
    """The plain-ASGI fast path and the routed handler give the same bytes and headers."""
    from pixel.email.routes import open_pixel

    await env.subscribe("eve@example.com", ["news"], tracking=True)
    prep = await env.prepare("eve@example.com", HTML)
    pixel = path(links(prep.html, "o")[0])
    fast = await env.client.get(pixel, headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0)"})
    stored = len(env.engagement("open"))
    head = await env.client.head(pixel)
    bad = await env.client.get("/e/o/not-a-token.gif")
    opens = env.engagement("open")
    assert stored == 1 and [o[1:3] for o in opens] == [("human", 0), ("bot", 1)]  # HEAD: machine
    assert fast.status_code == bad.status_code == head.status_code == 200
    assert fast.content == bad.content and len(fast.content) == 43 and head.content == b""
    # The routed handler, called directly, answers the same.
    scope = {"type": "http", "method": "GET", "path": pixel, "headers": [],
             "path_params": {"token": pixel[5:-4]}, "app": env.client._transport.app,  # type: ignore[attr-defined]
             "query_string": b""}
    from starlette.requests import Request

    routed = await open_pixel(Request(scope))
    assert routed.body == fast.content and routed.status_code == 200
    for h in ("cache-control", "content-type", "pragma", "expires", "content-length"):
        assert routed.headers[h] == fast.headers[h], h
    # A mangled pixel path is the same GIF (issue 12: it was the router's JSON 404); what
    # the fast path must not take (another method) still reaches the router.
    mangled = await env.client.get("/e/o/a/b.gif")
    assert mangled.status_code == 200 and mangled.content == fast.content
    assert (await env.client.post(pixel)).status_code == 405


async def test_an_expired_confirmation_link_is_gone(env: Env) -> None:
    # The domain says GONE; the route shows its own page with 410 (not the bad-link 400).
    r = await env.client.post("/v1/sites/shop/email/signup", json={
        "email": "late@example.org", "lists": ["news"], "tracking": False, "country": "DE"},
        headers={"Authorization": f"Bearer {env.key}"})
    assert r.status_code == 202, r.text
    conn = sqlite3.connect(env.db)
    with conn:
        conn.execute("UPDATE email_signups SET created = '2000-01-01T00:00:00Z'")
    conn.close()
    r = await env.client.post(path(r.json()["confirm_url"]))
    assert r.status_code == 410
    assert "This link has expired" in r.text
    assert env.rows("SELECT COUNT(*) FROM consent_events")[0][0] == 0
    r = await env.client.post("/e/s/not-a-token")
    assert r.status_code == 400


async def test_an_old_import_does_not_resubscribe_after_an_unsubscribe(env: Env) -> None:
    """A CRM export carrying a consent from before the unsubscribe is not a new yes."""
    await env.subscribe("hal@example.com", ["news", "deals"], tracking=True)
    prep = await env.prepare("hal@example.com", HTML)
    r = await env.client.post(path(prep.unsubscribe_url), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    consents = env.email.consents

    async def old_import(consented_at: str | None) -> Any:
        return await consents.import_consent(
            "shop", "Hal@Example.com", ["news"], tracking=None, country="DE", language="en",
            evidence={"consented_at": consented_at, "source": "crm-export"})

    assert await old_import("2020-01-01") is None  # carried a consent older than the "no"
    assert await old_import(None) is None  # no date at all: never over a "no"
    with pytest.raises(Exception, match="unsubscribed"):
        await env.prepare("hal@example.com", HTML)
    with pytest.raises(FieldError, match="future"):  # would outrank every later "no"
        await old_import("2999-01-01T00:00:00Z")
    # a consent collected after the unsubscribe is a genuine new yes
    assert await old_import(iso(utc_now())) is not None
    assert (await env.prepare("hal@example.com", HTML)).tracked is not None
