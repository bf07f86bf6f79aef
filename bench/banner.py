"""The banner against vanilla-cookieconsent 3.1, measured in the same run, in Debian's Chromium.

    python bench/banner.py [--runs 20] [--settle-ms 500]

Starts, on free 127.0.0.1 ports, (1) `consentry demo` on a fresh directory and (2) a static
`python -m http.server` over a temporary directory holding vanilla-cookieconsent 3.1.0's
dist/cookieconsent.umd.js and dist/cookieconsent.css (installed from the npm registry with the
machine's npm into bench/.cache/, which git ignores; nothing of it is committed).

Each product gets a bare page that embeds only its banner, with the same body text, and a
third page, the control, has no banner at all:
  - Consentry: `<script src="http://127.0.0.1:<demo>/cmp.js" data-site="demo">` first in <head>,
    exactly the customer snippet; cmp.js then fetches /cmp.css, the site's config (the demo
    site's full config: 6 purposes, 27 vendors, 5 PIPL items) and its tag list from the demo
    server, and runs the tags already allowed before a choice (the demo's strictly necessary
    bot-detection stand-in): "site tags", the customer's scripts, counted in requests and
    script time but not in the banner's bytes.
  - vanilla-cookieconsent: its CSS and UMD script plus an inline `CookieConsent.run()` config
    with necessary/analytics/marketing categories and an English consent modal (accept all,
    reject all, preferences) and preferences modal.
  - control: a synchronous one-line script first in <head> (from the static server), like the
    Consentry snippet, and no banner: the page's own long tasks on this machine (parsing,
    first style and layout, fonts), which no banner can remove. Its "first layer visible" is
    the frame that draws its <main>.
The page documents are handed to Chromium by Playwright (`route.fulfill`, same mechanism for
both) at a URL on each server's own origin: the demo site's CORS list names only :8000, and a
page on the Consentry origin needs no change to it. Every other request goes to the servers.

Per product, `--runs` page loads take turns between the three, each in a fresh browser context
(empty cache, no cookies), with the CPU throttled 4x (CDP `Emulation.setCPUThrottlingRate`).
For each load it records, from navigation until the banner is visible plus `--settle-ms`:
  - script time: CDP `Performance.getMetrics` ScriptDuration (the page's main-thread script),
    mean and median over the loads; nothing of Playwright runs in the page meanwhile (the
    visible moment comes from the page's own observer as a console message);
  - long tasks: a `longtask` PerformanceObserver registered before any page script, each
    listed with the banner's own script time inside it: the script entries (5 ms or longer,
    the API's threshold) that `long-animation-frame` attributes to the banner's JS file,
    clipped to the task. A long task with none is the page's own work (e.g. its first style
    and layout, which Blink runs when parsing ends after a synchronous <head> script);
  - layout shift: the sum of `layout-shift` entries without recent input (CLS);
  - the requests the page made after the document.
Bytes, from the first load of each product: for every response the page fetched, the body
bytes Chromium received (decoded), their gzip -9 size computed here, and the body bytes the
server actually sent on the wire (Consentry compresses; http.server sends files as they are).

Script time and long tasks are wall-clock figures of a throttled renderer: other work on the
machine inflates them (the load average is printed). Both products alternate in one run, so
compare the two columns, not figures across runs.

Targets (issue 3): JS+CSS <= 10 KB gzip (10,000 bytes, the unit of vanilla-cookieconsent's
"15.5 KB"), mean script time below vanilla-cookieconsent's, no long task of the banner's, no
layout shift. A long task is the banner's when the banner's code runs in it (see above) or
when it is the frame that draws the first layer; every long task of the page is listed and
counted too, next to the control's, because a throttled renderer on a 2-core machine also
has long tasks of its own (parsing and the first layout of the page).
Exits 1 if a target fails. Bounded: every wait has a timeout; servers are stopped by PID.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _harness import BENCH_DIR, REPO, Servers, clean_env, free_port, machine, now_utc

VANILLA_VERSION = "3.1.0"
CACHE = BENCH_DIR / ".cache"
VANILLA_DIST = CACHE / "node_modules" / "vanilla-cookieconsent" / "dist"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
CPU_SLOWDOWN = 4
TARGET_GZIP = 10_000
PAGE_TIMEOUT_MS = 15_000

# Registered before any page script: long tasks and layout shifts from the first moment, and
# the moment the first layer is visible (told to Python by a console message). Nothing of
# Playwright's own in-page machinery (selector polling, evaluate) runs while a load is measured:
# it would count in the page's script time and could itself make long tasks.
OBSERVERS = """
(() => {
  const SELECTOR = %s;
  const b = window.__bench = {longtasks: [], shifts: [], frames: [], observers: [], visible: null};
  const watch = (type, fn) => {
    try {
      const o = new PerformanceObserver((list) => list.getEntries().forEach(fn));
      o.observe({type, buffered: true});
      b.observers.push([o, fn]);
    } catch (e) { b.unsupported = (b.unsupported || []).concat(type); }
  };
  watch("longtask", (e) => b.longtasks.push({start: e.startTime, duration: e.duration}));
  watch("long-animation-frame", (e) => b.frames.push({scripts: e.scripts.map((s) => (
    {start: s.startTime, duration: s.duration, url: s.sourceURL}))}));
  watch("layout-shift", (e) => {
    if (!e.hadRecentInput) b.shifts.push({start: e.startTime, value: e.value});
  });
  // Visible as Playwright means it: a non-empty box, not display:none nor visibility:hidden.
  let pending = false, frames = 0;
  const check = () => {
    pending = false;
    const el = document.querySelector(SELECTOR);
    if (!el) return;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && el.checkVisibility({visibilityProperty: true})) {
      b.visible = performance.now();
      mo.disconnect();
      console.debug("__bench_visible " + b.visible);
    } else if (frames++ < 600) { pending = true; requestAnimationFrame(check); }
  };
  const mo = new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(check); }
  });
  mo.observe(document, {childList: true, subtree: true, attributes: true});
})();
"""
COLLECT = """JSON.stringify((() => {
  const b = window.__bench;
  // entries queued but not yet delivered to the callbacks
  b.observers.forEach(([o, fn]) => o.takeRecords().forEach(fn));
  return {longtasks: b.longtasks, shifts: b.shifts, frames: b.frames,
          unsupported: b.unsupported || [],
          visible: b.visible};
})())"""

BODY = """<body>
<main>
<h1>Tuiqiqi — B2B export platform</h1>
<p>A bare page that embeds only a consent banner, for the benchmark. The same text is on both
pages so that the layout the banner could shift is the same.</p>
<p>Suppliers, buyers, product videos, inquiries and cross-border payments.</p>
</main>
</body></html>"""

CONSENTRY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<script src="{base}/cmp.js" data-site="demo"></script>
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Consentry banner bench</title>
</head>""" + BODY

