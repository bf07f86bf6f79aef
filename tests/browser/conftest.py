"""Browser tests: real servers in subprocesses, Debian's Chromium driven by Playwright (sync).

Run on their own: `python -m pytest tests/browser -q` (sync Playwright in the main thread does
not mix with the asyncio tests of the other suites).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        # Chromium puts a sandboxed frame in a process of its own; Playwright then sometimes
        # attaches to it after its first requests and never reports them (1 run in ~30).
        "--disable-features=IsolateSandboxedIframes"]
LOCAL_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
DEMO_TOML = Path(__file__).resolve().parents[2] / "cmp" / "data" / "demo.toml"
XSS = '<img src=x onerror="window.xss=1"><script>window.xss=2</script> & <b>bold</b>'

if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    db: Path
    proc: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"
    extra: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        return self.base + path

    def events(self, subject: str) -> list[dict[str, Any]]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT kind, payload FROM consent_events WHERE subject = ? "
                               "ORDER BY seq", (subject,)).fetchall()
        finally:
            con.close()
        return [{"kind": k, **json.loads(p)} for k, p in rows]

    def hits(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url("/demo/hits")) as r:
            return list(json.load(r))


def _start(cmd: list[str], env: dict[str, str], port: int, tmp: Path) -> subprocess.Popen[bytes]:
    log = tmp / "server.log"
    # Rate limits off unless `env` sets them: the tests seed dozens of consents from 127.0.0.1.
    limits_off = {"CONSENTRY_CONSENT_RATE_LIMIT": "0", "CONSENTRY_BEACON_RATE_LIMIT": "0",
                  "CONSENTRY_LOGIN_RATE_LIMIT": "0"}
    proc = subprocess.Popen(cmd, env={**os.environ, **limits_off, **env}, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`consentry demo` exactly as a person runs it (plus a trusted country header)."""
    tmp = tmp_path_factory.mktemp("demo")
    port = free_port()
    # The parent-domain cleanup test reaches the demo as www.tuiqiqi.test (host-resolver rule).
    proc = _start([sys.executable, "-m", "consentry", "demo", "--port", str(port), "--dir", str(tmp),
                   "--origin", f"http://www.tuiqiqi.test:{port}"],
                  {"CONSENTRY_COUNTRY_HEADER": "X-Country",
                   "CONSENTRY_SUBDIVISION_HEADER": "X-Region"}, port, tmp)
    yield Server(f"http://127.0.0.1:{port}", tmp / "consentry.db", proc, tmp / "server.log")
    _stop(proc)


def custom_config(port: int) -> str:
    """The demo config with a markup payload in a text and declared storage keys, IndexedDB
    databases and caches."""
    text = DEMO_TOML.read_text("utf-8")
    replacements = {
        'origins = ["http://127.0.0.1:8000", "http://localhost:8000"]':
            f'origins = ["http://127.0.0.1:{port}"]',
        'title.en = "Your privacy on Tuiqiqi"': f"title.en = {json.dumps(XSS)}",
        'cookies = ["sensorsdata2015jssdkcross", "sajssdk_2015_*"]':
            'cookies = ["sensorsdata2015jssdkcross", "sajssdk_2015_*"]\n'
            'storage_keys = ["sensorsdata_*"]\n'
            'indexeddb = ["sensorsdata-*"]\ncaches = ["sensorsdata-*"]',
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="session")
def custom_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`consentry serve --config` over a test config, with the demo pages switched on."""
    tmp = tmp_path_factory.mktemp("custom")
    port = free_port()
    cfg = tmp / "consentry.toml"
    cfg.write_text(custom_config(port), "utf-8")
    db = tmp / "ledger.db"
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(cfg), "--port",
                   str(port), "--database", f"sqlite:///{db}"],
                  {"CONSENTRY_DEMO": "1", "CONSENTRY_SECRET_FILE": str(tmp / "secret"),
                   "CONSENTRY_COUNTRY_HEADER": "X-Country",
                   "CONSENTRY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port, tmp)
    yield Server(f"http://127.0.0.1:{port}", db, proc, tmp / "server.log")
    _stop(proc)


@pytest.fixture(scope="session")
def pw() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw: Playwright) -> Iterator[Browser]:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, LOCAL_ONLY])
    yield b
    b.close()


class Recorder:
    """Every request a page makes, in order, plus page errors."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def any(self, fragment: str) -> bool:
        return any(fragment in u for u in self.urls)


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., tuple[Page, Recorder]]]:
    contexts: list[BrowserContext] = []

    def make(**kwargs: Any) -> tuple[Page, Recorder]:
        init = kwargs.pop("init_script", None)
        ctx = browser.new_context(**kwargs)
        contexts.append(ctx)
        if init:
            ctx.add_init_script(init)
        page = ctx.new_page()
        return page, Recorder(page)

    yield make
    for c in contexts:
        c.close()
