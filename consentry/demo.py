"""Routes of `consentry demo`: a page of the customer's site that embeds the banner.

The customer's SDKs are replaced by local stand-ins (consentry/demo_static/) that each set a cookie
and call /demo/hit when they run, so a person (or a browser test) can watch what the banner lets
run, when, and what it cleans up. Hits are kept in memory, newest last, at /demo/hits.

Two demo-only helpers besides the pages: `DemoRegion`, a middleware that lets a person try each
regime from the page (?region=DE|US-CA|CN, remembered in a cookie) by setting the country headers
the policy engine reads, and `write_sample_email`, which writes one tracked message for a sample
recipient into the demo folder (and `seed_member`, a member with that address, a phone number
and an SMS opt-in). Neither exists outside `consentry demo` (consentry.server adds
them only in demo mode).
"""

from __future__ import annotations

import base64
import html
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cmp.api.assets import version
from cmp.api.http import field_error
from cmp.app_state import Services, open_checked
from cmp.asks import AskIn, parse
from cmp.errors import DomainError, FieldError
from cmp.hints import make_hint

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
        "regions": "Try each regime",
        "regions_intro": "The demo pretends you are in the place you pick (it sets the country "
                         "header a CDN would send); the banner, its texts and what may run follow "
                         "that place's rules.",
        "region_DE": "Germany (EU · GDPR: opt-in)",
        "region_US-CA": "California (US · opt-out, Global Privacy Control binding)",
        "region_CN": "China (PIPL: opt-in, separate consent)",
        "region_auto": "Unknown place (the strictest regime)",
        "region_now": "Now",
        "more": "Also",
        "member": "Signed in as member {ref}. The page carries a person hint (data-person): a "
                  "choice made on another browser signed in as this member applies here without "
                  "the banner, and a choice made here follows the member.",
    },
    "zh-CN": {
        "title": "Tuiqiqi 外贸 B2B 平台（Consentry 演示）",
        "intro": "这是客户网站的一个页面。下面每个第三方 SDK 都是本地替身：运行时会写入 Cookie 并请求 "
                 "/demo/hit；由横幅决定哪些可以运行。",
        "video": "产品视频（腾讯云，需要“功能增强”）",
        "add": "现在添加微信分享按钮（模拟单页应用）",
        "prefs": "隐私设置",
        "state": "运行情况",
        "regions": "试试各地区的规则",
        "regions_intro": "演示会假装您位于所选地区（设置 CDN 会发送的国家请求头）；横幅、文字以及允许运行的"
                         "内容都按该地区的规则处理。",
        "region_DE": "德国（欧盟 · GDPR：事先同意）",
        "region_US-CA": "加利福尼亚（美国 · 选择退出，全球隐私控制 GPC 具有约束力）",
        "region_CN": "中国（PIPL：事先同意，单独同意）",
        "region_auto": "未知地区（最严格的规则）",
        "region_now": "当前",
        "more": "另见",
        "member": "已以会员 {ref} 的身份登录。页面带有会员提示（data-person）：在另一个以该会员登录的浏览器上"
                  "所做的选择会直接在这里生效，不再显示横幅；在这里所做的选择也会随会员同步。",
    },
}

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<script src="/cmp.js?v={version}" data-site="demo" data-tags="off"{person}></script>
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
<a href="/demo/tags">/demo/tags</a> · <a href="/demo/member">/demo/member</a> ·
<a href="/demo/hits">/demo/hits</a> · <a href="/v1/sites/demo/config">config</a> · <a href="/dashboard/">dashboard</a> ·
<a href="/openapi.json">OpenAPI</a></header>
<main>
<h1>{title}</h1>
<p>{intro}</p>{member}
<section id="demo-regions"><h2>{regions}</h2>
<p>{regions_intro}</p>
<ul>{region_links}</ul></section>
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


def _region_links(request: Request, t: dict[str, str]) -> str:
    now = chosen_region(request.scope) or "auto"
    items = []
    for region in (*REGIONS, "auto"):
        label = t[f"region_{region}"]
        mark = f' aria-current="true"><strong>{label}</strong> ({t["region_now"]})' \
            if region == now else f">{label}"
        items.append(f'<li><a href="{request.url.path}?region={region}"{mark}</a></li>')
    return "".join(items)


def _page(request: Request, nonce: str | None, member: tuple[str, str] | None = None) -> str:
    """The demo page; `member`: (ref, person hint) of a signed-in member."""
    lang = _language(request)
    t = {k: html.escape(v) for k, v in TEXT[lang].items()}
    person = note = ""
    if member is not None:
        person = f' data-person="{html.escape(member[1])}"'
        note = f'\n<p id="demo-member">{t["member"].format(ref=html.escape(member[0]))}</p>'
    t["member"] = note
    return PAGE.format(lang=lang, version=_version(), nonce=f' nonce="{nonce}"' if nonce else "",
                       region_links=_region_links(request, t), person=person, **t)