CONTROL_PAGE = CONSENTRY_PAGE.replace('<script src="{base}/cmp.js" data-site="demo"></script>',
                                     '<script src="/control.js"></script>')
CONTROL_JS = "window.dataLayer = window.dataLayer || [];\n"

# vanilla-cookieconsent's documented UMD setup: CSS in <head>, script + run() at the end of body.
VANILLA_CONFIG: dict[str, Any] = {
    # its default (true) hides the banner from navigator.webdriver, i.e. from Playwright
    "hideFromBots": False,
    "categories": {
        "necessary": {"enabled": True, "readOnly": True},
        "analytics": {},
        "marketing": {},
    },
    "language": {
        "default": "en",
        "translations": {"en": {
            "consentModal": {
                "title": "Your privacy on Tuiqiqi",
                "description": "We use cookies and similar technologies (web beacons, pixel tags) "
                               "to keep the site secure and working. Only if you agree do we also "
                               "use them to measure how the site is used and show relevant ads.",
                "acceptAllBtn": "Accept all",
                "acceptNecessaryBtn": "Reject all",
                "showPreferencesBtn": "Choose purposes",
            },
            "preferencesModal": {
                "title": "Privacy settings",
                "acceptAllBtn": "Accept all",
                "acceptNecessaryBtn": "Reject all",
                "savePreferencesBtn": "Save my choices",
                "closeIconLabel": "Close",
                "sections": [
                    {"title": "Strictly necessary", "linkedCategory": "necessary",
                     "description": "Keeps the site secure and working. Always on."},
                    {"title": "Analytics", "linkedCategory": "analytics",
                     "description": "Measures how the site is used so we can improve it."},
                    {"title": "Advertising", "linkedCategory": "marketing",
                     "description": "Lets Google Ads measure how our ads perform."},
                ],
            },
        }},
    },
}
VANILLA_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<link rel="stylesheet" href="/cookieconsent.css">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vanilla-cookieconsent banner bench</title>
</head>""" + BODY.replace("</body>", """<script src="/cookieconsent.umd.js"></script>
<script>CookieConsent.run({config});</script>
</body>""")


@dataclass
class Product:
    name: str
    origin: str
    page_path: str
    html: str
    visible: str  # selector of the first layer
    assets: tuple[str, ...]  # URL paths of the banner's own JS and CSS
    code: tuple[str, ...]  # URL paths of the scripts that are the banner's code
    loads: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def page_url(self) -> str:
        return self.origin + self.page_path


# --- setup ----------------------------------------------------------------------------------

def ensure_vanilla() -> Path:
    """vanilla-cookieconsent from the npm registry, into the git-ignored bench/.cache/."""
    pkg = VANILLA_DIST.parent / "package.json"
    if pkg.exists() and json.loads(pkg.read_text("utf-8")).get("version") == VANILLA_VERSION:
        return VANILLA_DIST
    npm = shutil.which("npm")
    if not npm:
        sys.exit("npm is not installed: it is needed once to fetch vanilla-cookieconsent "
                 f"{VANILLA_VERSION} into {CACHE}")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund",
                           "--ignore-scripts", f"vanilla-cookieconsent@{VANILLA_VERSION}"],
                          cwd=CACHE, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not (VANILLA_DIST / "cookieconsent.umd.js").exists():
        sys.exit(f"npm install vanilla-cookieconsent@{VANILLA_VERSION} failed:\n"
                 f"{done.stderr or done.stdout}")
    return VANILLA_DIST


def consentry_cli() -> list[str]:
    # The module, not an installed script: the script may run another checkout's code.
    return [sys.executable, "-m", "consentry"]


# --- one page load --------------------------------------------------------------------------

def load_once(browser: Any, product: Product, settle_ms: int, keep_bodies: bool) -> dict[str, Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        ctx.add_init_script(OBSERVERS % json.dumps(product.visible))
        ctx.route(product.page_url, lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=product.html,
            headers={"Cache-Control": "no-store"}))
        page = ctx.new_page()
        requests: list[Any] = []
        page.on("requestfinished", lambda r: requests.append(r))
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        cdp = ctx.new_cdp_session(page)
        cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})

        with page.expect_console_message(lambda m: m.text.startswith("__bench_visible"),
                                         timeout=PAGE_TIMEOUT_MS):
            page.goto(product.page_url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_timeout(settle_ms)
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        # read through CDP after the metrics: no Playwright helper script in the page
        observed = json.loads(cdp.send("Runtime.evaluate", {"expression": COLLECT,
                                                             "returnByValue": True})
                              ["result"]["value"])
        if errors or failed:
            raise RuntimeError(f"{product.name}: page errors {errors}, failed requests {failed}")
        if observed["unsupported"]:
            raise RuntimeError(f"this Chromium does not report {observed['unsupported']}")

        others = [r for r in requests if r.url != product.page_url]
        result = {
            "script_ms": metrics["ScriptDuration"] * 1000,
            "task_ms": metrics["TaskDuration"] * 1000,
            "visible_ms": observed["visible"],
            "longtasks": [dict(t, banner_ms=banner_ms(product, t, observed["frames"]),
                               draws=t["start"] <= observed["visible"] <= t["start"] + t["duration"])
                          for t in observed["longtasks"]],
            "cls": sum(s["value"] for s in observed["shifts"]),
            "shifts": observed["shifts"],
            "requests": [r.url for r in others],
        }
        if keep_bodies:
            product.responses = [response_bytes(r) for r in others]
        return result
    finally:
        ctx.close()


def banner_ms(product: Product, task: dict[str, Any], frames: list[dict[str, Any]]) -> float:
    """The banner's script time inside a long task, from long-animation-frame attribution."""
    start, end = task["start"], task["start"] + task["duration"]
    return sum(max(0.0, min(end, s["start"] + s["duration"]) - max(start, s["start"]))
               for f in frames for s in f["scripts"]
               if urlsplit(s["url"] or "").path in product.code)


