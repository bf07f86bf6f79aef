"""The Assessments view in Chromium, against a real `consentry serve`: a user sees each impact
assessment with its scope and review date (the passed one marked overdue) and each item's
standing; in English and Simplified Chinese, at desktop and phone widths, with axe reporting 0
violations and the page never scrolling sideways."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from cmp.adminkeys import generate_admin_key
from dashboards.passwords import hash_password
from tests.browser.conftest import Recorder, Server, _start, _stop, free_port
from tests.test_assessments import assessment, config_text

PASSWORD = "ann-long-password"
TODAY = datetime.now(UTC).date()
UI = {
    "en": {"login": "Log in to the dashboard", "user": "User name", "password": "Password",
           "log_in": "Log in", "heading": "Impact assessments", "nav": "Assessments",
           "overdue": "overdue", "expired": "older than 3 years", "missing": "no assessment",
           "review_due": "review date passed", "title": "Cross-border provision to buyers"},
    "zh-CN": {"login": "登录管理后台", "user": "用户名", "password": "密码", "log_in": "登录",
              "heading": "个人信息保护影响评估", "nav": "影响评估", "overdue": "已逾期",
              "expired": "已超过 3 年", "missing": "未评估", "review_due": "已过复核日期",
              "title": "评估 pia-cb"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("assessments")
    port = free_port()
    _, admin_hash = generate_admin_key()
    extra = (assessment("pia-cb", TODAY - timedelta(days=100), TODAY - timedelta(days=1),
                        ["abroad"], ["B-77", "B-88"], title="Cross-border provision to buyers")
             + assessment("pia-face", TODAY - timedelta(days=3 * 366),
                          TODAY + timedelta(days=30), ["face"])
             + f'\n[sites.alpha.users]\nann = "{hash_password(PASSWORD, n=2**10)}"\n')
    cfg = config_text(extra, admin_hash).replace('origins = ["https://alpha.example"]',
                                                 f'origins = ["http://127.0.0.1:{port}"]')
    path = tmp / "consentry.toml"
    path.write_text(cfg, "utf-8")
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(path), "--port",
                   str(port), "--database", f"sqlite:///{tmp / 'ledger.db'}"],
                  {"CONSENTRY_SECRET_FILE": str(tmp / "secret"),
                   "CONSENTRY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port, tmp)
    yield Server(f"http://127.0.0.1:{port}", tmp / "ledger.db", proc, tmp / "server.log")
    _stop(proc)


def axe_clean(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    checked = Axe().run(page)
    assert checked.violations_count == 0, checked.generate_report()


@pytest.mark.parametrize("width", [1200, 390])
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_assessments_view(server: Server, lang: str, width: int,
                          new_page: Callable[..., tuple[Page, Recorder]]) -> None:
    ui = UI[lang]
    page, rec = new_page(viewport={"width": width, "height": 900}, locale="en-US")
    page.goto(server.url("/dashboard/sites/alpha/assessments"))
    if lang == "zh-CN":
        page.get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("heading", name=ui["login"])).to_be_visible()
    page.get_by_label(ui["user"], exact=True).fill("ann")
    page.get_by_label(ui["password"], exact=True).fill(PASSWORD)
    page.get_by_role("button", name=ui["log_in"]).click()
    expect(page.get_by_role("heading", name=ui["heading"], exact=False).first).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang
    expect(page.get_by_role("link", name=ui["nav"], exact=True)).to_have_attribute(
        "aria-current", "page")
    cb = page.locator('tr[data-assessment="pia-cb"]')
    expect(cb).to_contain_text(ui["title"])
    expect(cb.locator('[data-mark="overdue"]')).to_have_text(ui["overdue"])
    expect(cb).to_contain_text("B-88")
    assert page.locator('tr[data-assessment="pia-face"] [data-mark]').count() == 0
    for item, state in (("abroad", "review_due"), ("face", "expired"),
                        ("buyer_share", "missing")):
        expect(page.locator(f'#assessed-items tr[data-item="{item}"]')).to_contain_text(
            ui[state])
    # the item's link goes to its newest assessment's row
    page.locator('#assessed-items tr[data-item="face"] a').click()
    assert page.url.endswith("#a-pia-face")
    axe_clean(page)
    # a wide table scrolls inside its box, never the page
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(server.log.parent / f"assessments-{lang}-{width}.png"),
                    full_page=True)
    assert not rec.errors
