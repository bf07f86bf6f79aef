"""Asks routes (thin): the backend's ask and check, the banner's notice and answer, the
person's self-service page for per-recipient grants. Domain logic: cmp/asks.py."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, error, field_error, keyed, read_json, single_param, site_route
from cmp.app_state import Services, services
from cmp.asks import AnswerIn, AskIn, NoticeIn, WithdrawIn, current_year, filing, parse
from cmp.config import SiteConfig
from cmp.errors import DomainError, ErrorKind, FieldError

BODY_LIMIT = 16 * 1024


@keyed("asks:write")
async def create_ask(request: Request, svc: Services, site_id: str, who: str) -> Response:
    body: AskIn = parse(AskIn, await read_json(request, BODY_LIMIT))
    ask_id, token, expires = svc.asks.create(site_id, body)
    return JSONResponse({"ask_id": ask_id, "token": token, "expires": expires},
                        status_code=201, headers=NO_STORE)


@site_route
async def ask_notice(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    token = single_param(request, "token")
    if not token:
        return error(400, "token", "token is required")
    return JSONResponse(svc.asks.view(site_id, token, single_param(request, "lang")),
                        headers=NO_STORE)


@site_route
async def ask_notice_for(request: Request, svc: Services, site_id: str,
                         site: SiteConfig) -> Response:
    """The notice for the signed-in member only (the banner's ask module with a person hint)."""
    body: NoticeIn = parse(NoticeIn, await read_json(request, BODY_LIMIT))
    return JSONResponse(svc.asks.view(site_id, body.token, body.lang, body.hint),
                        headers=NO_STORE)


@site_route
async def ask_answer(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    body: AnswerIn = parse(AnswerIn, await read_json(request, BODY_LIMIT))
    event = await svc.asks.answer(site_id, body)
    return JSONResponse({"agreed": body.agreed, "event_id": event.event_id},
                        status_code=201, headers=NO_STORE)


def _receipt_url(svc: Services, site_id: str, person: str) -> str:
    access = svc.tokens.receipt_access(site_id, person)
    return (f"{svc.settings.public_url.rstrip('/')}/v1/sites/{site_id}/consent/{person}/receipt"
            f"?access={access}")


@keyed("people:read")
async def check_grant(request: Request, svc: Services, site_id: str, who: str) -> Response:
    item, recipient = single_param(request, "item"), single_param(request, "recipient")
    if not item:
        return error(400, "item", "item is required")
    if not recipient:
        return error(400, "recipient", "recipient is required")
    ref = request.path_params["ref"]
    grant = await svc.asks.check(site_id, ref, item, recipient)
    person = svc.people.person_id(site_id, ref)
    return JSONResponse({**grant.doc(), "item": item, "recipient": recipient,
                         "receipt_url": _receipt_url(svc, site_id, person)
                         if grant.event_id else None}, headers=NO_STORE)


@keyed("people:write")
async def withdraw_grant(request: Request, svc: Services, site_id: str, who: str) -> Response:
    body: WithdrawIn = parse(WithdrawIn, await read_json(request, BODY_LIMIT))
    person = svc.people.person_id(site_id, request.path_params["ref"])
    event = await svc.asks.withdraw(site_id, person, body.item, body.recipient, method="api")
    return JSONResponse({"withdrawn": event is not None,
                         "event_id": event.event_id if event else None}, headers=NO_STORE)


@keyed("people:write")
async def self_service_link(request: Request, svc: Services, site_id: str, who: str) -> Response:
    token, expires = svc.asks.self_service_token(site_id, request.path_params["ref"])
    url = f"{svc.settings.public_url.rstrip('/')}/p/{site_id}/me/{token}"
    return JSONResponse({"url": url, "expires": expires}, status_code=201, headers=NO_STORE)


@keyed("admin")
async def yearly_counts(request: Request, svc: Services, site_id: str, who: str) -> Response:
    raw = single_param(request, "year")
    if raw is not None and not (raw.isdigit() and 2000 <= int(raw) <= 9999):
        return error(400, "year", "a year like 2026")
    year = int(raw) if raw else current_year()
    site = svc.config.sites[site_id]
    counts = await svc.asks.yearly_people(site_id, year)
    items = {sid: filing(site, item, counts.get(sid, 0)).doc()
             for sid, item in site.separate.items() if item.per_recipient}
    return JSONResponse({"site": site_id, "year": year, "items": items}, headers=NO_STORE)


# --- the person's self-service page (signed link, en and zh-CN) -----------------------------

_T = {
    "en": {"title": "Who may receive my data", "intro": "These are the recipients you agreed "
           "to give your personal information to, one by one. Withdrawing stops any new "
           "sharing with that recipient from now on.", "none": "You have not agreed to give "
           "your information to any recipient.", "withdraw": "Withdraw",
           "withdrawn": "Withdrawn", "done": "Withdrawn: {name} will receive nothing more.",
           "agreed": "agreed on", "bad": "This link is not valid or has expired. Ask for a new "
           "one from your account settings.", "country": "Country", "contact": "Contact"},
    "zh-CN": {"title": "哪些接收方可以获得我的信息", "intro": "以下是您逐一同意向其提供个人信息的"
              "接收方。撤回后，自此不再向该接收方提供您的信息。", "none": "您尚未同意向任何接收方"
              "提供您的信息。", "withdraw": "撤回", "withdrawn": "已撤回",
              "done": "已撤回：不再向{name}提供您的信息。", "agreed": "同意于",
              "bad": "此链接无效或已过期。请在账户设置中重新获取。", "country": "国家/地区",
              "contact": "联系方式"},
}
_CSS = ("body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
        "color:#1a1a1a}button{font:inherit;padding:.4rem 1rem;border-radius:.4rem;"
        "border:1px solid #1a1a1a;background:#fff;color:#1a1a1a;cursor:pointer}"
        "li{margin:1rem 0;padding:1rem;border:1px solid #ccc;border-radius:.4rem;list-style:none}"
        "ul{padding:0}.muted{color:#555;font-size:.9rem}[role=status]{font-weight:600}")
PAGE_HEADERS = {**NO_STORE, "Content-Security-Policy": "default-src 'none'; style-src "
                "'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def _lang(request: Request, site: SiteConfig) -> str:
    asked = single_param(request, "lang") or request.headers.get("accept-language", "")
    for part in asked.split(","):
        tag = part.split(";")[0].strip()
        for lang in ("zh-CN", "en"):
            if tag.lower() == lang.lower() or tag.split("-")[0].lower() == lang.split("-")[0]:
                return lang
    return "zh-CN" if site.lang_default.lower().startswith("zh") else "en"


def _page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>")
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


async def _grants_page(request: Request, svc: Services, site_id: str, site: SiteConfig,
                       person: str, lang: str, note: str = "") -> HTMLResponse:
    t = _T[lang]
    grants = [g for g in await svc.asks.grants(site_id, person) if g["agreed"]]
    items = []
    for g in grants:
        r: dict[str, Any] = g["recipient"]
        item = site.separate.get(g["item"])
        what = item.title.get(lang, g["item"]) if item else g["item"]
        items.append(
            f'<li><strong>{escape(str(r.get("name", r.get("id"))))}</strong> — {escape(what)}'
            f'<br><span class="muted">{t["contact"]}: {escape(str(r.get("contact", "")))} · '
            f'{t["country"]}: {escape(str(r.get("country", "")))} · {t["agreed"]} '
            f'{escape(g["at"][:10])}</span>'
            f'<form method="post"><input type="hidden" name="item" value="{escape(g["item"])}">'
            f'<input type="hidden" name="recipient" value="{escape(str(r.get("id")))}">'
            f'<button type="submit" aria-label="{escape(t["withdraw"])}: '
            f'{escape(str(r.get("name", r.get("id"))))}">{t["withdraw"]}</button></form></li>')
    body = (f'<h1>{t["title"]}</h1><p>{t["intro"]}</p>'
            + (f'<p role="status">{escape(note)}</p>' if note else "")
            + (f"<ul>{''.join(items)}</ul>" if items else f'<p>{t["none"]}</p>')
            + f'<p class="muted">{escape(site.name)}</p>')
    return _page(lang, t["title"], body)


async def _form(request: Request, limit: int = 4096) -> dict[str, str]:
    """The page's own small urlencoded form; anything larger reads as empty."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


async def self_service(request: Request) -> Response:
    svc = services(request)
    site_id = request.path_params["site"]
    site = svc.config.sites.get(site_id)
    lang = _lang(request, site) if site else "en"
    try:
        if site is None:
            raise FieldError("token", "unknown site")
        person = svc.asks.self_service_person(site_id, request.path_params["token"])
        note = ""
        if request.method == "POST":
            form = await _form(request)
            item, recipient = form.get("item", ""), form.get("recipient", "")
            name = next((str(g["recipient"].get("name", recipient))
                         for g in await svc.asks.grants(site_id, person)
                         if g["item"] == item and g["recipient"].get("id") == recipient),
                        recipient)
            await svc.asks.withdraw(site_id, person, item, recipient, method="self_service")
            note = _T[lang]["done"].format(name=name)
        return await _grants_page(request, svc, site_id, site, person, lang, note)
    except DomainError as exc:
        if exc.field == "token":
            return _page(lang, _T[lang]["title"], f'<h1>{_T[lang]["title"]}</h1>'
                         f'<p>{_T[lang]["bad"]}</p>', status=410 if exc.kind == ErrorKind.GONE else 400)
        return field_error(exc)


routes = [
    Route("/v1/sites/{site}/asks", create_ask, methods=["POST"]),
    Route("/v1/sites/{site}/asks/notice", ask_notice, methods=["GET"]),
    Route("/v1/sites/{site}/asks/notice", ask_notice_for, methods=["POST"]),
    Route("/v1/sites/{site}/asks/answer", ask_answer, methods=["POST"]),
    Route("/v1/sites/{site}/asks/counts", yearly_counts, methods=["GET"]),
    Route("/v1/sites/{site}/people/{ref}/grants", check_grant, methods=["GET"]),
    Route("/v1/sites/{site}/people/{ref}/grants/withdraw", withdraw_grant, methods=["POST"]),
    Route("/v1/sites/{site}/people/{ref}/self-service", self_service_link, methods=["POST"]),
    Route("/p/{site}/me/{token}", self_service, methods=["GET", "POST"]),
]
