"""The dashboards' layout with the demo's own (long, bilingual) texts: no sideways scrolling on
a laptop or a phone, charts whose labels can be read, and a subject's page that shows the
notices collapsed instead of every text at full length."""

from __future__ import annotations

import base64
import json
import re
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboards.passwords import hash_password
from tests.browser.conftest import DEMO_TOML, Server, _start, _stop, free_port

PASSWORD = "privacy-officer-password"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 664}
# Every regime and both languages, so the regime and language tables have all their rows.
PLAN = [("DE", None, "en", "accept_all"), ("DE", None, "en", "reject_all"),
        ("FR", None, "zh-CN", "custom"), ("CN", None, "zh-CN", "accept_all"),
        ("CN", None, "zh-CN", "reject_all"), ("US", "CA", "en", "custom"),
        ("US", "CA", "en", "accept_all"), ("JP", None, "en", "accept_all")]


def _post(server: Server, body: dict[str, Any], country: str, region: str | None,
          token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "X-Country": country,
               **({"X-Region": region} if region else {}),
               **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(server.url("/v1/sites/demo/consent"),
                                 data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 201)
        return dict(json.load(r))


@pytest.fixture(scope="module")
def demo_dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dash-layout")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    text = DEMO_TOML.read_text("utf-8").replace(
        'origins = ["http://127.0.0.1:8000", "http://localhost:8000"]', f'origins = ["{base}"]')
    text += f'\n[sites.demo.users]\ndpo = "{hash_password(PASSWORD)}"\n'
    cfg = tmp / "consentry.toml"
    cfg.write_text(text, "utf-8")
    db = tmp / "ledger.db"
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(cfg), "--port",
                   str(port), "--database", f"sqlite:///{db}"],
                  {"CONSENTRY_SECRET": "dashboard-layout-secret-" + "e" * 40,
                   "CONSENTRY_COUNTRY_HEADER": "X-Country",
                   "CONSENTRY_SUBDIVISION_HEADER": "X-Region", "CONSENTRY_PUBLIC_URL": base},
                  port, tmp)
    server = Server(base, db, proc, tmp / "server.log")
    try:
        for country, region, lang, action in PLAN:
            body: dict[str, Any] = {"action": action, "revision": 1, "language": lang}
            if action == "custom":
                body["purposes"] = {"analytics": True, "marketing": False}
            _post(server, body, country, region)
        # One person who changed their mind in both languages: two notices, four events.
        first = _post(server, {"action": "accept_all", "revision": 1, "language": "en"}, "CN", None)
        token = first["token"]
        for lang, action in (("zh-CN", "reject_all"), ("zh-CN", "accept_all"), ("en", "reject_all")):
            token = _post(server, {"action": action, "revision": 1, "language": lang}, "CN", None,
                          token)["token"]
        server.extra["subject"] = first["consent_id"]
        yield server
    finally:
        _stop(proc)


@pytest.fixture
def dash_page(browser: Browser, demo_dash: Server) -> Iterator[Page]:
    """A logged-in dashboard session; the viewport is set by each test."""
    ctx = browser.new_context(viewport=LAPTOP)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(demo_dash.url("/dashboard/login"))
        page.get_by_label("User name", exact=True).fill("dpo")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/dashboard/(?!login)"))
        yield page
        assert not errors, errors
    finally:
        ctx.close()


def open_subject(page: Page, server: Server) -> None:
    page.goto(server.url("/dashboard/sites/demo/ledger"))
    page.get_by_label("Consent id, recipient id or e-mail address").fill(server.extra["subject"])
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#events")).to_contain_text("reject_all")


OVERFLOW = """() => [document.documentElement.scrollWidth, innerWidth,
    [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
      .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 40))]"""


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280", "390"])
def test_no_page_scrolls_sideways(dash_page: Page, demo_dash: Server,
                                  viewport: dict[str, int]) -> None:
    page = dash_page
    page.set_viewport_size(viewport)
    for path in ("/dashboard/sites/demo/consent", "/dashboard/sites/demo/email",
                 "/dashboard/sites/demo/ledger", None):
        if path is None:
            open_subject(page, demo_dash)
        else:
            page.goto(demo_dash.url(path))
        wide, inner, culprits = page.evaluate(OVERFLOW)
        assert wide <= inner, (path or "subject", wide, inner, culprits)
    if viewport is LAPTOP:  # on a laptop the regime and language tables fit without scrolling
        page.goto(demo_dash.url("/dashboard/sites/demo/consent"))
        for caption in ("regime that applied", "language the banner showed"):
            table = page.locator("table", has=page.locator("caption", has_text=caption))
            assert table.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")


def test_a_subjects_page_shows_the_notices_collapsed(dash_page: Page, demo_dash: Server) -> None:
    page = dash_page
    open_subject(page, demo_dash)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, height
    notices = page.locator("details.notice")
    assert notices.count() == 2  # one per language the person saw
    for n in notices.all():
        assert n.get_attribute("open") is None
    # the event's link to what it showed opens that notice
    page.locator("#events a[href^='#t-']").first.click()
    target = page.evaluate("location.hash.slice(1)")
    notice = page.locator(f"details.notice[data-notice='{target.removeprefix('t-')}']")
    expect(notice).to_have_attribute("open", "")
    expect(notice.get_by_text("Strictly necessary").first).to_be_visible()


def _font_sizes(uri: str) -> list[float]:
    svg = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")
    return [float(x) for x in re.findall(r"font-size:\s*([\d.]+)px", svg)]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280", "390"])
def test_chart_labels_are_readable(dash_page: Page, demo_dash: Server,
                                   viewport: dict[str, int]) -> None:
    """Every text in a chart is at least 12 px in the SVG, and still at least 12 px (laptop)
    or 10 px (phone) once the chart is scaled to the width it is shown at."""
    page = dash_page
    page.set_viewport_size(viewport)
    page.goto(demo_dash.url("/dashboard/sites/demo/consent"))
    charts = page.locator("img.chart").all()
    assert len(charts) >= 4
    floor = 12 if viewport is LAPTOP else 10
    for img in charts:
        uri, shown, natural = img.evaluate("i => [i.src, i.clientWidth, i.naturalWidth]")
        sizes = _font_sizes(uri)
        assert sizes and min(sizes) >= 12, sizes
        assert min(sizes) * shown / natural >= floor, (min(sizes), shown, natural)
