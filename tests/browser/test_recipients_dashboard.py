"""The Recipients view and a person's per-recipient grants in Chromium, against a real
`consentry serve` whose config has a per-recipient item and low filing thresholds: a user sees
the count and the warning, an operator withdraws one recipient heard on the phone; each page in
English and Simplified Chinese, each passing axe with 0 violations."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cmp.adminkeys import generate_admin_key
from dashboards.passwords import hash_password
from tests.browser.conftest import Recorder, Server, _start, _stop, free_port
from tests.conftest import site_toml
from tests.test_asks import BUYER, ITEM

PASSWORDS = {"ann": "ann-long-password", "lily": "lily-long-password"}
ZENITH = {**BUYER, "id": "B-88", "name": "Zenith Ltd", "contact": "z@zenith.example",
          "country": "GB"}
UI = {
    "en": {"login": "Log in to the dashboard", "user": "User name", "password": "Password",
           "log_in": "Log in", "recipients": "Recipients", "warning": "Warning: 2 people",
           "per_recipient": "Per-recipient consents", "agreed": "agreed",
           "not_agreed": "not agreed", "reference": "Call reference",
           "record": "Record the withdrawal", "recorded": "Recorded as event"},
    "zh-CN": {"login": "登录管理后台", "user": "用户名", "password": "密码", "log_in": "登录",
              "recipients": "接收方统计", "warning": "已有 2 人", "per_recipient": "逐一接收方的单独同意",
              "agreed": "已同意", "not_agreed": "未同意", "reference": "来电编号",
              "record": "记录撤回", "recorded": "已记录为事件"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("recipients")
    port = free_port()
    admin, admin_hash = generate_admin_key()
    app, app_hash = generate_admin_key()
    crm, crm_hash = generate_admin_key()
    cfg = site_toml("alpha", admin_hash, origin=f"http://127.0.0.1:{port}").replace(
        "[sites.alpha]\n", "[sites.alpha]\nfiling_warn_at = 0.5\n", 1)
    cfg += ITEM.format(site="alpha", app=app_hash, crm=crm_hash)
    cfg += (f'\n[sites.alpha.users]\nann = "{hash_password(PASSWORDS["ann"], n=2**10)}"\n'
            f'\n[sites.alpha.operators]\nlily = "{hash_password(PASSWORDS["lily"], n=2**10)}"\n'
            "\n[sites.alpha.filing_thresholds]\ncross_border = [3, 10]\n")
    path = tmp / "consentry.toml"
    path.write_text(cfg, "utf-8")
    db = tmp / "ledger.db"
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(path), "--port",
                   str(port), "--database", f"sqlite:///{db}"],
                  {"CONSENTRY_SECRET_FILE": str(tmp / "secret"),
                   "CONSENTRY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port, tmp)
    s = Server(f"http://127.0.0.1:{port}", db, proc, tmp / "server.log",
               extra={"app": app, "crm": crm})
    # Two members: M-1 agreed to two buyers, M-2 to one, M-3 said no (not counted): 2 people.
    for person, rec, agreed in (("M-1", BUYER, True), ("M-1", ZENITH, True),
                                ("M-2", BUYER, True), ("M-3", BUYER, False)):
        answer(s, person, rec, agreed)
    yield s
    _stop(proc)


def call(server: Server, method: str, path: str, body: dict[str, Any] | None = None,
         key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(server.url(f"/v1/sites/alpha/{path}"), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def answer(server: Server, person: str, rec: dict[str, Any], agreed: bool) -> None:
    token = call(server, "POST", "asks", {"item": "buyer_share", "person": person,
                                          "recipient": rec}, server.extra["app"])["token"]
    n = call(server, "GET", f"asks/notice?token={token}")
    call(server, "POST", "asks/answer", {"token": token, "agreed": agreed,
                                         "texts_hash": n["texts_hash"], "language": "en"})


def axe_clean(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    checked = Axe().run(page)
    assert checked.violations_count == 0, checked.generate_report()


def log_in(page: Page, server: Server, name: str, lang: str, target: str) -> None:
    ui = UI[lang]
    page.goto(server.url(f"/dashboard/sites/alpha/{target}"))
    if lang == "zh-CN":
        page.get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("heading", name=ui["login"])).to_be_visible()
    page.get_by_label(ui["user"], exact=True).fill(name)
    page.get_by_label(ui["password"], exact=True).fill(PASSWORDS[name])
    page.get_by_role("button", name=ui["log_in"]).click()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_recipients_view_counts_and_warns(server: Server, lang: str,
                                          new_page: Callable[..., tuple[Page, Recorder]]
                                          ) -> None:
    ui = UI[lang]
    page, rec = new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
    log_in(page, server, "ann", lang, "recipients")
    expect(page.get_by_role("heading", name=ui["recipients"], exact=False).first).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang
    item = page.locator('section[data-item="buyer_share"]')
    expect(item.locator("[data-people]")).to_have_attribute("data-people", "2")
    expect(item.get_by_role("status")).to_contain_text(ui["warning"])
    assert item.locator('[data-level="reached"]').count() == 0
    top = page.locator("#top-recipients tbody tr")
    expect(top.first).to_contain_text("Acme <b>Trading</b> GmbH")
    expect(top.first.locator("td.n")).to_have_text("2")
    expect(page.get_by_role("link", name=ui["recipients"].removesuffix("统计"))).to_have_attribute(
        "aria-current", "page")
    # the year selector is a plain GET form (the CSP allows no script)
    page.get_by_role("combobox").select_option(str(int(page.get_by_role("combobox")
                                                     .input_value()) - 1))
    page.get_by_role("button", name="Show" if lang == "en" else "显示").click()
    expect(item.locator("[data-people]")).to_have_attribute("data-people", "0")
    page.go_back()
    axe_clean(page)
    page.screenshot(path=str(server.log.parent / f"recipients-{lang}.png"), full_page=True)
    assert not rec.errors


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_operator_withdraws_one_recipient(server: Server, lang: str,
                                             new_page: Callable[..., tuple[Page, Recorder]]
                                             ) -> None:
    ui = UI[lang]
    ref = f"M-OP-{lang}"
    answer(server, ref, BUYER, True)
    answer(server, ref, ZENITH, True)
    person = call(server, "GET", f"people/{ref}", key=server.extra["crm"])["person"]
    page, rec = new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
    log_in(page, server, "lily", lang, "people")
    page.goto(server.url(f"/dashboard/sites/alpha/people?person={person}"))
    expect(page.get_by_role("heading", name=ui["per_recipient"])).to_be_visible()
    acme = page.locator('tr[data-item="recipients:buyer_share:B-77"]')
    expect(acme).to_contain_text("Acme <b>Trading</b> GmbH")
    expect(acme).to_contain_text(ui["agreed"])
    axe_clean(page)
    page.locator('input[name="w:recipients:buyer_share:B-77"]').check()
    page.get_by_label(ui["reference"]).fill(f"CALL-{lang}-9")
    page.get_by_role("button", name=ui["record"]).click()
    expect(page.locator("#recorded")).to_contain_text(ui["recorded"])
    expect(acme).to_contain_text(ui["not_agreed"])
    expect(page.locator('tr[data-item="recipients:buyer_share:B-88"]')).to_contain_text(
        ui["agreed"])
    axe_clean(page)
    grant = call(server, "GET", f"people/{ref}/grants?item=buyer_share&recipient=B-77",
                 key=server.extra["crm"])
    assert grant["agreed"] is False
    ev = server.events(person)[-1]
    assert (ev["kind"], ev["method"], ev["operator"], ev["reference"]) == (
        "withdraw", "phone", "lily", f"CALL-{lang}-9")
    page.screenshot(path=str(server.log.parent / f"people-recipients-{lang}.png"),
                    full_page=True)
    assert not rec.errors and Path(server.db).exists()