async def demo_page(request: Request) -> Response:
    return HTMLResponse(_page(request, None), headers={"Cache-Control": "no-store",
                                                       "Vary": "Accept-Language"})


async def member_page(request: Request) -> Response:
    """The page as the site renders it for a signed-in member (`?ref=`, default M-1001): its
    backend's person hint on the snippet. Open it in two browsers to see a choice follow."""
    ref = request.query_params.get("ref") or "M-1001"
    if len(ref) > 64 or not ref.isprintable():
        return JSONResponse({"error": "at most 64 printable characters", "field": "ref"},
                            status_code=400)
    svc: Services = request.app.state.services
    hint = make_hint(svc.keyring.site("demo").hint_key, "demo", ref)
    return HTMLResponse(_page(request, None, (ref, hint)),
                        headers={"Cache-Control": "no-store", "Vary": "Accept-Language"})


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


# --- replying to an overseas buyer (per-recipient ask) and the cloud exhibition ---------------

# Fictional buyers; the ask carries one of them to the member's page.
BUYERS: dict[str, dict[str, Any]] = {
    "B-1": {"id": "B-1", "name": "Nordlicht Handel GmbH", "contact": "sourcing@nordlicht.example",
            "country": "DE"},
    "B-2": {"id": "B-2", "name": "Maple & Pine Imports Ltd.", "contact": "+1 604 555 0142",
            "country": "CA"},
}
INQUIRY_TEXT = {
    "en": {"title": "Inquiry from an overseas buyer (Consentry demo)", "from": "Inquiry from",
           "body": "We are looking for 2,000 stainless-steel vacuum flasks (500 ml) with our "
                   "logo, delivery in 60 days. Please send your best FOB price.",
           "reply": "Reply", "exhibition": "Cloud exhibition",
           "join": "Join the cloud exhibition (camera and microphone)",
           "notify": "Remind me of exhibitions (notifications)",
           "mine": "Who may receive my data", "member": "Signed in as member {ref}.",
           "intro": "Replying gives this buyer your e-mail and IP address, so Tuiqiqi asks "
                    "first: Consentry.ask(token) with an ask the backend made for this member "
                    "and this buyer. The exhibition button calls getUserMedia, held until the "
                    "consent dialog is answered."},
    "zh-CN": {"title": "境外买家询盘（Consentry 演示）", "from": "询盘来自",
              "body": "我们需要 2000 个带我方标志的 500 毫升不锈钢保温杯，60 天内交货。请报最优 FOB 价格。",
              "reply": "回复", "exhibition": "云展会", "join": "进入云展会（摄像头和麦克风）",
              "notify": "提醒我展会信息（通知）", "mine": "哪些接收方可以获得我的信息",
              "member": "已以会员 {ref} 的身份登录。",
              "intro": "回复会把您的电子邮箱地址和 IP 地址提供给该买家，因此 Tuiqiqi 会先征求您的同意："
                       "后端为该会员和该买家创建一次询问，页面调用 Consentry.ask(token)。展会按钮调用 "
                       "getUserMedia，在您回答同意对话框之前不会继续。"},
}
INQUIRY_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<script src="/cmp.js?v={version}" data-site="demo" data-tags="off" data-person="{hint}"
 nonce="{nonce}"></script>
<link rel="stylesheet" href="/demo/static/demo.css">
</head><body>
<header><strong>Tuiqiqi</strong> · <a href="/">/</a> · <a href="/demo/inquiry">/demo/inquiry</a>
 · <a href="{mine_url}" id="demo-mine">{mine}</a></header>
