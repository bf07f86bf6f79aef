"""The banner in a real Chromium: gating, signals, state, cleanup, ledger."""

from __future__ import annotations

import gzip
import time
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Recorder, Server

GATED = ["/demo/static/sensors.js", "/demo/static/gtag.js", "/demo/video", "sdk=sensors_data",
         "sdk=google_ads", "sdk=recommendations", "sdk=wechat"]
DENIED_DEFAULT = {"ad_storage": "denied", "ad_user_data": "denied", "ad_personalization": "denied",
                  "analytics_storage": "denied", "functionality_storage": "denied",
                  "personalization_storage": "denied", "security_storage": "granted"}


def open_banner(page: Page, server: Server, path: str = "/") -> None:
    page.goto(server.url(path))
    expect(page.locator(".cmp-banner")).to_be_visible()


def data_layer(page: Page) -> list[list[Any]]:
    return list(page.evaluate("dataLayer.map(e => Array.from(e))"))


def ran(page: Page) -> list[str]:
    return list(page.evaluate("(window.demoRan || []).map(r => r.sdk)"))


def consent(page: Page) -> dict[str, Any]:
    c = page.evaluate("Consentry.getConsent()")
    assert c is not None
    return dict(c)


def until(page: Page, expr: str, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while not page.evaluate(expr):
        assert time.time() < deadline, f"timed out waiting for {expr}"
        page.wait_for_timeout(50)


def cookie_names(page: Page) -> set[str]:
    return {c["name"] for c in page.context.cookies()}


# --- delivery ------------------------------------------------------------------------------

def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, b""


def test_assets_are_compressed_and_cached(demo_server: Server) -> None:
    sizes = 0
    for name, ctype in (("cmp.js", "text/javascript"), ("cmp.css", "text/css")):
        status, h, plain = get(demo_server.url(f"/{name}"))
        assert status == 200 and h["content-type"].startswith(ctype)
        assert "content-encoding" not in h
        assert h["cache-control"] == "public, max-age=300" and h["etag"]
        status, hz, body = get(demo_server.url(f"/{name}?v=abc"), **{"Accept-Encoding": "gzip, br"})
        assert hz["content-encoding"] == "gzip" and gzip.decompress(body) == plain
        assert hz["cache-control"] == "public, max-age=31536000, immutable"
        assert "Accept-Encoding" in hz["vary"]
        sizes += len(body)
        status, _, _ = get(demo_server.url(f"/{name}"), **{"If-None-Match": h["etag"]})
        assert status == 304
    assert sizes <= 10 * 1024, f"banner is {sizes} bytes gzipped"


# --- gating and Consent Mode -----------------------------------------------------------------

def test_nothing_gated_runs_or_is_stored_before_a_choice(demo_server: Server, new_page) -> None:
    page, rec = new_page()
    open_banner(page, demo_server)
    page.wait_for_timeout(400)
    for frag in GATED:
        assert not rec.any(frag), frag
    assert rec.any("sdk=netease_yidun")  # strictly necessary vendor runs for everyone
    assert not rec.any("sdk=google_ads_pixel")
    assert page.context.cookies() == []
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    dl = data_layer(page)
    assert dl[0][:2] == ["consent", "default"]
    assert {k: v for k, v in dl[0][2].items() if k != "wait_for_update"} == DENIED_DEFAULT
    assert dl[0][2]["wait_for_update"] == 500
    assert ["set", "ads_data_redaction", True] in dl
    assert page.evaluate("uetq.slice(0, 3)") == ["consent", "default", {"ad_storage": "denied"}]
    assert page.locator("iframe[title]").get_attribute("src") is None
    expect(page.locator(".cmp-ph")).to_be_visible()
    assert page.evaluate("Consentry.getConsent()") is None
    assert rec.errors == []


def test_accept_all_runs_everything_in_order_after_the_update(demo_server: Server, new_page) -> None:
    page, rec = new_page()
    open_banner(page, demo_server)
    page.locator(".cmp-banner").get_by_role("button", name="Accept all").click()
    expect(page.locator(".cmp-fab")).to_be_visible()
    page.wait_for_function("(window.demoRan || []).length >= 5")
    assert ran(page) == ["netease_yidun", "sensors_data", "google_ads", "google_ads_config",
                         "recommendations"]
    page.wait_for_function("document.querySelector('iframe[title]').src !== ''")
    for frag in ("/demo/static/sensors.js", "/demo/static/gtag.js", "/demo/video",
                 "sdk=google_ads_pixel", "sdk=recommendations"):
        assert rec.any(frag), frag
    # the gated Google tag saw the default first and the granted update before it ran
    g = page.evaluate("demoRan.find(r => r.sdk === 'google_ads')")
    assert g["firstCommand"] == ["consent", "default"]
    assert g["consent"]["ad_storage"] == "granted" and g["consent"]["analytics_storage"] == "granted"
    assert page.evaluate("uetq.slice(-3)") == ["consent", "update", {"ad_storage": "granted"}]
    c = consent(page)
    assert all(c["purposes"].values()) and not any(c["separate"].values())
    jar = {k["name"]: k for k in page.context.cookies()}
    assert jar["consentry"]["sameSite"] == "Lax" and jar["consentry"]["path"] == "/"
    assert 364 * 86400 < jar["consentry"]["expires"] - time.time() <= 365 * 86400
    ev = demo_server.events(c["consent_id"])
    assert [e["action"] for e in ev] == ["accept_all"]
    assert ev[0]["revision"] == 1 and ev[0]["language"] == "en" and len(ev[0]["texts_hash"]) == 64
    assert ev[0]["regime"] == "pipl" and not any(ev[0]["choices"]["separate"].values())
    assert rec.errors == []


def test_custom_choice_runs_only_what_was_chosen(demo_server: Server, new_page) -> None:
    page, rec = new_page()
    open_banner(page, demo_server)
    page.get_by_role("button", name="Choose purposes").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("checkbox", name="Analytics").check()
    assert dialog.get_by_role("checkbox", name="Sensors Data (神策数据)").is_checked()
    assert dialog.get_by_role("checkbox", name="Strictly necessary").is_disabled()
    dialog.get_by_role("button", name="Save my choices").click()
    page.wait_for_function("(window.demoRan || []).some(r => r.sdk === 'sensors_data')")
    page.wait_for_timeout(300)
    assert rec.any("/demo/static/sensors.js")
    for frag in ("/demo/static/gtag.js", "/demo/video", "sdk=recommendations", "sdk=google_ads"):
        assert not rec.any(frag), frag
    update = [e for e in data_layer(page) if e[:2] == ["consent", "update"]][-1][2]
    assert update["analytics_storage"] == "granted" and update["ad_storage"] == "denied"
    c = consent(page)
    assert c["purposes"]["analytics"] and not c["purposes"]["marketing"]
    assert c["vendors"]["sensors_data"] and not c["vendors"]["google_ads"]
    ev = demo_server.events(c["consent_id"])
    assert ev[-1]["action"] == "custom" and ev[-1]["choices"]["purposes"]["analytics"] is True


def test_withdrawal_deletes_cookies_and_storage(custom_server: Server, new_page) -> None:
    page, rec = new_page()
    open_banner(page, custom_server)
    page.locator(".cmp-banner").get_by_role("button", name="Accept all").click()
    page.wait_for_function("(window.demoRan || []).length >= 5")
    assert {"sensorsdata2015jssdkcross", "sajssdk_2015_cross_new_user", "_gcl_au"} <= cookie_names(page)
    assert page.evaluate("localStorage.getItem('sensorsdata_demo_queue')") == "[]"
    page.locator(".cmp-fab").click()
    page.get_by_role("dialog").get_by_role("button", name="Withdraw my consent").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.wait_for_function("!Consentry.getConsent().purposes.analytics")
    assert cookie_names(page) == {"consentry"}  # the choice itself is remembered
    assert page.evaluate("localStorage.getItem('sensorsdata_demo_queue')") is None
    c = consent(page)
    ev = custom_server.events(c["consent_id"])
    assert [e["action"] for e in ev] == ["accept_all", "withdraw"]
    update = [e for e in data_layer(page) if e[:2] == ["consent", "update"]][-1][2]
    assert update["ad_storage"] == "denied" and update["analytics_storage"] == "denied"
    assert page.evaluate("uetq.slice(-3)") == ["consent", "update", {"ad_storage": "denied"}]
    # a later page load runs nothing gated and shows no banner (the refusal is remembered)
    page2, rec2 = page, Recorder(page)
    page2.reload()
    expect(page2.locator(".cmp-fab")).to_be_visible()
    page2.wait_for_timeout(300)
    assert page2.locator(".cmp-banner").count() == 0
    assert not rec2.any("sensors.js") and not rec2.any("gtag.js")


SUB_PAGE = """<!doctype html><html lang="en"><head><title>Shop item</title>
<script src="/cmp.js" data-site="demo"></script></head><body><h1>Item</h1></body></html>"""
STORED = """async () => ({
    dbs: (await indexedDB.databases()).map(d => d.name).sort(),
    caches: (await caches.keys()).sort(),
})"""


def test_withdrawal_deletes_sub_path_cookies_indexeddb_and_caches(custom_server: Server,
                                                                   new_page) -> None:
    """A page below / (cookies on its path and its parents), on http://127.0.0.1: a secure
    context, so Cache Storage exists. Only what the refused vendor declared goes."""
    page, rec = new_page()
    page.route(custom_server.url("/shop/item/42"),
               lambda r: r.fulfill(body=SUB_PAGE, content_type="text/html"))
    page.goto(custom_server.url("/shop/item/42"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    page.evaluate("Consentry.acceptAll()")
    page.evaluate("""async () => {
        document.cookie = 'sensorsdata2015jssdkcross=1; Path=/shop/item/42';
        document.cookie = 'sajssdk_2015_a=1; Path=/shop/item';
        document.cookie = 'sajssdk_2015_b=1; Path=/shop/';
        document.cookie = 'sajssdk_2015_c=1; Path=/shop';
        document.cookie = 'sajssdk_2015_d=1; Path=/';
        document.cookie = 'kept_cookie=1; Path=/shop';
        for (const name of ['sensorsdata-events', 'sensorsdata-queue', 'kept-db']) {
            await new Promise((ok, bad) => {
                const r = indexedDB.open(name, 1);
                r.onupgradeneeded = () => r.result.createObjectStore('s');
                r.onsuccess = () => { r.result.close(); ok(); };
                r.onerror = bad;
            });
        }
        for (const name of ['sensorsdata-sdk', 'kept-cache'])
            await (await caches.open(name)).put('/x', new Response('x'));
    }""")
    paths = {(c["name"], c["path"]) for c in page.context.cookies()}
    assert {("sensorsdata2015jssdkcross", "/shop/item/42"), ("sajssdk_2015_b", "/shop/"),
            ("sajssdk_2015_c", "/shop")} <= paths
    assert page.evaluate(STORED) == {
        "dbs": ["kept-db", "sensorsdata-events", "sensorsdata-queue"],
        "caches": ["kept-cache", "sensorsdata-sdk"]}
    page.evaluate("Consentry.withdraw()")
    page.wait_for_function("!Consentry.getConsent().vendors.sensors_data")
    until(page, "(async () => (await indexedDB.databases()).length == 1)()")
    left = cookie_names(page)
    assert {"consentry", "kept_cookie"} <= left
    assert not {n for n in left if n.startswith(("sajssdk_2015_", "sensorsdata"))}, left
    assert page.evaluate(STORED) == {"dbs": ["kept-db"], "caches": ["kept-cache"]}
    assert rec.errors == []


def test_turning_a_vendor_off_cleans_only_its_cookies(demo_server: Server, new_page) -> None:
    page, _ = new_page()
    open_banner(page, demo_server)
    page.evaluate("Consentry.acceptAll()")
    page.wait_for_function("(window.demoRan || []).length >= 5")
    page.evaluate("Consentry.show()")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("checkbox", name="Advertising").uncheck()
    assert not dialog.get_by_role("checkbox", name="Google Ads").is_checked()
    dialog.get_by_role("button", name="Save my choices").click()
    page.wait_for_function("!Consentry.getConsent().purposes.marketing")
    names = cookie_names(page)
    assert "_gcl_au" not in names and "sensorsdata2015jssdkcross" in names


def test_return_visit_sends_the_token_and_applies_it(demo_server: Server, new_page) -> None:
    page, _ = new_page()
    open_banner(page, demo_server)
    page.evaluate("Consentry.rejectAll()")
    expect(page.locator(".cmp-fab")).to_be_visible()
    auth: list[str | None] = []
    page.on("request", lambda r: auth.append(r.headers.get("authorization"))
            if "/config" in r.url else None)
    # 127.0.0.1 is a secure context: the token is read through cookieStore, without blocking
    assert page.evaluate("typeof window.cookieStore.get") == "function"
    page.reload()
    expect(page.locator(".cmp-fab")).to_be_visible()
    assert page.locator(".cmp-banner").count() == 0
    assert auth and auth[0] and auth[0].startswith("Bearer ")
    # an invalid (or expired) token means: ask again
    page.context.add_cookies([{"name": "consentry", "value": "forged.token", "url": demo_server.url()}])
    page.reload()
    expect(page.locator(".cmp-banner")).to_be_visible()
    assert page.evaluate("Consentry.getConsent()") is None


def test_elements_added_later_and_iframe_placeholder(demo_server: Server, new_page) -> None:
    page, rec = new_page()
    open_banner(page, demo_server)
    page.click("#demo-add")  # a tag added by page code after load
    page.wait_for_timeout(300)
    assert not rec.any("wechat.js")
    ph = page.locator(".cmp-ph")
    ph.get_by_role("button", name="Load once").click()
    page.wait_for_function("document.querySelector('iframe[title]').src.endsWith('/demo/video')")
    assert page.evaluate("Consentry.getConsent()") is None  # loading once records nothing
    page.reload()
    expect(page.locator(".cmp-ph")).to_be_visible()
    page.locator(".cmp-ph").get_by_role("button", name="Always allow Tencent Cloud (腾讯云)").click()
    page.wait_for_function("Consentry.getConsent() && Consentry.getConsent().vendors.tencent_cloud")
    c = consent(page)
    assert c["purposes"]["functional"] and not c["purposes"]["analytics"]
    assert demo_server.events(c["consent_id"])[-1]["action"] == "custom"
    # only that vendor was allowed: WeChat (same purpose) still waits, until it is allowed too
    assert not c["vendors"]["wechat"]
    page.click("#demo-add")
    page.wait_for_timeout(300)
    assert not rec.any("wechat.js")
    page.evaluate("Consentry.acceptAll()")
    page.wait_for_function("(window.demoRan || []).some(r => r.sdk === 'wechat')")


# --- privacy signals, regimes, languages ---------------------------------------------------

GPC_INIT = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"


def test_gpc_denies_marketing_even_after_accept_all(demo_server: Server, new_page) -> None:
    page, rec = new_page(extra_http_headers={"Sec-GPC": "1"}, init_script=GPC_INIT)
    open_banner(page, demo_server)
    expect(page.locator(".cmp-banner .cmp-gpc")).to_be_visible()
    page.locator(".cmp-banner").get_by_role("button", name="Accept all").click()
    page.wait_for_function("(window.demoRan || []).some(r => r.sdk === 'sensors_data')")
    page.wait_for_timeout(300)
    c = consent(page)
    assert c["purposes"]["analytics"] and not c["purposes"]["marketing"]
    assert not c["vendors"]["google_ads"]
    assert not rec.any("gtag.js") and not rec.any("sdk=google_ads")
    update = [e for e in data_layer(page) if e[:2] == ["consent", "update"]][-1][2]
    assert update["ad_storage"] == "denied" and update["analytics_storage"] == "granted"
    ev = demo_server.events(c["consent_id"])
    assert ev[-1]["gpc"] is True and ev[-1]["choices"]["purposes"]["marketing"] is False


def test_js_gpc_alone_is_sent_and_honoured(demo_server: Server, new_page) -> None:
    page, posts = new_page(init_script=GPC_INIT)
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "") if r.method == "POST" else None)
    open_banner(page, demo_server)
    expect(page.locator(".cmp-banner .cmp-gpc")).to_be_visible()
    page.evaluate("Consentry.acceptAll()")
    assert '"gpc":true' in bodies[0]
    assert not consent(page)["purposes"]["marketing"]


def test_chinese_browser_gets_chinese_texts(demo_server: Server, new_page) -> None:
    page, _ = new_page(locale="zh-CN")
    open_banner(page, demo_server)
    banner = page.locator(".cmp-banner")
    expect(banner.locator("h2")).to_have_text("Tuiqiqi 隐私设置")
    assert banner.get_attribute("lang") == "zh-CN" and banner.get_attribute("dir") == "ltr"
    banner.get_by_role("button", name="全部拒绝").click()
    expect(page.locator(".cmp-fab")).to_have_text("隐私设置")
    ev = demo_server.events(consent(page)["consent_id"])
    assert ev[0]["language"] == "zh-CN" and ev[0]["action"] == "reject_all"


def test_data_lang_overrides_the_browser(demo_server: Server, new_page) -> None:
    page, _ = new_page(locale="zh-CN")
    page.route(demo_server.url("/"), lambda route: route.fulfill(
        response=route.fetch(), body=route.fetch().text().replace(
            'data-site="demo"', 'data-site="demo" data-lang="en"')))
    open_banner(page, demo_server)
    expect(page.locator(".cmp-banner h2")).to_have_text("Your privacy on Tuiqiqi")


def test_each_vendor_shows_its_details(demo_server: Server, new_page) -> None:
    page, _ = new_page()
    open_banner(page, demo_server)
    page.get_by_role("button", name="Choose purposes").click()
    dialog = page.get_by_role("dialog")
    item = dialog.locator(".cmp-item").filter(has=page.get_by_role("checkbox", name="Google Ads"))
    expect(item).to_have_count(1)
    item.get_by_text("Details").click()  # items out of view are laid out once reached
    for text in ("Measures our ads on Google Search", "Advertising", "Google LLC (US)",
                 "cookie identifiers", "_gcl_*, IDE, test_cookie"):
        expect(item).to_contain_text(text)
    link = item.get_by_role("link", name="Privacy policy")
    assert link.get_attribute("href") == "https://support.google.com/adspolicy/answer/54817?hl=zh-Hans"
    assert link.get_attribute("target") == "_blank" and link.get_attribute("rel") == "noopener"


def test_pipl_separate_items_need_their_own_answer(demo_server: Server, new_page) -> None:
    page, _ = new_page(extra_http_headers={"X-Country": "CN"})
    open_banner(page, demo_server)
    page.get_by_role("button", name="Choose purposes").click()
    dialog = page.get_by_role("dialog")
    groups = dialog.locator("fieldset")
    expect(groups).to_have_count(5)
    first = groups.nth(0)
    expect(first).to_contain_text("Overseas buyers")  # recipient
    expect(first).to_contain_text("DE, US")  # countries
    expect(first).to_contain_text("Your rights and how to use them")
    assert not dialog.locator("input[type=radio]:checked").count()
    first.get_by_role("radio", name="I agree").check()
    groups.nth(2).get_by_role("radio", name="I do not agree").check()
    dialog.get_by_role("button", name="Accept all").click()
    expect(page.locator(".cmp-fab")).to_be_visible()
    c = consent(page)
    assert c["separate"] == {"overseas_buyers": True, "overseas_storage": False,
                             "facial_biometrics": False, "buyer_contact": False,
                             "public_profile": False}
    ev = demo_server.events(c["consent_id"])
    assert ev[-1]["regime"] == "pipl" and ev[-1]["country"] == "CN"
    assert ev[-1]["choices"]["separate"]["overseas_buyers"] is True


def test_separate_items_only_under_pipl(demo_server: Server, new_page) -> None:
    page, _ = new_page(extra_http_headers={"X-Country": "DE"})
    open_banner(page, demo_server)
    page.get_by_role("button", name="Choose purposes").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert page.get_by_role("dialog").locator("fieldset").count() == 0


# --- content safety, CSP -------------------------------------------------------------------

def test_markup_in_config_texts_is_shown_as_text(custom_server: Server, new_page) -> None:
    from tests.browser.conftest import XSS

    page, rec = new_page()
    open_banner(page, custom_server)
    title = page.locator(".cmp-banner h2")
    expect(title).to_have_text(XSS)
    assert page.locator(".cmp-banner img, .cmp-banner script, .cmp-banner b").count() == 0
    page.wait_for_timeout(200)
    assert page.evaluate("window.xss") is None
    assert not rec.any("/x")


def test_strict_csp_page_has_no_violation(demo_server: Server, new_page) -> None:
    page, rec = new_page(init_script="""
        window.__violations = [];
        document.addEventListener('securitypolicyviolation',
            e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
    resp = page.goto(demo_server.url("/demo/csp"))
    assert resp is not None and "nonce-" in resp.headers["content-security-policy"]
    expect(page.locator(".cmp-banner")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.cmp-banner')).position") == "fixed"
    page.get_by_role("button", name="Choose purposes").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.get_by_role("dialog").get_by_role("button", name="Accept all").click()
    until(page, "(window.demoRan || []).length >= 5")  # wait_for_function would need eval
    assert "google_ads_config" in ran(page) and "recommendations" in ran(page)  # nonce carried
    page.wait_for_timeout(300)
    assert page.evaluate("window.__violations") == []
    assert rec.errors == []


# --- JS API --------------------------------------------------------------------------------

def test_js_api_and_events(demo_server: Server, new_page) -> None:
    page, _ = new_page()
    open_banner(page, demo_server)
    page.evaluate("""() => {
        window.seen = [];
        document.addEventListener('consentry:consent', e => seen.push('consent'));
        document.addEventListener('consentry:change', e => seen.push('change:' + e.detail.changed.purposes.sort().join()));
        window.unsub = Consentry.onChange(d => seen.push('cb'));
    }""")
    page.evaluate("Consentry.acceptAll()")
    page.evaluate("Consentry.rejectAll()")
    page.evaluate("unsub()")
    page.evaluate("Consentry.acceptAll()")
    seen = page.evaluate("seen")
    assert seen[:3] == ["consent", "change:analytics,functional,marketing,personalisation", "cb"]
    assert seen.count("cb") == 2 and seen.count("consent") == 3
    page.evaluate("Consentry.withdraw()")
    assert not consent(page)["purposes"]["analytics"]


def test_a_revision_bump_asks_again(demo_server: Server, new_page) -> None:
    import json

    page, _ = new_page()
    open_banner(page, demo_server)
    page.evaluate("Consentry.acceptAll()")

    def bump(route) -> None:  # the site published revision 2 since this visitor chose
        resp = route.fetch()
        body = resp.json()
        assert body["consent"]["revision"] == 1
        body["revision"] = 2
        route.fulfill(response=resp, body=json.dumps(body))

    page.route("**/v1/sites/demo/config*", bump)
    page.reload()
    expect(page.locator(".cmp-banner")).to_be_visible()
    assert page.evaluate("Consentry.getConsent()") is None
    assert not page.evaluate("(window.demoRan || []).some(r => r.sdk === 'sensors_data')")


@pytest.mark.parametrize("headers, region, ads", [
    ({"X-Country": "DE"}, ["DE"], "denied"),
    ({"X-Country": "US", "X-Region": "CA"}, ["US", "US-CA"], "granted"),
])
def test_consent_mode_regional_default_follows_the_regime(demo_server: Server, new_page,
                                                         headers: dict[str, str],
                                                         region: list[str], ads: str) -> None:
    page, _ = new_page(extra_http_headers=headers)
    page.goto(demo_server.url("/"))
    page.wait_for_function("dataLayer.some(e => e[0] === 'consent' && e[2] && e[2].region)")
    dl = data_layer(page)
    assert dl[0][:2] == ["consent", "default"] and "region" not in dl[0][2]  # global, all denied
    regional = [e for e in dl if e[:2] == ["consent", "default"] and "region" in e[2]]
    assert len(regional) == 1 and regional[0][2]["region"] == region
    assert regional[0][2]["wait_for_update"] == 500  # the site's consent_mode.wait_for_update
    assert regional[0][2]["ad_storage"] == ads and regional[0][2]["security_storage"] == "granted"


STYLED_PAGE = """<!doctype html><html lang="en"><head><title>Styled</title>
<script src="/cmp.js" data-site="demo"></script>
<style>body{font:18px/1.4 monospace} %s</style>
</head><body><h1>A site with its own look</h1><p>Some text.</p></body></html>"""


@pytest.mark.parametrize("site_css, accent, family", [
    ("", "rgb(31, 79, 184)", "monospace"),
    # the site's rule, before cmp.css in the document, still wins: the base rule is :where(.cmp)
    (".cmp{--cmp-accent:#b5121b;font-family:serif}", "rgb(181, 18, 27)", "serif"),
])
def test_banner_takes_the_page_font_and_the_site_restyles_it(
        demo_server: Server, new_page, site_css: str, accent: str, family: str) -> None:
    page, _ = new_page()
    page.goto(demo_server.url("/"))  # the demo trusts its own origin from its first page
    page.route(demo_server.url("/styled"), lambda r: r.fulfill(
        body=STYLED_PAGE % site_css, content_type="text/html"))
    page.goto(demo_server.url("/styled"))
    button = page.locator(".cmp-banner").get_by_role("button", name="Accept all")
    expect(button).to_be_visible()
    style = button.evaluate("""b => { const s = getComputedStyle(b); return {
        bg: s.backgroundColor, family: s.fontFamily, size: s.fontSize, weight: s.fontWeight}; }""")
    assert style == {"bg": accent, "family": family, "size": "18px", "weight": "700"}
    title = page.locator(".cmp-banner .cmp-title").evaluate("t => getComputedStyle(t).fontSize")
    assert title == "18px"


def test_a_sandboxed_frame_without_cookies_still_asks_for_the_config(demo_server: Server,
                                                                    new_page) -> None:
    """No cookie access at all (sandboxed frame): no token, but the banner goes on."""
    page, _ = new_page()
    page.goto(demo_server.url("/"))
    frame_doc = f'<script src="{demo_server.url("/cmp.js")}" data-site="demo"></script>'
    # times out (fails) if the banner gives up before asking
    with page.expect_request(lambda r: "/config" in r.url, timeout=5000) as asked:
        page.set_content(f"<iframe sandbox='allow-scripts' srcdoc='{frame_doc}'></iframe>")
    assert "authorization" not in asked.value.headers
