"""Cross-device consent in real Chromium: a choice made in one browser context on a signed-in
page applies in a second context signed in as the same member (no banner, same choices, gated
markup runs, a Consent Mode update pushed); a forged hint changes nothing."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from cmp.hints import make_hint
from cmp.keys import Keyring
from tests.browser.conftest import Server

# A signed-in page of the customer's own, as its backend renders it: the hint on the snippet,
# a listener for the banner's events, and markup gated on analytics and on marketing.
MEMBER_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Account</title>
<script>window.seen = []; document.addEventListener("consentry:consent",
  function (e) {{ window.seen.push(e.detail.consent); }});</script>
<script src="/cmp.js" data-site="demo" data-person="{hint}"></script>
<script type="text/plain" data-consent="analytics">window.ranAnalytics = 1;</script>
<script type="text/plain" data-consent="marketing">window.ranMarketing = 1;</script>
</head><body><h1>Your account</h1></body></html>"""


def hint_key(server: Server) -> bytes:
    """The demo site's hint secret, derived as the server derives it (`consentry keys
    secrets` prints the same): from CONSENTRY_SECRET, else the demo's secret file."""
    secret = os.environ.get("CONSENTRY_SECRET") or \
        (server.db.parent / "consentry.secret").read_text().strip()
    return Keyring(secret.encode()).site("demo").hint_key


def open_member_page(new_page: Any, server: Server, hint: str) -> Page:
    page, rec = new_page()
    url = server.url("/account")
    page.route(url, lambda r: r.fulfill(body=MEMBER_PAGE.format(hint=hint),
                                        content_type="text/html"))
    page.goto(url)
    page.evaluate("Consentry.ready")
    assert not rec.errors, rec.errors
    return page


def gcm_updates(page: Page) -> list[dict[str, str]]:
    return list(page.evaluate("dataLayer.map(e => Array.from(e))"
                              ".filter(e => e[0] === 'consent' && e[1] === 'update')"
                              ".map(e => e[2])"))


def choice(consent: dict[str, Any]) -> dict[str, Any]:
    return {k: consent[k] for k in ("purposes", "vendors", "separate")}


def hints_counted(server: Server) -> dict[str, int]:
    with urllib.request.urlopen(server.url("/metrics")) as r:
        text = r.read().decode()
    return {m[0]: int(m[1]) for m in re.findall(
        r'^consentry_person_hints_total\{site="demo",outcome="(\w+)"\} (\d+)$', text, re.M)}


def test_a_choice_follows_the_member_to_another_browser(demo_server: Server, new_page) -> None:
    before = hints_counted(demo_server)
    # Context A: the demo's own signed-in page (its server makes the hint); Accept all.
    a, rec_a = new_page()
    a.goto(demo_server.url("/demo/member?ref=M-4242"))
    expect(a.locator("#demo-member")).to_contain_text("M-4242")
    banner = a.locator(".cmp-banner")
    expect(banner).to_be_visible()  # the member has no choice yet
    banner.get_by_role("button", name="Accept all").click()
    expect(banner).to_have_count(0)
    mine = a.evaluate("Consentry.getConsent()")
    assert mine["purposes"]["marketing"] is True and mine["purposes"]["analytics"] is True
    assert not rec_a.errors, rec_a.errors

    # Context B: another browser, the same member; this hint made as the customer's backend
    # makes it, with the site's hint secret.
    b = open_member_page(new_page, demo_server, make_hint(hint_key(demo_server), "demo",
                                                          "M-4242"))
    expect(b.locator(".cmp-fab")).to_be_visible()  # the preferences button, not the banner
    expect(b.locator(".cmp-banner")).to_have_count(0)
    theirs = b.evaluate("Consentry.getConsent()")
    assert choice(theirs) == choice(mine)
    assert theirs["consent_id"] != mine["consent_id"]  # B's own consent id, linked
    # applied as a stored choice: the gated markup ran, Consent Mode was updated, the event came
    b.wait_for_function("window.ranAnalytics === 1 && window.ranMarketing === 1")
    last = gcm_updates(b)[-1]
    assert last["ad_storage"] == last["analytics_storage"] == "granted", last
    assert [c["consent_id"] for c in b.evaluate("window.seen")] == [theirs["consent_id"]]
    # the token is stored: a reload shows no banner and records nothing new
    assert "consentry" in {c["name"] for c in b.context.cookies()}
    events = demo_server.events(theirs["consent_id"])
    assert [(e["kind"], e["method"], e["action"]) for e in events] == [
        ("grant", "person_hint", "sign_in")]
    b.reload()
    b.evaluate("Consentry.ready")
    expect(b.locator(".cmp-banner")).to_have_count(0)
    assert len(demo_server.events(theirs["consent_id"])) == 1

    # Context C: a forged hint for the same member changes nothing: the banner asks.
    forged = make_hint(b"a secret that is not the demo site's one", "demo", "M-4242")
    c = open_member_page(new_page, demo_server, forged)
    expect(c.locator(".cmp-banner")).to_be_visible()
    assert c.evaluate("Consentry.getConsent()") is None
    assert c.evaluate("window.ranAnalytics") is None and c.evaluate("window.seen") == []
    assert all(u.get("ad_storage") != "granted" for u in gcm_updates(c))
    assert "consentry" not in {x["name"] for x in c.context.cookies()}
    after = hints_counted(demo_server)
    assert after.get("forged", 0) == before.get("forged", 0) + 1
    assert after.get("ok", 0) >= before.get("ok", 0) + 3  # A's page and choice, B's page


def test_identify_on_a_running_page_applies_the_members_choice(demo_server: Server,
                                                              new_page) -> None:
    """A single-page app signs the member in after load: Consentry.identify(hint)."""
    key = hint_key(demo_server)
    a = open_member_page(new_page, demo_server, make_hint(key, "demo", "M-5151"))
    a.locator(".cmp-banner").get_by_role("button", name="Reject all").click()
    expect(a.locator(".cmp-banner")).to_have_count(0)
    page, rec = new_page()
    page.goto(demo_server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    got = page.evaluate("h => Consentry.identify(h)", make_hint(key, "demo", "M-5151"))
    assert got is not None and got["purposes"]["analytics"] is False
    expect(page.locator(".cmp-banner")).to_have_count(0)
    assert gcm_updates(page)[-1]["analytics_storage"] == "denied"
    # a bad hint through the API: nothing changes, the consent in effect is answered
    again = page.evaluate("Consentry.identify('v1.not.a-hint')")
    assert json.dumps(again, sort_keys=True) == json.dumps(got, sort_keys=True)
    assert not rec.errors, rec.errors