<main data-ref="{ref}" data-buyer="{buyer_id}">
<h1>{title}</h1>
<p>{member}</p>
<p>{intro}</p>
<section><h2>{from} {buyer_name} ({buyer_country})</h2>
<p>{body}</p>
<p><button type="button" id="demo-reply">{reply}</button></p>
<p id="demo-ask-result" role="status"></p></section>
<section><h2>{exhibition}</h2>
<p><button type="button" id="demo-join">{join}</button>
<button type="button" id="demo-notify">{notify}</button></p>
<video id="demo-camera" muted playsinline width="320" height="180" hidden></video>
<p id="demo-perm-result" role="status"></p></section>
</main>
<script src="/demo/static/inquiry.js" nonce="{nonce}"></script>
</body></html>"""


def _member_ref(request: Request) -> str | None:
    ref = request.query_params.get("ref") or "M-1001"
    return ref if len(ref) <= 64 and ref.isprintable() else None


async def inquiry_page(request: Request) -> Response:
    """A signed-in member's inquiry page (`?ref=`, default M-1001; `?buyer=B-1|B-2`) under the
    strict CSP: the banner's optional modules load by its nonce."""
    ref = _member_ref(request)
    buyer = BUYERS.get(request.query_params.get("buyer") or "B-1")
    if ref is None or buyer is None:
        return JSONResponse({"error": "ref: at most 64 printable characters; buyer: "
                             f"one of {sorted(BUYERS)}", "field": "ref" if ref is None
                             else "buyer"}, status_code=400)
    svc: Services = request.app.state.services
    lang = _language(request)
    t = {k: html.escape(v) for k, v in INQUIRY_TEXT[lang].items()}
    token, _ = svc.asks.self_service_token("demo", ref)
    nonce = secrets.token_urlsafe(16)
    page = INQUIRY_PAGE.format(
        lang=lang, version=_version(), nonce=nonce, ref=html.escape(ref),
        hint=html.escape(make_hint(svc.keyring.site("demo").hint_key, "demo", ref)),
        mine_url=f"/p/demo/me/{token}?lang={lang}", buyer_id=buyer["id"],
        buyer_name=html.escape(buyer["name"]), buyer_country=buyer["country"],
        **{**t, "member": t["member"].format(ref=html.escape(ref))})
    return HTMLResponse(page, headers={"Content-Security-Policy": STRICT_CSP.format(nonce=nonce),
                                       "Cache-Control": "no-store", "Vary": "Accept-Language"})


async def inquiry_ask(request: Request) -> Response:
    """What the customer's backend does when the member presses Reply: an ask for this member
    and this buyer (POST /v1/sites/demo/asks, here in-process), its token to the page."""
    try:
        body = await request.json()
        ref, buyer = str(body["ref"]), BUYERS[str(body["buyer"])]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "send {ref, buyer}", "field": "body"}, status_code=400)
    svc: Services = request.app.state.services
    try:
        ask_id, token, expires = svc.asks.create("demo", parse(AskIn, {
            "item": "overseas_buyer_reply", "person": ref, "recipient": buyer}))
    except DomainError as exc:
        return field_error(exc)
    return JSONResponse({"ask_id": ask_id, "token": token, "expires": expires},
                        headers={"Cache-Control": "no-store"})


