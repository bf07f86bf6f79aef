"""The tag gate and the web beacon in Chromium, on the demo's /demo/tags page: a page that holds
only the banner snippet and gets every SDK from the config's tag catalog."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server

# Not HeadlessChrome: the beacon drops headless browsers as bots.
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/124.0.0.0 Safari/537.36")
TAG_SCRIPTS = ["/demo/static/yidun.js", "/demo/static/sensors.js", "/demo/static/gtag.js",
               "/demo/static/wechat.js"]
ANALYTICS = ["/demo/static/sensors.js", "sdk=sensors_data"]
ALL_RAN = ["netease_yidun", "sensors_data", "google_ads", "google_ads_config", "wechat"]


def ran(page: Page) -> list[str]:
    return list(page.evaluate("(window.demoRan || []).map(r => r.sdk)"))


def tag_requests(urls: list[str]) -> list[str]:
    return [s for u in urls for s in TAG_SCRIPTS if s in u]


def beacons(urls: list[str]) -> list[str]:
    return [u for u in urls if u.split("?")[0].endswith("/b")]


def until(page: Page, expr: str, timeout: float = 10) -> None:
    """Poll with evaluate (wait_for_function needs eval, which a strict CSP forbids)."""
    deadline = time.time() + timeout
    while not page.evaluate(expr):
        assert time.time() < deadline, f"timed out waiting for {expr}"
        page.wait_for_timeout(50)


def open_tags_page(page: Page, server: Server, path: str = "/demo/tags") -> None:
    """Load the page and wait until the tag gate has answered and its tags have run."""
    with page.expect_response(lambda r: r.url.endswith("/v1/sites/demo/tags")) as gate:
        page.goto(server.url(path))
    assert gate.value.status == 200
    until(page, "(window.demoRan || []).some(r => r.sdk === 'netease_yidun')")
    page.wait_for_timeout(300)  # room for anything else that would (wrongly) load


def gate_from_page(page: Page) -> dict[str, Any]:
    """Ask the tag gate with the token the page holds, as the banner does."""
    return dict(page.evaluate("""async () => {
        const m = document.cookie.match(/(?:^|; )consentry=([^;]*)/);
        const h = m ? {Authorization: "Bearer " + m[1]} : {};
        return (await fetch("/v1/sites/demo/tags", {headers: h, credentials: "omit"})).json();
    }"""))


def beacon_rows(server: Server) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT name, subject, url, props FROM beacon_events ORDER BY id").fetchall()
    finally:
        con.close()


def choose(page: Page, action: str) -> dict[str, Any]:
    page.locator(".cmp-banner").get_by_role("button", name=action).click()
    expect(page.locator(".cmp-fab")).to_be_visible()
    return dict(page.evaluate("Consentry.getConsent()"))


def test_before_a_choice_only_necessary_tags_load(demo_server: Server, new_page) -> None:
    page, rec = new_page(user_agent=UA)
    open_tags_page(page, demo_server)
    expect(page.locator(".cmp-banner")).to_be_visible()
    assert tag_requests(rec.urls) == ["/demo/static/yidun.js"]
    assert ran(page) == ["netease_yidun"]
    assert beacons(rec.urls) == []
    assert rec.errors == []


def test_with_analytics_denied_no_analytics_tag_or_beacon_leaves(demo_server: Server,
                                                                   new_page) -> None:
    page, rec = new_page(user_agent=UA)
    open_tags_page(page, demo_server)
    page.locator(".cmp-banner").get_by_role("button", name="Choose purposes").click()
    page.locator(".cmp-dialog label", has_text="Functional").first.locator("input").check()
    with page.expect_response(lambda r: r.url.endswith("/v1/sites/demo/tags")):
        page.locator(".cmp-dialog").get_by_role("button", name="Save").click()
    page.wait_for_function("(window.demoRan || []).some(r => r.sdk === 'wechat')")
    c = page.evaluate("Consentry.getConsent()")
    assert c["purposes"]["functional"] and not c["purposes"]["analytics"]
    assert page.evaluate("Consentry.track('signup', {plan: 'pro'})") is False
    page.get_by_role("button", name='Consentry.track("demo_click")').click()
    expect(page.locator("#demo-state")).to_contain_text("track: not allowed")
    # and on the next page
    open_tags_page(page, demo_server)
    page.wait_for_function("(window.demoRan || []).some(r => r.sdk === 'wechat')")
    assert page.evaluate("Consentry.track('again')") is False
    page.wait_for_timeout(300)
    for frag in ANALYTICS + ["/demo/static/gtag.js"]:
        assert not rec.any(frag), frag
    assert beacons(rec.urls) == []
    assert rec.errors == []


def test_accepting_loads_exactly_the_allowed_tags_in_declared_order(demo_server: Server,
                                                                    new_page) -> None:
    page, rec = new_page(user_agent=UA)
    open_tags_page(page, demo_server)
    before = len(beacon_rows(demo_server))
    with page.expect_request(lambda r: r.url.endswith("/b") and r.method == "POST") as sent:
        c = choose(page, "Accept all")
    page.wait_for_function("(window.demoRan || []).length >= 5")
    page.wait_for_timeout(300)
    assert ran(page) == ALL_RAN
    assert tag_requests(rec.urls) == TAG_SCRIPTS
    # each loaded once, in the catalog's order, after the consent update
    g = page.evaluate("demoRan.find(r => r.sdk === 'google_ads')")
    assert g["consent"]["ad_storage"] == "granted"
    # the page view went out as text/plain JSON through sendBeacon and was stored with consent
    req = sent.value
    assert req.headers["content-type"].startswith("text/plain")
    body = json.loads(req.post_data or "{}")
    assert body["s"] == "demo" and body["e"] == "pageview" and body["k"]
    page.evaluate("Consentry.track('signup', {plan: 'pro'})")
    _wait_rows(demo_server, before + 2)
    rows = beacon_rows(demo_server)[before:]
    assert [r[0] for r in rows] == ["pageview", "signup"]
    assert {r[1] for r in rows} == {c["consent_id"]}
    assert rows[1][3] == '{"plan":"pro"}' and rows[0][2].endswith("/demo/tags")
    # the return visit loads the same tags, in the same order, without asking
    rec.urls.clear()
    open_tags_page(page, demo_server)
    page.wait_for_function("(window.demoRan || []).length >= 5")
    assert ran(page) == ALL_RAN and tag_requests(rec.urls) == TAG_SCRIPTS
    expect(page.locator(".cmp-banner")).to_have_count(0)
    assert rec.errors == []


def _wait_rows(server: Server, n: int, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while len(beacon_rows(server)) < n:
        assert time.time() < deadline, f"{len(beacon_rows(server))} beacon rows, expected {n}"
        time.sleep(0.05)


def test_withdrawing_stops_tags_on_the_next_page_and_in_the_gate(demo_server: Server,
                                                                 new_page) -> None:
    page, rec = new_page(user_agent=UA)
    open_tags_page(page, demo_server)
    choose(page, "Accept all")
    page.wait_for_function("(window.demoRan || []).length >= 5")
    assert [t["id"] for t in gate_from_page(page)["tags"]] == [
        "yidun", "sensors", "gtag", "gtag_config", "wechat"]
    page.evaluate("Consentry.withdraw()")
    page.wait_for_function("!Object.values(Consentry.getConsent().purposes).slice(2).some(Boolean)")
    doc = gate_from_page(page)
    assert [t["id"] for t in doc["tags"]] == ["yidun"]
    assert {w["reason"] for w in doc["withheld"]} == {"refused"}
    rec.urls.clear()
    open_tags_page(page, demo_server)
    assert ran(page) == ["netease_yidun"]
    assert tag_requests(rec.urls) == ["/demo/static/yidun.js"]
    assert page.evaluate("Consentry.track('after_withdrawal')") is False
    page.wait_for_timeout(200)
    assert beacons(rec.urls) == []
    assert rec.errors == []


def test_a_forged_token_gets_only_necessary_tags(demo_server: Server, new_page) -> None:
    page, _ = new_page(user_agent=UA)
    open_tags_page(page, demo_server)
    choose(page, "Accept all")
    real = next(c["value"] for c in page.context.cookies() if c["name"] == "consentry")
    body, _, sig = real.rpartition(".")
    forged = body + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    page2, rec = new_page(user_agent=UA)
    page2.context.add_cookies([{"name": "consentry", "value": forged,
                                "url": demo_server.url("/")}])
    open_tags_page(page2, demo_server)
    assert ran(page2) == ["netease_yidun"]
    assert tag_requests(rec.urls) == ["/demo/static/yidun.js"]
    doc = gate_from_page(page2)
    assert doc["basis"] == "invalid_token" and [t["id"] for t in doc["tags"]] == ["yidun"]
    expect(page2.locator(".cmp-banner")).to_be_visible()  # and the banner asks again
    assert page2.evaluate("Consentry.track('forged')") is False
    assert beacons(rec.urls) == []


def test_inline_tags_run_under_a_strict_csp(demo_server: Server, new_page) -> None:
    page, rec = new_page(user_agent=UA)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
    open_tags_page(page, demo_server, "/demo/tags?csp=1")
    choose(page, "Accept all")
    until(page, "(window.demoRan || []).length >= 5")
    assert ran(page) == ALL_RAN
    assert violations == [] and rec.errors == []


def test_headless_browsers_are_not_counted_as_visitors(demo_server: Server, new_page) -> None:
    page, _ = new_page()  # Playwright's own HeadlessChrome user agent
    open_tags_page(page, demo_server)
    before = len(beacon_rows(demo_server))
    with page.expect_request(lambda r: r.url.endswith("/b")):
        choose(page, "Accept all")
    with urllib.request.urlopen(demo_server.url("/metrics")) as r:
        text = r.read().decode()
    assert 'outcome="bot"' in text
    assert len(beacon_rows(demo_server)) == before
