"""The dashboards in Chromium: log in, walk every view, screenshot each into docs/img/.

A real `consentry serve` on its own SQLite file, seeded over HTTP through the consent API and
the e-mail endpoints (the tracked message itself is prepared in-process with the same secret).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.config import load_config
from cmp.settings import Settings
from dashboards.passwords import hash_password
from pixel.email.service import EmailService
from tests.browser.conftest import Server, _start, _stop, free_port
from tests.conftest import site_toml

# The README's screenshots are re-taken only when asked (CONSENTRY_SCREENSHOTS=1): a test run
# must not rewrite tracked files.
IMG = (Path(__file__).resolve().parents[2] / "docs" / "img"
       if os.environ.get("CONSENTRY_SCREENSHOTS") == "1"
       else Path(tempfile.mkdtemp(prefix="consentry-shots-")))
SECRET = "browser-dashboard-secret-" + "d" * 40
PASSWORD = "privacy-officer-password"
XSS = '<img src=x onerror="window.xss=1"><script>window.xss=2</script>'
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36")
MPP = "Mozilla/5.0"
EMAIL = """
[sites.shop.email]
sender = "Shop News <news@shop.example>"
base_url = "{base}"
unsubscribe_mailto = "unsubscribe@shop.example"
tracking_text.en = "Measure whether I open and click your e-mails."

[sites.shop.email.lists.news]
title.en = "Weekly news"

