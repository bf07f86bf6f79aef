"""Thin HTTP layer of the e-mail side: parse the request, call the pipeline or the consents
service, answer. The pixel always answers the same GIF; a bad click gets a 400 page, never a
redirect; GET on unsubscribe or confirm links changes nothing."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Literal
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from cmp.adminkeys import check_admin_key
from cmp.api.http import NO_STORE, bearer_token, client_ip, error, field_error, read_json
from cmp.app_state import services
from cmp.errors import DomainError, ErrorKind, FieldError
from cmp.storage.base import StorageError
from cmp.storage.writer import WriterClosed
from pixel.email import pages
from pixel.email.prepare import SEND
from pixel.email.service import EmailService
from pixel.outcomes import GIF, GIF_HEADERS, GIF_TYPE, GIF_UNAVAILABLE_HEADERS

_GIF_OK = Response(GIF, media_type=GIF_TYPE, headers=GIF_HEADERS)
_GIF_UNAVAILABLE = Response(GIF, status_code=503, media_type=GIF_TYPE,
                            headers=GIF_UNAVAILABLE_HEADERS)
_PAGE_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                            "form-action 'self'",
                 "Vary": "Accept-Language"}
MAX_FORM = 16384


def email_service(request: Request) -> EmailService:
    svc: EmailService = request.app.state.email
    return svc


def _ua(request: Request) -> str | None:
    return request.headers.get("user-agent")


async def open_pixel(request: Request) -> Response:
    # Same bytes whatever happened: nothing about consent or suppression leaks. Only a
    # database that could not commit answers 503 (not acknowledged means not stored).
    # Any other path under /e/o/ (no token, a slash in it, no .gif) is a bad token: counted,
    # and answered with the same GIF, never a 404 (pixel.email.fastpath answers these first).
    try:
        await request.app.state.email.pipeline.open(
            request.path_params.get("token", ""), ua=request.headers.get("user-agent"),
            head=request.method == "HEAD")
    except (StorageError, WriterClosed):
        return _GIF_UNAVAILABLE
    return _GIF_OK


def _html(html: str, lang: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status,
                        headers={**_PAGE_HEADERS, "Content-Language": lang})


def _lang(request: Request, recorded: str | None = None, site_default: str | None = None) -> str:
    return pages.choose(recorded, request.headers.get("accept-language"), site_default)


def _bad_link(request: Request, site_default: str | None = None) -> HTMLResponse:
    # A bad link names no one whose language is known: the browser's, else the site's.
    lang = _lang(request, None, site_default)
    return _html(pages.bad_link(lang), lang, 400)


async def click(request: Request) -> Response:
    res = await email_service(request).pipeline.click(
        request.path_params.get("token", ""), ua=_ua(request), head=request.method == "HEAD")
    if res.destination is None:
        return _bad_link(request)
    return Response(status_code=302, headers={"Location": res.destination, **NO_STORE,
                                              "Referrer-Policy": "no-referrer"})


async def _form(request: Request) -> dict[str, str]:
    """Fields of a small urlencoded or multipart body (RFC 8058 allows both)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM):
        raise FieldError("body", f"body larger than {MAX_FORM} bytes", ErrorKind.TOO_LARGE)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise FieldError("body", f"body larger than {MAX_FORM} bytes", ErrorKind.TOO_LARGE)
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() == "multipart/form-data":
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
        out: dict[str, str] = {}
        if msg.is_multipart():
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if isinstance(name, str):
                    payload = part.get_payload(decode=True)
                    out[name] = (payload if isinstance(payload, bytes) else b"").decode(
                        "utf-8", "replace").strip()
        return out
    text = body.decode("utf-8", "replace").strip()
    return {k: v[0].strip() for k, v in parse_qs(text, keep_blank_values=True).items()}


async def unsubscribe(request: Request) -> Response:
    email = email_service(request)
    token = request.path_params.get("token", "")
    try:
        t = email.consents.unsub(token)
    except DomainError:
        return _bad_link(request)
    site, cfg = email.consents.site(t.site)
    # The language the recipient's consent was recorded in (a read, also on GET: no change).
    # A database that cannot answer costs the page its language, not the page itself.
    try:
        recorded = (await email.consents.state(t.site, t.recipient)).language
    except StorageError:
        recorded = None
    lang = _lang(request, recorded, site.lang_default)
    lst = cfg.lists.get(t.list)
    list_title = (pages.title_in(lst.title, lang, t.list, site.lang_default) if lst
                  else t.list)
    if request.method != "POST":  # GET/HEAD: a page, never a change (scanners follow GETs)
        return _html(pages.unsubscribe_form(site.name, list_title, request.url.path, lang),
                     lang)
    try:
        form = await _form(request)
    except DomainError as exc:
        return field_error(exc)
    scope: Literal["list", "all"] = "list"
    tracking_off = False
    if form.get("List-Unsubscribe", "").lower() == "one-click":
        method = "one_click"
    elif form.get("preferences"):
        method = "preference_centre"
        scope = "all" if form.get("scope") == "all" else "list"
        tracking_off = form.get("tracking") == "off"
    else:
        return _html(pages.nothing_changed(lang), lang, 400)
    res = await email.consents.unsubscribe(
        t, scope=scope, tracking_off=tracking_off, method=method,
        ip=client_ip(request, services(request).settings), ua=_ua(request))
    return _html(pages.unsubscribed(site.name, None if scope == "all" else list_title,
                                    res.already, lang), lang)


