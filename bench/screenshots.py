"""Screenshots of the banner for the README, taken from `consentry demo` in Debian's Chromium.

    python bench/screenshots.py [--out docs/img]

Starts `consentry demo` on a free 127.0.0.1 port and a fresh directory (with a trusted country
header, as the browser tests do, so a visitor's place can be chosen) and writes:
  - banner.png: the first layer on the demo page, for a visitor in Germany (GDPR opt-in);
  - preferences.png: the preferences dialog for a visitor in China (PIPL), scrolled to the
    items that each need their own separate consent.
English texts; the demo names Chinese vendors in Chinese too, so install a CJK font first
(`apt-get install -y fonts-wqy-microhei`) or those names show as empty boxes: the script
warns when fontconfig knows none. Re-run after changing the banner; the demo server is stopped
by its PID on exit.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _harness import REPO, Servers, clean_env, free_port

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--hide-scrollbars"]
VIEWPORT: ViewportSize = {"width": 1200, "height": 760}
DIALOG_VIEWPORT: ViewportSize = {"width": 1200, "height": 1000}  # one whole separate-consent item in view
TIMEOUT_MS = 15_000


def consentry_cli() -> list[str]:
    # The module, not an installed script: the script may run another checkout's code.
    return [sys.executable, "-m", "consentry"]


def settle(page: Any) -> None:
    """cmp.css applied, fonts loaded, one more frame (the demo page polls, never network-idle)."""
    page.wait_for_function("() => [...document.styleSheets].some(s => (s.href || '')"
                           ".includes('/cmp.css')) && document.fonts.status === 'loaded'",
                           timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = p.parse_args(argv)
    from playwright.sync_api import expect, sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                           timeout=30).stdout if shutil.which("fc-list") else ""
    if not fonts.strip():
        print("warning: no CJK font installed (apt-get install -y fonts-wqy-microhei): Chinese "
              "names will show as empty boxes", file=sys.stderr)
    with Servers() as servers:
        port = free_port()
        demo = servers.start("consentry-demo",
                             [*consentry_cli(), "demo", "--host", "127.0.0.1", "--port",
                              str(port), "--dir", str(servers.workdir / "demo")],
                             port=port, env=clean_env(CONSENTRY_COUNTRY_HEADER="X-Country"),
                             ready_path="/healthz")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                # First layer: a visitor in Germany.
                ctx = browser.new_context(viewport=VIEWPORT, locale="en-GB",
                                          extra_http_headers={"X-Country": "DE"})
                page = ctx.new_page()
                page.goto(demo.base + "/", timeout=TIMEOUT_MS)
                banner = page.locator(".cmp-banner")
                expect(banner).to_be_visible(timeout=TIMEOUT_MS)
                settle(page)
                path = args.out / "banner.png"
                page.screenshot(path=path, animations="disabled", caret="hide")
                print(f"wrote {path}")
                ctx.close()

                # Preferences dialog: a visitor in China, PIPL separate-consent items in view.
                ctx = browser.new_context(viewport=DIALOG_VIEWPORT, locale="en-GB",
                                          extra_http_headers={"X-Country": "CN"})
                page = ctx.new_page()
                page.goto(demo.base + "/", timeout=TIMEOUT_MS)
                expect(page.locator(".cmp-banner")).to_be_visible(timeout=TIMEOUT_MS)
                page.locator(".cmp-banner").get_by_role("button", name="Choose purposes").click()
                dialog = page.get_by_role("dialog")
                expect(dialog).to_be_visible(timeout=TIMEOUT_MS)
                separate = dialog.locator("fieldset")
                expect(separate.first).to_be_visible(timeout=TIMEOUT_MS)
                # scroll the dialog so its separate-consent heading sits at the top of its body
                dialog.get_by_role("heading", name="Items that need your separate consent") \
                    .evaluate("el => el.scrollIntoView({block: 'start'})")
                page.mouse.move(0, 0)
                settle(page)
                path = args.out / "preferences.png"
                page.screenshot(path=path, animations="disabled", caret="hide")
                print(f"wrote {path}")
                ctx.close()
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