[sites.shop.users]
dpo = "{pw_hash}"
"""
MAIL = """<html><body><a href="https://shop.example/sale">Sale</a>
<a href="https://shop.example/new">New</a></body></html>"""


def _req(server: Server, path: str, *, data: Any = None, headers: dict[str, str] | None = None,
         method: str | None = None) -> tuple[int, bytes]:
    body = json.dumps(data).encode() if isinstance(data, dict) else data
    h = {"User-Agent": UA, **({"Content-Type": "application/json"} if isinstance(data, dict)
                              else {}), **(headers or {})}
    req = urllib.request.Request(server.url(path), data=body, headers=h, method=method)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def seed(server: Server, cfg: Path, key: str) -> str:
    """Consents, e-mail signups and engagement; returns the consent id sent with markup."""
    plan = [("DE", "en", "accept_all")] * 14 + [("DE", "en", "reject_all")] * 6 + \
        [("FR", "zh-CN", "accept_all")] * 4 + [("CN", "zh-CN", "reject_all")] * 5 + \
        [("CN", "zh-CN", "accept_all")] * 3 + [("US", "en", "accept_all")] * 7 + \
        [("US", "en", "custom")] * 4 + [("DE", "en", "custom")] * 3
    for country, lang, action in plan:
        body: dict[str, Any] = {"action": action, "revision": 3, "language": lang}
        if action == "custom":
            body["purposes"] = {"analytics": True, "marketing": False}
        status, _ = _req(server, "/v1/sites/shop/consent", data=body,
                         headers={"X-Country": country, **({"X-Region": "CA"}
                                                          if country == "US" else {})})
        assert status == 201
    _, out = _req(server, "/v1/sites/shop/consent", data={"action": "accept_all", "revision": 3},
                  headers={"X-Country": "DE", "User-Agent": XSS})
    xss_id = str(json.loads(out)["consent_id"])
    addresses = [f"reader{i}@example.com" for i in range(6)]
    for addr in addresses:
        status, out = _req(server, "/v1/sites/shop/email/signup", data={
            "email": addr, "lists": ["news"], "tracking": True, "country": "DE"},
            headers={"Authorization": f"Bearer {key}"})
        assert status == 202, out
        confirm = json.loads(out)["confirm_url"].removeprefix(server.base)
        assert _req(server, confirm, data=b"", method="POST")[0] == 200

    async def prepare() -> list[tuple[str, Any]]:
        settings = Settings.load(cfg, database=f"sqlite:///{server.db}",
                                 secret_file=str(cfg.parent / "unused"), public_url=server.base)
        svc = Services.build(load_config(cfg), settings, master_secret=SECRET.encode())
        await svc.storage.open()
        sent_at = time.time() - 3600  # an hour ago: no person's click is too soon
        try:
            email = EmailService.build(svc)
            return [(c, await email.preparer.prepare("shop", campaign=c, list_id="news", to=a,
                                                     html_body=MAIL, now=sent_at))
                    for c in ("spring-sale", "summer-news") for a in addresses]
        finally:
            await svc.storage.close()

    # In a thread of its own: sync Playwright keeps an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        prepared = pool.submit(asyncio.run, prepare()).result()
    def links(prep: Any, kind: str) -> list[str]:
        return [u.replace("&amp;", "&").removeprefix(server.base)
                for u in re.findall(rf'"({re.escape(server.base)}/e/{kind}/[^"]+)"', prep.html)]

    for i, (campaign, prep) in enumerate(prepared):
        opener = links(prep, "o")[0]
        _req(server, opener, headers={"User-Agent": MPP if i % 3 == 0 else UA})
        if i % 2 == 0:
            _req(server, opener, headers={"User-Agent": MPP})
        if campaign == "spring-sale" and i == 4:
            for u in links(prep, "c"):  # a link scanner: every link, honeypot included
                _req(server, u)
        if i in (5, 9):
            _req(server, prep.unsubscribe_url.removeprefix(server.base),
                 data=b"List-Unsubscribe=One-Click", method="POST",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    time.sleep(2.5)  # people click later than the scanner's burst window
    for i, (_, prep) in enumerate(prepared):
        if i % 3 != 0:  # [0] is the hidden honeypot link: a person clicks the first real one
            _req(server, links(prep, "c")[1])
    return xss_id


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dash")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key, key_hash = generate_admin_key()
    cfg = tmp / "consentry.toml"
    text = site_toml("shop", key_hash, origin=base) + EMAIL.format(
        base=base, pw_hash=hash_password(PASSWORD))
    text = text.replace('name = "Site shop"', 'name = "Shop"')
    text = text.replace('description.en = "We use cookies."', f"description.en = {json.dumps(XSS)}")
    cfg.write_text(text, "utf-8")
    db = tmp / "ledger.db"
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(cfg), "--port",
                   str(port), "--database", f"sqlite:///{db}"],
                  {"CONSENTRY_SECRET": SECRET, "CONSENTRY_COUNTRY_HEADER": "X-Country",
                   "CONSENTRY_SUBDIVISION_HEADER": "X-Region",
                   "CONSENTRY_PUBLIC_URL": base}, port, tmp)
    server = Server(base, db, proc, tmp / "server.log")
    try:
        server.extra["xss_id"] = seed(server, cfg, key)
        yield server
    finally:
        _stop(proc)


def shot(page: Page, name: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    out = IMG / f"dashboard-{name}.png"
    page.screenshot(path=str(out), full_page=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dashboard_login_views_and_screenshots(browser: Browser, dash_server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, user_agent=UA)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(dash_server.url("/dashboard/sites/shop/email"))
        expect(page.get_by_role("heading", name="Log in to the dashboard")).to_be_visible()
        shot(page, "login")
        page.get_by_label("User name", exact=True).fill("dpo")
        page.get_by_label("Password", exact=True).fill("wrong-password-here")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong name")
        page.get_by_label("User name", exact=True).fill("dpo")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/dashboard/sites/shop/email")  # back where they were going

        page.goto(dash_server.url("/dashboard/sites/shop/consent"))
        expect(page.locator("#total-decisions")).to_have_text("47")
        for img in page.locator("img.chart").all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        shot(page, "consent")

        page.goto(dash_server.url("/dashboard/sites/shop/email?campaign=spring-sale"))
        expect(page.locator('[data-cell="spring-sale:sends"]')).to_have_text("6")
        expect(page.locator('[data-cell="summer-news:sends"]')).to_have_text("6")
        expect(page.locator('[data-cell="spring-sale:unsubscribes"]')).to_have_text("1")
        shot(page, "email")
        for width in (1280, 390):  # the campaign tables scroll in their box, never the page
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), width
        page.set_viewport_size({"width": 1200, "height": 900})

        page.goto(dash_server.url("/dashboard/sites/shop/ledger"))
        page.get_by_role("button", name="Verify this site's hash chain").click()
        expect(page.locator("#verify-report")).to_contain_text("Chain intact")
        page.get_by_label("Consent id, recipient id or e-mail address").fill(
            "Reader5@Example.com")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#events")).to_contain_text("double_opt_in")
        assert "reader5" not in page.url.lower()  # the address never reaches a URL
        shot(page, "ledger")

        with page.expect_download() as dl:
            page.get_by_role("button", name="Export (JSON)").click()
        doc = json.loads(Path(dl.value.path()).read_text("utf-8"))
        assert doc["subject"].startswith("r_") and doc["events"]

        page.get_by_role("button", name="Erase…").click()
        expect(page.locator("#confirm-erase")).to_be_visible()
        shot(page, "erase-confirm")
        page.get_by_role("button", name=re.compile("^Yes, erase")).click()
        expect(page.locator("#erased")).to_contain_text("rows anonymised")

        # Markup in a banner text (shown in the notice) and in a User-Agent stays text.
        page.get_by_label("Consent id, recipient id or e-mail address").fill(
            dash_server.extra["xss_id"])
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#events")).to_contain_text("accept_all")
        page.locator("details.notice > summary").first.click()  # notices start closed
        expect(page.get_by_text(XSS).first).to_be_visible()
        assert page.evaluate("window.xss") is None

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/dashboard/login")
        page.goto(dash_server.url("/dashboard/sites/shop/consent"))
        expect(page).to_have_url(re.compile(r"/dashboard/login\?next=/dashboard/sites/shop/consent$"))
        assert not errors, errors
    finally:
        ctx.close()
