"""The operator's people view in Chromium, against `consentry demo` as a person runs it: log in
with the operator login the demo prints, find a member by phone number, record an opt-out
heard on the phone, see it in the ledger lookup with method, operator and call reference —
once in English and once in Simplified Chinese."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Recorder, Server

UI: dict[str, dict[str, str]] = {
    "en": {"login": "Log in to the dashboard", "user": "User name", "password": "Password",
           "log_in": "Log in", "phone": "Phone number", "value": "E-mail address, phone number",
           "find": "Find", "marketing": "Advertising", "email_news": "E-mail · ",
           "reference": "Call reference", "note": "Note", "record": "Record the withdrawal",
           "recorded": "Recorded as event", "refused": "refused", "opted_out": "opted out",
           "ledger": "See this person in the ledger lookup", "ledger_title": "Ledger lookup",
           "operator": "operator", "heading": "Find a person"},
    "zh-CN": {"login": "登录管理后台", "user": "用户名", "password": "密码", "log_in": "登录",
              "phone": "手机号码", "value": "电子邮箱、手机号码", "find": "查找",
              "marketing": "广告营销", "email_news": "电子邮件 · ", "reference": "来电编号",
              "note": "备注", "record": "记录撤回", "recorded": "已记录为事件",
              "refused": "已拒绝", "opted_out": "已退订", "ledger": "在台账查询中查看此用户",
              "ledger_title": "台账查询", "operator": "客服", "heading": "查找用户"},
}


def startup(server: Server) -> dict[str, str]:
    """The admin key and the operator login, read from the demo's startup text."""
    deadline = time.time() + 10
    while time.time() < deadline:
        out = server.log.read_text("utf-8", "replace")
        key = re.search(r"^\s+admin key\s+(\S+)", out, re.M)
        op = re.search(r"^\s+operator login\s+name (\S+), password (\S+)", out, re.M)
        if key and op:
            return {"key": key.group(1), "name": op.group(1), "password": op.group(2)}
        time.sleep(0.1)
    raise AssertionError(f"no operator login in the demo's startup text:\n{out}")


def api(server: Server, key: str, method: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(server.url(f"/v1/sites/demo/{path}"), method=method,
                                 data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_operator_finds_a_member_records_an_opt_out_and_sees_it_in_the_ledger(
        demo_server: Server, new_page: Callable[..., tuple[Page, Recorder]], lang: str) -> None:
    login = startup(demo_server)
    ref, phone = f"M-OP-{lang}", "+86 138 0013 80" + ("01" if lang == "en" else "02")
    person = api(demo_server, login["key"], "PUT", f"people/{ref}",
                 {"email": [f"member-{lang.lower()}@example.com"], "phone": [phone]})["person"]
    api(demo_server, login["key"], "POST", f"people/{ref}/events", {
        "method": "signup_form", "purposes": {"analytics": True, "marketing": True},
        "channels": [{"channel": "email", "list": "news", "allowed": True}]})
    ui = UI[lang]
    page, rec = new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
    # A browser asking for English; the Chinese run switches by the link on the login page,
    # and the choice holds through the login and every page after it.
    page.goto(demo_server.url("/dashboard/sites/demo/people"))
    if lang == "zh-CN":
        expect(page.get_by_role("heading", name=UI["en"]["login"])).to_be_visible()
        page.get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("heading", name=ui["login"])).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang
    page.get_by_label(ui["user"], exact=True).fill(login["name"])
    page.get_by_label(ui["password"], exact=True).fill(login["password"])
    page.get_by_role("button", name=ui["log_in"]).click()
    page.wait_for_url("**/dashboard/sites/demo/people")
    expect(page.get_by_role("heading", name=ui["heading"])).to_be_visible()
    expect(page.locator("#who")).to_have_text(f"{ui['operator']} {login['name']}")
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link")).to_have_count(2)  # people and the ledger lookup only

    page.get_by_label(ui["phone"], exact=True).check()
    page.get_by_label(ui["value"]).fill(phone.replace(" ", ""))
    page.get_by_role("button", name=ui["find"], exact=True).click()
    expect(page.locator("#person")).to_have_text(person)
    assert phone.replace(" ", "") not in page.url
    row = page.locator('tr[data-item="purposes:marketing"]')
    expect(row).not_to_contain_text(ui["refused"])

    page.get_by_label(ui["marketing"], exact=True).check()
    news = page.locator('input[name="w:channels:email:news"]')
    expect(page.locator("label", has=news)).to_contain_text(ui["email_news"])
    news.check()
    page.get_by_label(ui["reference"]).fill(f"CALL-{lang}-7")
    page.get_by_label(ui["note"]).fill("No more offers, please.")
    page.get_by_role("button", name=ui["record"]).click()
    expect(page.locator("#recorded")).to_contain_text(ui["recorded"])
    expect(row).to_contain_text(ui["refused"])
    expect(page.locator('tr[data-item="channels:email:news"]')).to_contain_text(ui["opted_out"])
    event_id = page.locator("#recorded code").inner_text()
    page.screenshot(path=str(demo_server.log.parent / f"people-{lang}.png"), full_page=True)
    from axe_playwright_python.sync_playwright import Axe

    checked = Axe().run(page)
    assert checked.violations_count == 0, checked.generate_report()

    page.get_by_role("link", name=ui["ledger"]).click()
    expect(page.get_by_role("heading", name=re.compile(ui["ledger_title"]))).to_be_visible()
    last = page.locator("#events tbody tr").nth(-2)  # each event has a details row after it
    expect(last.locator('[data-col="method"]')).to_have_text("phone")
    expect(last.locator('[data-col="operator"]')).to_have_text(login["name"])
    expect(last.locator('[data-col="reference"]')).to_have_text(f"CALL-{lang}-7")
    expect(page.locator("#events")).to_contain_text(event_id)
    # No export or erase for an operator.
    assert page.locator('form[action$="/ledger/export"], form[action$="/ledger/erase"]').count() == 0
    assert page.locator("html").get_attribute("lang") == lang
    assert not rec.errors
    ev = demo_server.events(person)[-1]
    assert (ev["kind"], ev["method"], ev["operator"], ev["reference"]) == (
        "withdraw", "phone", login["name"], f"CALL-{lang}-7")
    page.screenshot(path=str(demo_server.log.parent / f"ledger-{lang}.png"), full_page=True)
