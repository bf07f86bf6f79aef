"""The hosted request page, `/p/{site}/request`: a person asks to see, copy, correct or delete
their information (and the rest of cmp.cases.CASE_TYPES) without the site building a form.

English and Simplified Chinese (`?lang=`, else Accept-Language, else the site's default), no
script, no third-party resource, a strict CSP (the one stylesheet is allowed by its hash), the
same rate limit and intake as `POST /v1/sites/{site}/requests`. A plain form that POSTs to the
same URL; the answer is a page with the case id and the due date.
"""

from __future__ import annotations

import base64
import hashlib
import math
from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, client_ip, single_param
from cmp.app_state import services
from cmp.cases import CASE_TYPES, parse_intake
from cmp.config import SiteConfig
from cmp.errors import DomainError
from cmp.ratelimit import REQUESTS

_T: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy request", "intro": "Ask {site} about the personal information it "
        "holds about you. We answer by e-mail, by the date shown once you send the request.",
        "type": "What would you like?", "email": "Your e-mail address",
        "email_hint": "We reply to this address and may first ask you to confirm it is yours.",
        "message": "Anything we should know (optional)", "send": "Send the request",
        "done": "Request received", "case": "Your request number", "due": "We will reply by",
        "keep": "Keep this number: quote it if you write to us about this request.",
        "bad_email": "Please give an e-mail address we can reply to.",
        "bad_type": "Please choose what you would like.", "bad": "Please check the form.",
        "rate": "Too many requests from your network; please try again in {wait} seconds.",
        "unknown": "This page does not exist.",
        "access": "See what you hold about me", "copy": "Get a copy of my information",
        "correct": "Correct my information", "delete": "Delete my information",
        "withdraw": "Withdraw my consent", "cancel_account": "Close my account",
        "explain_decision": "Explain an automated decision about me",
        "complaint": "Make a complaint",
    },
    "zh-CN": {
        "title": "您的个人信息请求", "intro": "向{site}询问其持有的您的个人信息。我们将通过电子邮件答复，"
        "答复期限在您提交请求后显示。",
        "type": "您希望我们做什么？", "email": "您的电子邮箱",
        "email_hint": "我们将回复至此邮箱，并可能先请您确认该邮箱属于您。",
        "message": "补充说明（可选）", "send": "提交请求",
        "done": "已收到您的请求", "case": "您的请求编号", "due": "我们将在此日期前答复",
        "keep": "请保留此编号：就此请求联系我们时请注明。",
        "bad_email": "请填写一个我们可以回复的电子邮箱。",
        "bad_type": "请选择您希望我们做什么。", "bad": "请检查表单。",
        "rate": "您所在网络的请求过多，请在 {wait} 秒后重试。",
        "unknown": "此页面不存在。",
        "access": "查阅你们持有的我的信息", "copy": "获取我的信息副本",
        "correct": "更正我的信息", "delete": "删除我的信息",
        "withdraw": "撤回我的同意", "cancel_account": "注销我的账户",
        "explain_decision": "解释对我作出的自动化决策",
        "complaint": "提出投诉",
    },
}
_CSS = ("body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;"
        "color:#1a1a1a}label{display:block;font-weight:600;margin-top:1rem}"
        "select,input,textarea{font:inherit;width:100%;box-sizing:border-box;padding:.4rem;"
        "border:1px solid #555;border-radius:.3rem}textarea{min-height:6rem}"
        "button{font:inherit;margin-top:1.2rem;padding:.5rem 1.2rem;border-radius:.4rem;"
        "border:1px solid #1a1a1a;background:#1a1a1a;color:#fff;cursor:pointer}"
        ".hint{color:#444;font-size:.9rem;margin:.2rem 0}[role=alert]{color:#8a1212;"
        "font-weight:600}dl dt{font-weight:600}dl dd{margin:0 0 .8rem}")
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
HEADERS = {**NO_STORE, "Content-Security-Policy": f"default-src 'none'; style-src "
           f"'sha256-{_CSS_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Vary": "Accept-Language"}