def is_banners(task: dict[str, Any]) -> bool:
    """A long task the banner causes: its code runs in it, or it draws the first layer."""
    return bool(task["banner_ms"] > 0 or task["draws"])


def response_bytes(request: Any) -> dict[str, Any]:
    response = request.response()
    body = response.body() if response else b""
    sizes = request.sizes()
    return {
        "url": request.url,
        "type": request.resource_type,
        "status": response.status if response else 0,
        "encoding": (response.headers.get("content-encoding", "") if response else ""),
        "raw": len(body),
        "gzip9": len(gzip.compress(body, 9, mtime=0)),
        "sent": sizes["responseBodySize"],  # body bytes on the wire, as the server encoded them
        "headers": sizes["responseHeadersSize"],
    }


# --- report ---------------------------------------------------------------------------------

def kind(p: Product, url: str) -> str:
    """The banner's own JS/CSS, the banner's API calls, or a site tag the banner let run."""
    path = urlsplit(url).path
    if path in p.assets:
        return "banner JS/CSS"
    if path.startswith("/v1/"):
        return "banner API"
    return "site tag"


def banner_bytes(p: Product) -> dict[str, int]:
    assets = [r for r in p.responses if kind(p, r["url"]) == "banner JS/CSS"]
    banner = [r for r in p.responses if kind(p, r["url"]) != "site tag"]
    return {
        "assets_gzip9": sum(r["gzip9"] for r in assets),
        "assets_raw": sum(r["raw"] for r in assets),
        "assets_sent": sum(r["sent"] for r in assets),
        "api_gzip9": sum(r["gzip9"] for r in banner) - sum(r["gzip9"] for r in assets),
        "banner_gzip9": sum(r["gzip9"] for r in banner),
        "banner_sent": sum(r["sent"] for r in banner),
    }