def demo_routes() -> list[BaseRoute]:
    return [
        Route("/", demo_page, methods=["GET"]),
        Route("/demo/csp", csp_page, methods=["GET"]),
        Route("/demo/tags", tags_page, methods=["GET"]),
        Route("/demo/member", member_page, methods=["GET"]),
        Route("/demo/inquiry", inquiry_page, methods=["GET"]),
        Route("/demo/inquiry/ask", inquiry_ask, methods=["POST"]),
        Route("/demo/hit", hit, methods=["GET"]),
        Route("/demo/hits", hits, methods=["GET"]),
        Route("/demo/video", video, methods=["GET"]),
        Route("/demo/static/{name}", static, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
    ]


# --- trying each regime (demo only) -----------------------------------------------------------

# The places the page offers, as the (country, subdivision) a CDN would report.
REGIONS: dict[str, tuple[str, str | None]] = {"DE": ("DE", None), "US-CA": ("US", "CA"),
                                              "CN": ("CN", None)}
REGION_COOKIE = "consentry_demo_region"


def _query_region(scope: Mapping[str, Any]) -> str | None:
    """`?region=` on this request: a REGIONS key, "auto" (forget the choice), or None."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("region")
    if not values:
        return None
    return values[-1] if values[-1] in REGIONS else "auto"


def chosen_region(scope: Mapping[str, Any]) -> str | None:
    """The region this request runs as: from ?region=, else the demo cookie; None: not chosen."""
    asked = _query_region(scope)
    if asked is not None:
        return None if asked == "auto" else asked
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            morsel = SimpleCookie(value.decode("latin-1")).get(REGION_COOKIE)
            if morsel is not None and morsel.value in REGIONS:
                return morsel.value
    return None


class DemoRegion:
    """Demo only: run a request as if from the region the person picked on the demo page.

    It writes the picked country (and subdivision) into the headers the `country_header` and
    `subdivision_header` settings name, replacing any the client sent, so the policy engine
    decides exactly as behind a CDN. Nothing chosen: the request passes untouched (the real
    header, or none and the strictest regime). consentry.server adds it only in demo mode."""

    def __init__(self, app: Any, country_header: str, subdivision_header: str) -> None:
        self.app = app
        self.country = country_header.lower().encode("latin-1")
        self.subdivision = subdivision_header.lower().encode("latin-1")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.country:
            await self.app(scope, receive, send)
            return
        region = chosen_region(scope)
        if region is not None:
            country, subdivision = REGIONS[region]
            headers = [(k, v) for k, v in scope["headers"]
                       if k not in (self.country, self.subdivision)]
            headers.append((self.country, country.encode()))
            if subdivision and self.subdivision:
                headers.append((self.subdivision, subdivision.encode()))
            scope = {**scope, "headers": headers}
        asked = _query_region(scope)
        if asked is None:
            await self.app(scope, receive, send)
            return
        cookie = (f"{REGION_COOKIE}={asked}; Path=/; SameSite=Lax" if asked != "auto" else
                  f"{REGION_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax")

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# --- a demo member (demo only) ----------------------------------------------------------------

MEMBER = "M-1001"
MEMBER_PHONE = "+8613800138000"


async def seed_member(svc: Services) -> None:
    """The member the printed people and may-contact curls ask about: account M-1001 with the
    sample recipient's e-mail address and a phone number linked, and an SMS opt-in ticked on
    the sign-up form (the whole channel, whatever SMS lists the config has). Recorded only
    when the demo's ledger knows nothing of them: whatever was done to them since (an opt-out
    by API, operator or SMS reply) stands when the demo starts again."""
    from cmp.people import parse_link, parse_person_event

    people = svc.people
    if await people.state("demo", MEMBER) is not None:
        return
    for ids in ({"email": [SAMPLE_TO], "phone": [MEMBER_PHONE]}, {"phone": [MEMBER_PHONE]}):
        try:
            await people.link("demo", MEMBER, parse_link({**ids, "method": "signup_form"}))
            break
        except FieldError:  # someone linked the address (or number) to another member
            continue
    else:
        return
    await people.record("demo", MEMBER, parse_person_event({
        "method": "signup_form", "reference": "consentry demo: sign-up form",
        "channels": [{"channel": "sms", "list": "*", "allowed": True}]}))


# --- a sample tracked e-mail (demo only) ------------------------------------------------------

SAMPLE_TO = "buyer@example.com"
SAMPLE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Tuiqiqi news / Tuiqiqi 资讯</title></head><body>
<h1>Tuiqiqi</h1>
<p>New buyers in your trade this week. (A sample tracked message from the Consentry demo.)</p>
<p>本周您所在行业的新买家。（Consentry 演示生成的示例跟踪邮件。）</p>
<p><a href="{base}/">See the buyers · 查看买家</a></p>
</body></html>
"""


@dataclass(frozen=True)
class SampleEmail:
    eml: Path
    html: Path
    pixel: str
    click: str
    unsubscribe: str


def _links(body: str) -> tuple[str, str]:
    """The open pixel and the first visible click link of a prepared body."""
    pixel = re.search(r'<img src="([^"]*/e/o/[^"]*)"', body)
    clicks = [m.group(1) for m in re.finditer(r'<a href="([^"]*/e/c/[^"]*)"([^>]*)>', body)
              if "aria-hidden" not in m.group(2)]  # not the honeypot a scanner follows
    if pixel is None or not clicks:
        raise RuntimeError("the sample message came out untracked")
    return html.unescape(pixel.group(1)), html.unescape(clicks[0])


async def write_sample_email(svc: Services, folder: Path, base: str) -> SampleEmail:
    """Record a consent (with tracking) for a sample recipient, as an import would, and write
    one tracked message for them into `folder`: what a sender would hand to its mail server.
    The demo member (`seed_member`) is set up in the same go."""
    from pixel.email.service import EmailService

    await open_checked(svc.storage, svc.settings.database)
    try:
        await seed_member(svc)
        email = EmailService.build(svc)
        await email.consents.import_consent(
            "demo", SAMPLE_TO, ["news"], tracking=True, country="DE", language="en",
            evidence={"source": "consentry demo: sample recipient"})
        prep = await email.preparer.prepare("demo", campaign="demo", list_id="news", to=SAMPLE_TO,
                                            html_body=SAMPLE_HTML.format(base=base),
                                            unsubscribe_text="Unsubscribe · 退订")
        _, cfg = email.consents.site("demo")
        raw = prep.message(to=SAMPLE_TO, sender=cfg.sender, subject="Tuiqiqi news · Tuiqiqi 资讯")
    finally:  # as the app's lifespan closes them: engagement rows flush first
        await svc.storage.close_engagement()
        await svc.storage.close_beacon()
        await svc.storage.close()
        await svc.windows.close()
        svc.policy.close()
    eml, page = folder / "sample-email.eml", folder / "sample-email.html"
    eml.write_bytes(raw)
    page.write_text(prep.html, "utf-8")
    pixel, click = _links(prep.html)
    return SampleEmail(eml, page, pixel, click, prep.unsubscribe_url)
