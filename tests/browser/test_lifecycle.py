"""The people view's lifecycle form in Chromium, against `consentry demo`: an operator records
an account closure heard on the phone and sees the scheduled anonymisation; the page passes
axe with the schedule shown, in English and Simplified Chinese."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Recorder, Server
from tests.browser.test_operator import api, startup

UI = {"en": {"user": "User name", "password": "Password", "log_in": "Log in",
             "ref": "Account reference", "value": "E-mail address, phone number",
             "find": "Find", "reference": "Reference (call, ticket or letter)",
             "close": "Record the account closure", "schedule": "Scheduled anonymisation"},
      "zh-CN": {"user": "用户名", "password": "密码", "log_in": "登录", "ref": "账号编号",
                "value": "电子邮箱、手机号码", "find": "查找", "reference": "编号（来电、工单或信件）",
                "close": "登记账号注销", "schedule": "计划中的匿名化"}}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_operator_records_an_account_closure(
        demo_server: Server, new_page: Callable[..., tuple[Page, Recorder]], lang: str) -> None:
    login = startup(demo_server)
    ref = f"M-CLOSE-{lang}"
    person = api(demo_server, login["key"], "POST", f"people/{ref}/events", {
        "method": "signup_form", "purposes": {"analytics": True}})["state"]["person"]
    ui = UI[lang]
    page, rec = new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
    page.goto(demo_server.url(f"/dashboard/login?lang={lang}"))
    page.get_by_label(ui["user"], exact=True).fill(login["name"])
    page.get_by_label(ui["password"], exact=True).fill(login["password"])
    page.get_by_role("button", name=ui["log_in"]).click()
    page.goto(demo_server.url("/dashboard/sites/demo/people"))
    page.get_by_label(ui["ref"], exact=True).check()
    page.get_by_label(ui["value"]).fill(ref)
    page.get_by_role("button", name=ui["find"], exact=True).click()
    expect(page.locator("#person")).to_have_text(person)
    page.get_by_label(ui["reference"]).fill(f"CALL-{lang}-9")
    page.get_by_role("button", name=ui["close"]).click()
    expect(page.locator("#recorded")).to_be_visible()
    expect(page.get_by_role("heading", name=ui["schedule"])).to_be_visible()
    expect(page.locator("#retention tbody tr")).to_have_count(4)
    expect(page.locator("#erase-due")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d$"))
    ev = demo_server.events(person)[-1]
    assert (ev["kind"], ev["operator"], ev["reference"]) == (
        "lifecycle", login["name"], f"CALL-{lang}-9")
    assert page.locator("html").get_attribute("lang") == lang
    from axe_playwright_python.sync_playwright import Axe

    checked = Axe().run(page)
    assert checked.violations_count == 0, checked.generate_report()
    assert not rec.errors