MAX_FORM = 8192


def language(request: Request, site: SiteConfig | None) -> str:
    for tag in [single_param(request, "lang") or "",
                *[p.split(";")[0].strip() for p in
                  request.headers.get("accept-language", "").split(",")]]:
        t = tag.lower()
        if t.startswith("zh") and not any(x in t.split("-") for x in ("hant", "tw", "hk", "mo")):
            return "zh-CN"
        if t == "en" or t.startswith("en-"):
            return "en"
    return "zh-CN" if site and site.lang_default.lower().startswith("zh") else "en"


def _page(lang: str, body: str, status: int = 200) -> HTMLResponse:
    t = _T[lang]
    html = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{escape(t["title"])}</title>'
            f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>")
    return HTMLResponse(html, status_code=status, headers={**HEADERS, "Content-Language": lang})


def _form(site: SiteConfig, lang: str, values: dict[str, str], problem: str = "") -> str:
    t = _T[lang]
    chosen = values.get("type", "")
    options = "".join(f'<option value="{k}"{" selected" if k == chosen else ""}>'
                      f"{escape(t[k])}</option>" for k in CASE_TYPES)
    alert = f'<p role="alert" id="problem">{escape(problem)}</p>' if problem else ""
    invalid = ' aria-invalid="true" aria-describedby="problem email-hint"' if problem else \
        ' aria-describedby="email-hint"'
    return (f'<h1>{escape(t["title"])}</h1><p>{escape(t["intro"].format(site=site.name))}</p>'
            f'{alert}<form method="post"><input type="hidden" name="language" value="{lang}">'
            f'<label for="type">{escape(t["type"])}</label>'
            f'<select id="type" name="type" required>{options}</select>'
            f'<label for="email">{escape(t["email"])}</label>'
            f'<input id="email" name="email" type="email" autocomplete="email" required '
            f'maxlength="254" value="{escape(values.get("email", ""), quote=True)}"{invalid}>'
            f'<p class="hint" id="email-hint">{escape(t["email_hint"])}</p>'
            f'<label for="message">{escape(t["message"])}</label>'
            f'<textarea id="message" name="message" maxlength="5000">'
            f'{escape(values.get("message", ""))}</textarea>'
            f'<button type="submit">{escape(t["send"])}</button></form>')


async def request_page(request: Request) -> Response:
    svc = services(request)
    site_id = request.path_params["site"]
    site = svc.config.sites.get(site_id)
    lang = language(request, site)
    if site is None:
        return _page(lang, f'<h1>{escape(_T[lang]["unknown"])}</h1>', 404)
    if request.method == "GET":
        return _page(lang, _form(site, lang, {}))
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            return _page(lang, _form(site, lang, {}, _T[lang]["bad"]), 413)
    values = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    got = await svc.limits.check(REQUESTS, site_id, client_ip(request, svc.settings))
    if not got.allowed:
        wait = max(1, math.ceil(got.retry_after))
        r = _page(lang, _form(site, lang, values, _T[lang]["rate"].format(wait=wait)), 429)
        r.headers["Retry-After"] = str(wait)
        return r
    try:
        body = parse_intake({"type": values.get("type", ""), "email": values.get("email", ""),
                             "message": values.get("message") or None, "language": lang})
        case = await svc.cases.intake(site_id, body)
    except DomainError as exc:
        key = {"email": "bad_email", "type": "bad_type"}.get(exc.field, "bad")
        return _page(lang, _form(site, lang, values, _T[lang][key]), 400)
    t = _T[lang]
    return _page(lang, f'<h1>{escape(t["done"])}</h1><dl><dt>{escape(t["case"])}</dt>'
                 f'<dd id="case">{escape(case.case_id)}</dd><dt>{escape(t["due"])}</dt>'
                 f'<dd id="due">{escape(case.due)}</dd></dl><p>{escape(t["keep"])}</p>', 201)


routes = [Route("/p/{site}/request", request_page, methods=["GET", "POST"])]
