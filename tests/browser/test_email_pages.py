"""The unsubscribe page in Simplified Chinese in real Chromium: chosen by the recorded consent
language over an English browser, axe finds nothing, the strict CSP refuses nothing, and the
one-click button works without a script."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.config import load_config
from cmp.settings import Settings
from pixel.email.service import EmailService
from tests.browser.conftest import Server, _start, _stop, free_port
from tests.test_email_languages import SITE

SECRET = "browser-email-pages-secret-" + "p" * 40


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req) as r:
        return r.status, r.read().decode()


@pytest.fixture(scope="module")
def unsub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("email-pages")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key, key_hash = generate_admin_key()
    cfg = tmp / "consentry.toml"
    cfg.write_text(SITE.format(admin_hash=key_hash, base=base), "utf-8")
    db = tmp / "ledger.db"
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(cfg), "--port",
                   str(port), "--database", f"sqlite:///{db}"],
                  {"CONSENTRY_SECRET": SECRET, "CONSENTRY_PUBLIC_URL": base}, port, tmp)
    server = Server(base, db, proc, tmp / "server.log")
    try:
        status, out = _post(base + "/v1/sites/shop/email/signup", json.dumps({
            "email": "li@example.cn", "lists": ["news"], "tracking": False, "country": "CN",
            "language": "zh-CN"}).encode(), {"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
        assert status == 202, out
        assert _post(json.loads(out)["confirm_url"], b"", {})[0] == 200
        server.extra["unsubscribe"] = _prepare(cfg, db, base)
        yield server
    finally:
        _stop(proc)


def _prepare(cfg: Path, db: Path, base: str) -> str:
    async def run() -> str:
        settings = Settings.load(cfg, database=f"sqlite:///{db}",
                                 secret_file=str(cfg.parent / "unused"), public_url=base)
        svc = Services.build(load_config(cfg), settings, master_secret=SECRET.encode())
        await svc.storage.open()
        try:
            prep = await EmailService.build(svc).preparer.prepare(
                "shop", campaign="c", list_id="news", to="li@example.cn",
                html_body="<p>你好</p>")
            return prep.unsubscribe_url
        finally:
            await svc.storage.close()

    # In a thread of its own: sync Playwright keeps an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_unsubscribe_page_in_chinese_passes_axe_under_the_strict_csp(
        browser: Browser, unsub_server: Server) -> None:
    from axe_playwright_python.sync_playwright import Axe

    # An English browser: the consent was recorded in zh-CN, and that decides.
    ctx = browser.new_context(locale="en-US", extra_http_headers={"Accept-Language": "en-US"})
    page = ctx.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    try:
        r = page.goto(unsub_server.extra["unsubscribe"])
        assert r is not None and r.status == 200
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        expect(page.get_by_role("heading", name="退订")).to_be_visible()
        expect(page.get_by_role("group", name="偏好设置")).to_be_visible()
        expect(page.get_by_role("radio", name="仅此列表（每周新闻）")).to_be_checked()
        result = Axe().run(page)
        assert result.violations_count == 0, result.generate_report()
        assert result.response["passes"]  # axe ran under the page's CSP
        page.get_by_role("button", name="退订此邮件列表").click()
        expect(page.get_by_role("heading", name="您已退订")).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert "每周新闻" in page.inner_text("main")
        result = Axe().run(page)
        assert result.violations_count == 0, result.generate_report()
        assert not [m for m in console if "Content Security Policy" in m], console
    finally:
        ctx.close()
