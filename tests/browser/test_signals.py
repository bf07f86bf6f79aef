"""Meta Pixel consent ordering; on a real (non-secure) host name: cookie cleanup on parent
domains, and the token read without cookieStore."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.browser.conftest import ARGS, CHROMIUM, Server

META_PAGE = """<!doctype html><html lang="en"><head><title>Meta</title>
<script src="/cmp.js" data-site="demo"></script>
<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;n.push=n;
n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;
s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script',
'/demo/static/fbevents-not-here.js');fbq('init','1234');fbq('track','PageView');</script>
</head><body><h1>Meta</h1></body></html>"""


def test_meta_consent_is_queued_before_init_and_granted_after(demo_server: Server, new_page) -> None:
    page, rec = new_page()
    page.goto(demo_server.url("/"))  # the demo trusts its own origin from its first page
    page.route(demo_server.url("/meta"), lambda r: r.fulfill(body=META_PAGE,
                                                              content_type="text/html"))
    page.goto(demo_server.url("/meta"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    queue = "fbq.queue.map(a => Array.from(a).slice(0, 2).join(':'))"
    assert page.evaluate(queue)[:3] == ["consent:revoke", "init:1234", "track:PageView"]
    assert rec.any("fbevents-not-here.js")  # Meta's own loader still loads its script
    page.evaluate("Consentry.acceptAll()")
    assert page.evaluate(queue)[-1] == "consent:grant"
    page.evaluate("Consentry.rejectAll()")
    assert page.evaluate(queue)[-1] == "consent:revoke"


@pytest.fixture(scope="module")
def named_host_browser(pw: Playwright) -> Iterator[Browser]:
    rules = "--host-resolver-rules=MAP www.tuiqiqi.test 127.0.0.1, MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
    b = pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, rules])
    yield b
    b.close()


@pytest.fixture
def named_host_page(demo_server: Server, named_host_browser: Browser) -> Iterator[Page]:
    """The demo at http://www.tuiqiqi.test:<port>/, its banner showing, in a fresh context."""
    port = demo_server.base.rsplit(":", 1)[1]
    ctx = named_host_browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(f"http://www.tuiqiqi.test:{port}/")
        expect(page.locator(".cmp-banner")).to_be_visible()
        yield page
    finally:
        ctx.close()


def test_withdrawal_deletes_cookies_on_parent_domains(named_host_page: Page) -> None:
    page, ctx = named_host_page, named_host_page.context
    page.locator(".cmp-banner").get_by_role("button", name="Accept all").click()
    page.wait_for_function("(window.demoRan || []).length >= 5")
    page.evaluate("""() => {
        document.cookie = '_gcl_aw=1; Domain=tuiqiqi.test; Path=/';
        document.cookie = 'IDE=1; Domain=www.tuiqiqi.test; Path=/';
        document.cookie = 'sajssdk_2015_other=1; Domain=tuiqiqi.test; Path=/';
    }""")
    domains = {(c["name"], c["domain"]) for c in ctx.cookies()}
    assert ("_gcl_aw", ".tuiqiqi.test") in domains and ("IDE", ".www.tuiqiqi.test") in domains
    page.evaluate("Consentry.withdraw()")
    assert {c["name"] for c in ctx.cookies()} == {"consentry"}


def test_return_visit_reads_the_token_without_cookie_store(named_host_page: Page) -> None:
    """http://www.tuiqiqi.test is not a secure context: no cookieStore, so document.cookie."""
    page = named_host_page
    assert page.evaluate("typeof window.cookieStore") == "undefined"
    page.evaluate("Consentry.rejectAll()")
    auth: list[str | None] = []
    page.on("request", lambda r: auth.append(r.headers.get("authorization"))
            if "/config" in r.url else None)
    page.reload()
    expect(page.locator(".cmp-fab")).to_be_visible()
    assert page.locator(".cmp-banner").count() == 0
    assert auth and (auth[0] or "").startswith("Bearer ")
    assert page.evaluate("Consentry.getConsent().purposes.analytics") is False