async def confirm(request: Request) -> Response:
    email = email_service(request)
    token = request.path_params.get("token", "")
    try:
        site, cfg, req, done = await email.consents.signup_info(token)
    except DomainError:
        return _bad_link(request)
    # The language the person signed up in, when we have its texts; else their browser's
    # (also when the signup named no language and the site's default stood in for it).
    lang = _lang(request, req["language"] if req.get("language_given", True) else None,
                 site.lang_default)
    if request.method == "POST":  # only the button confirms: scanners follow GETs
        try:
            await email.consents.confirm(
                token, ip=client_ip(request, services(request).settings), ua=_ua(request),
                page_language=next((x for x in site.languages if pages.pick(x) == lang), None))
        except DomainError as exc:
            if exc.kind is ErrorKind.GONE:
                return _html(pages.expired(lang), lang, 410)
            return _bad_link(request, site.lang_default)
        done = True
    titles = [pages.title_in(cfg.lists[lid].title, lang, lid, req["language"],
                             site.lang_default)
              for lid in req["lists"] if lid in cfg.lists]
    return _html(pages.confirm_form(site.name, titles, request.url.path, done, lang), lang)


def _admin(request: Request) -> Response | None:
    svc = services(request)
    site_id = request.path_params["site"]
    if site_id not in svc.config.sites or not check_admin_key(bearer_token(request),
                                                              svc.admin_hashes(site_id)):
        return error(401, "authorization", "a valid admin key for this site is required")
    return None


async def signup(request: Request) -> Response:
    """Create a pending double opt-in signup; the site's backend mails the confirm link."""
    refused = _admin(request)
    if refused:
        return refused
    from pixel.email.recipients import parse_signup

    svc = services(request)
    try:
        body = parse_signup(await read_json(request, svc.settings.max_body_bytes))
        p = await email_service(request).consents.signup(request.path_params["site"], body)
    except DomainError as exc:
        return field_error(exc)
    return JSONResponse({"status": "pending", "recipient": p.recipient, "signup_id": p.signup_id,
                         "confirm_url": p.confirm_url, "expires": p.expires},
                        status_code=202, headers=NO_STORE)


async def campaign_stats(request: Request) -> Response:
    refused = _admin(request)
    if refused:
        return refused
    site_id, campaign = request.path_params["site"], request.path_params["campaign"]
    email = email_service(request)
    rows = await services(request).storage.email_counts(site_id, campaign)
    out: dict[str, Any] = {"site": site_id, "campaign": campaign}
    for kind in ("open", "click", "unsubscribe"):
        by_class: dict[str, int] = {}
        human = machine = 0
        for k, cls, is_machine, n in rows:
            if k != kind:
                continue
            by_class[cls] = by_class.get(cls, 0) + n
            if is_machine:
                machine += n
            else:
                human += n
        out[kind + "s"] = {"human": human, "machine": machine, "by_class": by_class}
    # Messages prepared (kind "send"): never an open or a click, the base of the rates.
    sends = sum(n for k, _, _, n in rows if k == SEND)
    out["sends"] = sends
    out["rates"] = {"human_opens_per_send": out["opens"]["human"] / sends if sends else None,
                    "human_clicks_per_send": out["clicks"]["human"] / sends if sends else None}
    out["outcomes_this_process"] = email.pipeline.counters.for_campaign(site_id, campaign)
    return JSONResponse(out, headers=NO_STORE)


def _malformed(prefix: str, endpoint: Any, methods: list[str]) -> list[Route]:
    # A link cut or mangled on its way (no token, a slash in it): the link's own answer
    # (GIF, bad-link page) with no token, never the router's JSON 404.
    return [Route(prefix, endpoint, methods=methods),
            Route(prefix + "/{malformed:path}", endpoint, methods=methods)]


routes = [
    Route("/e/o/{token}.gif", open_pixel, methods=["GET"]),
    Route("/e/c/{token}", click, methods=["GET"]),
    Route("/e/u/{token}", unsubscribe, methods=["GET", "POST"]),
    Route("/e/s/{token}", confirm, methods=["GET", "POST"]),
    Route("/v1/sites/{site}/email/signup", signup, methods=["POST"]),
    Route("/v1/sites/{site}/email/campaigns/{campaign}", campaign_stats, methods=["GET"]),
]

# Mounted after every other route by the app: only mangled links reach them, and a request
# matches routes in order, so eight catch-alls in front would cost every request.
malformed_routes = [
    *_malformed("/e/o", open_pixel, ["GET"]),
    *_malformed("/e/c", click, ["GET"]),
    *_malformed("/e/u", unsubscribe, ["GET", "POST"]),
    *_malformed("/e/s", confirm, ["GET", "POST"]),
]
