"""Routes of `consentry demo`: a page of the customer's site that embeds the banner.

The customer's SDKs are replaced by local stand-ins (consentry/demo_static/) that each set a cookie
and call /demo/hit when they run, so a person (or a browser test) can watch what the banner lets
run, when, and what it cleans up. Hits are kept in memory, newest last, at /demo/hits.
"""

from __future__ import annotations

import base64
import html
import secrets
import time
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cmp.api.assets import version

# The assets are read once at startup; so is the version their URLs carry.
_version = cache(version)

STATIC = Path(__file__).parent / "demo_static"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HITS: list[dict[str, object]] = []
MAX_HITS = 10_000

STRICT_CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
              "img-src 'self'; frame-src 'self'; connect-src 'self'; object-src 'none'; "
              "base-uri 'none'; form-action 'self'")

TEXT = {
    "en": {
        "title": "Tuiqiqi — B2B export platform (Consentry demo)",
        "intro": "A page of the customer's site. Each third-party SDK below is a local stand-in "
                 "that sets a cookie and calls /demo/hit when it runs; the banner decides which run.",
        "video": "Product video (Tencent Cloud, needs “Functional”)",
        "add": "Add a WeChat share button now (like a single-page app)",
        "prefs": "Privacy settings",
        "state": "What ran",
    },
    "zh-CN": {
        "title": "Tuiqiqi 外贸 B2B 平台（Consentry 演示）",
        "intro": "这是客户网站的一个页面。下面每个第三方 SDK 都是本地替身：运行时会写入 Cookie 并请求 "
                 "/demo/hit；由横幅决定哪些可以运行。",
        "video": "产品视频（腾讯云，需要“功能增强”）",
        "add": "现在添加微信分享按钮（模拟单页应用）",
        "prefs": "隐私设置",
        "state": "运行情况",
    },
}

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<script src="/cmp.js?v={version}" data-site="demo" data-tags="off"></script>
<link rel="stylesheet" href="/demo/static/demo.css">
<script src="/demo/static/yidun.js" data-vendor="netease_yidun" type="text/plain"></script>
<script type="text/plain" data-vendor="sensors_data" data-src="/demo/static/sensors.js"></script>
<script type="text/plain" data-consent="marketing" data-vendor="google_ads"
 data-src="/demo/static/gtag.js"></script>
<script type="text/plain" data-consent="marketing" data-vendor="google_ads"{nonce}>
  gtag("config", "AW-DEMO");
  (window.demoRan = window.demoRan || []).push({{sdk: "google_ads_config", dataLayer: window.dataLayer.length}});
</script>
</head><body>
<header><strong>Tuiqiqi</strong> · <a href="/">/</a> · <a href="/demo/csp">/demo/csp</a> ·
<a href="/demo/tags">/demo/tags</a> ·
<a href="/v1/sites/demo/config">config</a> · <a href="/openapi.json">OpenAPI</a></header>
<main>
<h1>{title}</h1>
<p>{intro}</p>
<section><h2>{video}</h2>
<iframe data-src="/demo/video" data-consent="functional" data-vendor="tencent_cloud"
 title="{video}"></iframe></section>
<section><h2>{state}</h2>
<p><button type="button" id="demo-add">{add}</button>
<button type="button" id="demo-prefs">{prefs}</button></p>
<pre id="demo-state"></pre></section>
<img data-src="/demo/hit?sdk=google_ads_pixel" data-vendor="google_ads" alt="" width="1" height="1">
</main>
<script type="text/plain" data-consent="personalisation"{nonce}>
  (window.demoRan = window.demoRan || []).push({{sdk: "recommendations", dataLayer: window.dataLayer.length}});
  fetch("/demo/hit?sdk=recommendations");
</script>
<script src="/demo/static/demo.js"></script>
</body></html>"""


# The same site with every SDK taken from the config's tag catalog: the page holds only the
# banner snippet (data-pageview: a page view goes through the beacon once analytics is allowed).
TAGS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tuiqiqi — tags from the tag gate (Consentry demo)</title>
<script src="/cmp.js?v={version}" data-site="demo" data-pageview{nonce}></script>
<link rel="stylesheet" href="/demo/static/demo.css">
</head><body>
<header><strong>Tuiqiqi</strong> · <a href="/">/</a> · <a href="/demo/tags">/demo/tags</a> ·
<a href="/v1/sites/demo/tags">tag gate</a></header>
<main>
<h1>Tags from the tag gate</h1>
<p>This page holds only the Consentry snippet. The banner asks <code>GET /v1/sites/demo/tags</code>
which SDKs the consent allows and loads exactly those, in the catalog's order; page events go
through <code>Consentry.track()</code> to <code>POST /b</code> only with analytics consent.</p>
<p><button type="button" id="demo-track">Consentry.track("demo_click")</button>
<button type="button" id="demo-prefs">Privacy settings</button></p>
<pre id="demo-state"></pre>
</main>
<script src="/demo/static/tagsdemo.js"></script>
</body></html>"""


def _language(request: Request) -> str:
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "zh-CN" if first.startswith("zh") else "en"


def _page(request: Request, nonce: str | None) -> str:
    lang = _language(request)
    t = {k: html.escape(v) for k, v in TEXT[lang].items()}
    return PAGE.format(lang=lang, version=_version(), nonce=f' nonce="{nonce}"' if nonce else "", **t)


async def demo_page(request: Request) -> Response:
    return HTMLResponse(_page(request, None), headers={"Cache-Control": "no-store",
                                                       "Vary": "Accept-Language"})


async def csp_page(request: Request) -> Response:
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(_page(request, nonce), headers={
        "Content-Security-Policy": STRICT_CSP.format(nonce=nonce),
        "Cache-Control": "no-store", "Vary": "Accept-Language"})


async def tags_page(request: Request) -> Response:
    nonce = secrets.token_urlsafe(16)
    csp = request.query_params.get("csp") == "1"
    return HTMLResponse(
        TAGS_PAGE.format(version=_version(), nonce=f' nonce="{nonce}"' if csp else ""),
        headers={"Cache-Control": "no-store",
                 **({"Content-Security-Policy": STRICT_CSP.format(nonce=nonce)} if csp else {})})


async def hit(request: Request) -> Response:
    if len(HITS) >= MAX_HITS:
        del HITS[: MAX_HITS // 2]
    HITS.append({"sdk": request.query_params.get("sdk", ""), "query": str(request.query_params),
                 "t": time.time()})
    return Response(GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})


async def hits(request: Request) -> Response:
    return JSONResponse(HITS, headers={"Cache-Control": "no-store"})


async def video(request: Request) -> Response:
    HITS.append({"sdk": "tencent_cloud", "query": "", "t": time.time()})
    return FileResponse(STATIC / "video.html", headers={"Cache-Control": "no-store"})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return JSONResponse({"error": "no such file", "field": "path"}, status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


def demo_routes() -> list[BaseRoute]:
    return [
        Route("/", demo_page, methods=["GET"]),
        Route("/demo/csp", csp_page, methods=["GET"]),
        Route("/demo/tags", tags_page, methods=["GET"]),
        Route("/demo/hit", hit, methods=["GET"]),
        Route("/demo/hits", hits, methods=["GET"]),
        Route("/demo/video", video, methods=["GET"]),
        Route("/demo/static/{name}", static, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
    ]
