"""The shared grant case table against the rule inside the served /cmp.js, in real Chromium.

tests/grant_cases.json is the same file tests/test_grant_cases.py runs against cmp/grants.py:
the banner gates with these very functions (Consentry.grants), so the two cannot drift.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Recorder, Server

TABLE = Path(__file__).resolve().parents[1] / "grant_cases.json"

RUN_TABLE = """table => table.cases.filter(c => {
    const cfg = table.configs[c.config];
    const got = c.kind === "choose"
        ? Consentry.grants.choose(cfg, c.action, c.answers, c.gpc)
        : Consentry.grants.effective(cfg, c.state, c.gpc);
    // exactly the three maps, every configured id as a key, true/false only
    const norm = g => JSON.stringify(["purposes", "vendors", "separate"].map(
        k => Object.keys(g[k] || {}).sort().map(id => [id, g[k][id]])));
    c.got = got;
    return norm(got) !== norm(c.expect) || Object.keys(got).sort().join() !== "purposes,separate,vendors";
}).map(c => ({name: c.name, got: c.got, expect: c.expect}))"""


def test_case_table_passes_against_the_served_banner(demo_server: Server, new_page) -> None:
    table = json.loads(TABLE.read_text("utf-8"))  # missing: fails, the table is the contract
    assert table["cases"], "empty case table"
    page, rec = new_page()
    page.goto(demo_server.url("/"))  # the demo page embeds /cmp.js as a customer does
    page.wait_for_function("window.Consentry && Consentry.grants")
    failed = page.evaluate(RUN_TABLE, table)
    assert not failed, "failing cases: " + "; ".join(
        f"{f['name']}: got {f['got']} expected {f['expect']}" for f in failed)
    assert rec.errors == []


def test_necessary_sdk_still_runs_after_reject_all_and_reload(demo_server: Server,
                                                              new_page) -> None:
    """The bot check (NetEase Yidun stand-in) serves only the necessary purpose: no choice may
    stop it, whatever the consent answer lists for it."""
    page, _ = new_page()
    page.goto(demo_server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    page.locator(".cmp-banner").get_by_role("button", name="Reject all").click()
    expect(page.locator(".cmp-fab")).to_be_visible()
    assert page.evaluate("Consentry.getConsent().vendors.netease_yidun") is True
    seen = sum(h["sdk"] == "netease_yidun" for h in demo_server.hits())
    rec = Recorder(page)
    page.reload()
    expect(page.locator(".cmp-fab")).to_be_visible()
    assert page.locator(".cmp-banner").count() == 0  # the refusal is remembered
    page.wait_for_function("(window.demoRan || []).some(r => r.sdk === 'netease_yidun')",
                           timeout=5000)
    page.wait_for_function("Consentry.getConsent() !== null")
    c = page.evaluate("Consentry.getConsent()")
    assert c["vendors"]["netease_yidun"] is True and c["purposes"]["necessary"] is True
    with urllib.request.urlopen(demo_server.url("/v1/sites/demo/config")) as r:
        necessary = {p["id"] for p in json.load(r)["purposes"] if p["necessary"]}
    assert {k for k, on in c["purposes"].items() if on} == necessary  # refused all else
    assert rec.any("sdk=netease_yidun")
    assert sum(h["sdk"] == "netease_yidun" for h in demo_server.hits()) > seen
    # nothing else gated ran
    assert page.evaluate("demoRan.map(r => r.sdk)") == ["netease_yidun"]
    assert not rec.any("sensors.js") and not rec.any("gtag.js")


@pytest.mark.parametrize("headers", [
    {"X-Country": "CN"}, {"X-Country": "DE", "Sec-GPC": "1"},
    {"X-Country": "US", "X-Region": "CA"}, {"X-Country": "US", "X-Region": "CA", "Sec-GPC": "1"},
])
def test_the_banners_defaults_are_the_servers(demo_server: Server, new_page,
                                              headers: dict[str, str]) -> None:
    """The config answer carries all the rule needs: with no choice, the banner's effective()
    over it grants what the server's policy engine lists as this visitor's defaults."""
    page, _ = new_page(extra_http_headers=headers)
    page.goto(demo_server.url("/"))
    page.wait_for_function("window.Consentry && Consentry.grants")
    got, want = page.evaluate("""() => fetch("/v1/sites/demo/config").then(r => r.json())
        .then(cfg => [Consentry.grants.effective(cfg, null, cfg.gpc), cfg.defaults])""")
    assert got == want