def summary(values: list[float]) -> tuple[float, float, float, float, float]:
    """mean, median, min, max, standard error of the mean."""
    sem = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return (statistics.fmean(values), statistics.median(values), min(values), max(values), sem)


def git_head() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "static/js"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (static/js modified)" if dirty else "")


def report(products: list[Product], runs: int, settle_ms: int, chromium: str,
           load: tuple[float, float]) -> int:
    cons, van, ctl = products
    print(f"Banner: Consentry vs vanilla-cookieconsent {VANILLA_VERSION}, {now_utc()}")
    print(f"machine: {machine()}; load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after"
          " (other work on the machine inflates every task; compare the columns)")
    print(f"browser: Chromium {chromium} ({CHROMIUM}), CPU throttled {CPU_SLOWDOWN}x, "
          f"{runs} loads each (alternating, fresh context each), window: navigation until the "
          f"first layer is visible + {settle_ms} ms")
    print(f"consentry: commit {git_head()}, page on the demo server, site \"demo\"")
    print()
    print("Bytes (first load of each; gzip -9 computed here on the bytes the page received):")
    print(f"  {'response':52}{'counted as':>15}{'raw':>9}{'gzip -9':>9}{'sent':>9}  encoding")
    for p in products:
        for r in p.responses if p.assets else ():
            u = urlsplit(r["url"])
            name = f"{p.name.split()[0]} {u.path}{'?' + u.query if u.query else ''}"
            print(f"  {name:52.52}{kind(p, r['url']):>15}{r['raw']:>9}{r['gzip9']:>9}"
                  f"{r['sent']:>9}  {r['encoding'] or 'identity'}")
    print("  (sent: body bytes on the wire; a site tag is the customer's script, not the banner's "
          "cost: excluded from the byte totals, counted in requests and script time)")
    print()

    rows: dict[str, dict[str, Any]] = {}
    for p in products:
        b = banner_bytes(p)
        script = summary([x["script_ms"] for x in p.loads])
        visible = summary([x["visible_ms"] for x in p.loads])
        rows[p.name] = {
            "bytes": b,
            "requests": sorted({len(x["requests"]) for x in p.loads}),
            "tag_requests": sorted({sum(kind(p, u) == "site tag" for u in x["requests"])
                                    for x in p.loads}),
            "script": script,
            "visible": visible,
            "longtasks": sum(len(x["longtasks"]) for x in p.loads),
            "longtask_loads": sum(1 for x in p.loads if x["longtasks"]),
            "early": sum(1 for x in p.loads for t in x["longtasks"]
                         if t["start"] <= x["visible_ms"]),
            "early_loads": sum(1 for x in p.loads
                               if any(t["start"] <= x["visible_ms"] for t in x["longtasks"])),
            "longest": max((t["duration"] for x in p.loads for t in x["longtasks"]), default=0.0),
            "cls": max(x["cls"] for x in p.loads),
            "own": sum(1 for x in p.loads for t in x["longtasks"] if is_banners(t)),
        }

    def req(r: dict[str, Any]) -> str:
        return "/".join(str(n) for n in r["requests"])

    def tag_req(r: dict[str, Any]) -> str:
        return "/".join(str(n) for n in r["tag_requests"])

    w = 24
    print(f"{'':44}{cons.name:>{w}}{'vanilla-cookieconsent':>{w}}{'control (no banner)':>{w}}")
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("JS+CSS, gzip -9 (bytes)", lambda r: f"{r['bytes']['assets_gzip9']:,}"),
        ("JS+CSS, uncompressed (bytes)", lambda r: f"{r['bytes']['assets_raw']:,}"),
        ("JS+CSS, sent by the server (bytes)", lambda r: f"{r['bytes']['assets_sent']:,}"),
        ("banner API (config, tags), gzip -9 (bytes)", lambda r: f"{r['bytes']['api_gzip9']:,}"
         if r['bytes']['api_gzip9'] else "0 (config inline)"),
        ("banner total, gzip -9 (bytes)", lambda r: f"{r['bytes']['banner_gzip9']:,}"),
        ("banner total, sent by the server (bytes)", lambda r: f"{r['bytes']['banner_sent']:,}"),
        ("requests after the document", req),
        ("  of which site tags run by the banner", tag_req),
        (f"script time @{CPU_SLOWDOWN}x CPU, mean ± s.e. (ms)",
         lambda r: f"{r['script'][0]:.1f} ± {r['script'][4]:.1f}"),
        (f"script time @{CPU_SLOWDOWN}x CPU, median (ms)", lambda r: f"{r['script'][1]:.1f}"),
        (f"script time @{CPU_SLOWDOWN}x CPU, min-max (ms)",
         lambda r: f"{r['script'][2]:.1f}-{r['script'][3]:.1f}"),
        ("first layer visible at, median (ms)", lambda r: f"{r['visible'][1]:.0f}"),
        (f"long tasks until visible, {runs} loads (loads)",
         lambda r: f"{r['early']} ({r['early_loads']})"),
        (f"long tasks until visible+{settle_ms}ms (loads)",
         lambda r: f"{r['longtasks']} ({r['longtask_loads']})"
         + (f", longest {r['longest']:.0f} ms" if r["longtasks"] else "")),
        ("  of which the banner's (code, 1st frame)", lambda r: f"{r['own']}"),
        ("layout shift (CLS, worst load)", lambda r: f"{r['cls']:.4f}"),
    ]
    # rows about a banner's bytes or its own tasks mean nothing for the control page
    banner_only = ("JS+CSS", "banner", "  of which")
    for label, fmt in lines:
        cells = [fmt(rows[p.name]) if p.assets or not label.startswith(banner_only) else "-"
                 for p in products]
        print(f"{label:44}" + "".join(f"{cell:>{w}}" for cell in cells))
    print()

    c, v = rows[cons.name], rows[van.name]
    targets = [
        (f"JS+CSS <= {TARGET_GZIP:,} bytes gzip", c["bytes"]["assets_gzip9"] <= TARGET_GZIP,
         f"{c['bytes']['assets_gzip9']:,} bytes (with its API answers "
         f"{c['bytes']['banner_gzip9']:,}; vanilla-cookieconsent {v['bytes']['assets_gzip9']:,})"),
        ("script time below vanilla-cookieconsent's", c["script"][0] < v["script"][0],
         f"mean {c['script'][0]:.1f} ms vs {v['script'][0]:.1f} ms "
         f"(median {c['script'][1]:.1f} vs {v['script'][1]:.1f})"),
        ("no long task of the banner's", c["own"] == 0,
         f"{c['own']} (vanilla-cookieconsent: {v['own']}); all long tasks of the page: "
         f"{c['longtasks']} in {c['longtask_loads']} of {runs} loads, vanilla-cookieconsent "
         f"{v['longtasks']} in {v['longtask_loads']}, the control page without a banner "
         f"{rows[ctl.name]['longtasks']} in {rows[ctl.name]['longtask_loads']}"),
        ("no layout shift", c["cls"] == 0, f"CLS {c['cls']:.4f} (worst load)"),
    ]
    print("Long tasks (load: start, duration; the banner's script time inside the task; "
          "'draws' if it drew the first layer):")
    for p in products:
        found = [f"#{i + 1}: {t['start']:.0f} ms, {t['duration']:.0f} ms"
                 + (f"; banner {t['banner_ms']:.0f} ms" + ("; draws" if t["draws"] else "")
                    if p.assets else "")
                 for i, x in enumerate(p.loads) for t in x["longtasks"]]
        print(f"  {p.name}: " + ("; ".join(found) if found else "none"))
    print()
    print("Targets (issue 3), for Consentry:")
    for name, ok, detail in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:44} {detail}")
    return 0 if all(ok for _, ok, _ in targets) else 1


