"""The hosted request page in real Chromium: en and zh-CN, axe finds nothing, the strict CSP
refuses nothing (the stylesheet is allowed by its hash, so it applies), and the form opens a
case with a due date without a script."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Server


@pytest.mark.parametrize("lang,heading,choice,send,done", [
    ("en", "Your privacy request", "Delete my information", "Send the request",
     "Request received"),
    ("zh-CN", "您的个人信息请求", "删除我的信息", "提交请求", "已收到您的请求"),
])
def test_the_request_page_passes_axe_and_opens_a_case(
        browser: Browser, demo_server: Server, lang: str, heading: str, choice: str, send: str,
        done: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    ctx = browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang})
    page = ctx.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        r = page.goto(demo_server.url("/p/demo/request"))
        assert r is not None and r.status == 200
        assert page.evaluate("document.documentElement.lang") == lang
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        # the hashed stylesheet applied: the button is drawn dark, not the browser's grey
        bg = page.get_by_role("button", name=send).evaluate(
            "b => getComputedStyle(b).backgroundColor")
        assert bg == "rgb(26, 26, 26)"
        result = Axe().run(page)
        assert result.violations_count == 0, result.generate_report()
        page.get_by_role("combobox").select_option(label=choice)
        page.get_by_role("textbox").first.fill("li.lei@example.com")
        page.get_by_role("button", name=send).click()
        expect(page.get_by_role("heading", name=done)).to_be_visible()
        assert page.inner_text("#case").startswith("q_")
        assert len(page.inner_text("#due")) == 10  # an ISO date
        result = Axe().run(page)
        assert result.violations_count == 0, result.generate_report()
        assert not [m for m in console if "Content Security Policy" in m], console
    finally:
        ctx.close()