# --- main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="page loads per product (20)")
    p.add_argument("--settle-ms", type=int, default=500,
                   help="keep measuring this long after the banner is visible (500)")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("playwright is not installed: pip install playwright (no browser download "
                 "needed: Debian's Chromium is used)")
    dist = ensure_vanilla()
    load_before = os.getloadavg()[0]

    with Servers() as servers:
        work = servers.workdir
        site = work / "vanilla"
        site.mkdir()
        for name in ("cookieconsent.umd.js", "cookieconsent.css"):
            shutil.copyfile(dist / name, site / name)
        (site / "control.js").write_text(CONTROL_JS, "utf-8")

        demo_port, static_port = free_port(), free_port()
        demo = servers.start("consentry-demo", [*consentry_cli(), "demo", "--host", "127.0.0.1",
                                                "--port", str(demo_port), "--dir",
                                                str(work / "demo")],
                             port=demo_port, env=clean_env(), ready_path="/healthz")
        static = servers.start("http.server", [sys.executable, "-m", "http.server", "--bind",
                                               "127.0.0.1", "--directory", str(site),
                                               str(static_port)],
                               port=static_port, env=clean_env(), ready_path="/cookieconsent.css")

        products = [
            Product("Consentry", demo.base, "/bench/banner-only.html",
                    CONSENTRY_PAGE.format(base=demo.base), ".cmp-banner",
                    ("/cmp.js", "/cmp.css"), ("/cmp.js",)),
            Product(f"vanilla-cookieconsent {VANILLA_VERSION}", static.base, "/bench.html",
                    VANILLA_PAGE.replace("{config}", json.dumps(VANILLA_CONFIG)), "#cc-main .cm",
                    ("/cookieconsent.umd.js", "/cookieconsent.css"),
                    # its run() call with the config is an inline script of the page
                    ("/cookieconsent.umd.js", "/bench.html")),
            Product("control (no banner)", static.base, "/control.html", CONTROL_PAGE, "main",
                    (), ("/control.js",)),
        ]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                for product in products:  # one unmeasured warm-up load each (server caches, JIT)
                    load_once(browser, product, args.settle_ms, keep_bodies=True)
                for i in range(args.runs):  # each product in turn, starting with another
                    for product in products[i % 3:] + products[:i % 3]:
                        product.loads.append(load_once(browser, product, args.settle_ms,
                                                       keep_bodies=False))
                chromium = browser.version
            finally:
                browser.close()
    return report(products, args.runs, args.settle_ms, chromium,
                  (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    sys.exit(main())
