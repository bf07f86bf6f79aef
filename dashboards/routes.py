"""Dashboard routes under /dashboard/: thin handlers over auth, metrics, lookup and charts.

Every page is server-rendered (jinja2, autoescape on), sent with a strict CSP and no-store.
A site the session does not grant answers 404 exactly like a site that does not exist.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cmp.api.http import client_ip
from cmp.app_state import Services, services
from cmp.ratelimit import LOGIN
from dashboards import charts
from dashboards.auth import Auth, Session, new_form_token
from dashboards.lookup import BadQuery, find, resolve_subject
from dashboards.metrics import by_week
from dashboards.rollups import consent_rollups, email_rollups

COOKIE = "consentry_dash"
LOGIN_COOKIE = "consentry_dash_login"
PATH = "/dashboard"
WINDOWS = (7, 30, 90, 365)
MAX_FORM = 16384
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined)
env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f} %"
env.filters["label"] = lambda v: v or "(not recorded)"
env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)


def _auth(request: Request) -> Auth:
    a: Auth | None = getattr(request.app.state, "dashboard_auth", None)
    if a is None:
        svc = services(request)
        a = Auth(svc.config, svc.admin_hashes, svc.keyring.derive("dashboard-session"))
        request.app.state.dashboard_auth = a
    return a


def _page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("tab", None)
    html = env.get_template(template).render(request=request, path=PATH, **ctx)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _session(request: Request) -> Session | None:
    return _auth(request).loads(request.cookies.get(COOKIE))


def _to_login(request: Request) -> Response:
    nxt = request.url.path if request.method == "GET" else PATH + "/"
    return RedirectResponse(f"{PATH}/login?next={quote(nxt, safe='/')}", status_code=303,
                            headers={"Cache-Control": "no-store"})


def _not_found(request: Request, s: Session | None) -> HTMLResponse:
    return _page(request, "error.html", 404, session=s, site=None,
                 message="No such site, or not one of yours.")


async def _guard(request: Request, *, form: bool = False
                 ) -> tuple[Session, str, dict[str, str]] | Response:
    """The session, the granted site in the path, and the form (CSRF-checked) if a POST."""
    s = _session(request)
    if s is None:
        return _to_login(request)
    site_id = request.path_params.get("site", "")
    if site_id not in s.grants:
        return _not_found(request, s)
    data: dict[str, str] = {}
    if form:
        data = await _form(request)
        if not s.csrf_ok(data.get("csrf")):
            return _page(request, "error.html", 403, session=s, site=site_id,
                         message="This form has expired or did not come from this dashboard. "
                                 "Reload the page and try again.")
    return s, site_id, data


# --- login / logout ------------------------------------------------------------------------

async def _form(request: Request) -> dict[str, str]:
    """Fields of a small urlencoded form (our forms only); a larger body reads as empty,
    which then fails its CSRF check."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    pairs = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in pairs.items()}


def _safe_next(nxt: str | None) -> str:
    # Only our own pages: never an open redirect to another host.
    if nxt and nxt.startswith(PATH + "/") and "//" not in nxt and "\\" not in nxt:
        return nxt
    return PATH + "/"


async def login(request: Request) -> Response:
    nxt = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        token = new_form_token()
        r = _page(request, "login.html", session=None, site=None, form_token=token, next=nxt,
                  error=None)
        r.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=PATH, httponly=True,
                     samesite="lax", secure=_secure(request))
        return r
    data = await _form(request)
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not token or not hmac.compare_digest(token, data.get("csrf", "")):
        return _page(request, "error.html", 403, session=None, site=None,
                     message="The login form has expired. Reload the page and try again.")
    nxt = _safe_next(data.get("next"))
    # Before any password is hashed: guessing costs the guesser a window, not us a scrypt.
    svc = services(request)
    if not (await svc.limits.check(LOGIN, "-", client_ip(request, svc.settings))).allowed:
        return _page(request, "login.html", 429, session=None, site=None, form_token=token,
                     next=nxt, error="Too many login attempts from this network; wait a minute.")
    auth = _auth(request)
    name, secret = data.get("username", "").strip(), data.get("password", "")
    s = auth.login_password(name, secret) if name else auth.login_key(secret)
    if s is None:
        return _page(request, "login.html", 401, session=None, site=None, form_token=token,
                     next=nxt, error="Wrong name, password or admin key.")
    ok = RedirectResponse(nxt, status_code=303, headers={"Cache-Control": "no-store"})
    ok.set_cookie(COOKIE, auth.dumps(s), path=PATH, httponly=True, samesite="lax",
                 secure=_secure(request))
    ok.delete_cookie(LOGIN_COOKIE, path=PATH)
    return ok


async def logout(request: Request) -> Response:
    s = _session(request)
    if s is not None:
        data = await _form(request)
        if not s.csrf_ok(data.get("csrf")):
            return _page(request, "error.html", 403, session=s, site=None,
                         message="This form has expired. Reload the page and try again.")
    r = RedirectResponse(f"{PATH}/login", status_code=303, headers={"Cache-Control": "no-store"})
    r.delete_cookie(COOKIE, path=PATH)
    return r


async def home(request: Request) -> Response:
    s = _session(request)
    if s is None:
        return _to_login(request)
    if len(s.sites) == 1:
        return RedirectResponse(f"{PATH}/sites/{s.sites[0]}/consent", status_code=303)
    svc = services(request)
    return _page(request, "home.html", session=s, site=None,
                 sites=[(sid, svc.config.sites[sid].name) for sid in s.sites])


# --- consent view ----------------------------------------------------------------------------

async def consent_view(request: Request) -> Response:
    g = await _guard(request)
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    svc = services(request)
    try:
        days = int(request.query_params.get("days", "30"))
    except ValueError:
        days = 30
    days = days if days in WINDOWS else 30
    today = datetime.now(UTC).date()
    since = (today - timedelta(days=days - 1)).isoformat()
    site = svc.config.sites[site_id]
    summary = await consent_rollups(svc.storage, site_id, since=since, until=today.isoformat(),
                                    purposes=list(site.purposes))
    periods = summary.by_day if days <= 90 else by_week(summary.by_day)
    chart = {
        "share": charts.action_share(summary),
        "purposes": charts.purpose_rates(summary),
        "days": charts.actions_over(periods, "Decisions over time", dates=True),
        "regime": charts.rates_by(summary.by_regime, summary.purposes,
                                  "Consent rate per purpose by regime (%)"),
        "language": charts.rates_by(summary.by_language, summary.purposes,
                                    "Consent rate per purpose by language (%)"),
    }
    return _page(request, "consent.html", session=s, site=site_id, site_name=site.name,
                 summary=summary, periods=periods, days=days, windows=WINDOWS, chart=chart,
                 tab="consent")


# --- e-mail view -----------------------------------------------------------------------------

async def email_view(request: Request) -> Response:
    g = await _guard(request)
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    svc = services(request)
    cs = await email_rollups(svc.storage, site_id)
    picked = request.query_params.get("campaign")
    current = next((c for c in cs if c.name == picked), cs[0] if cs else None)
    chart: dict[str, str] = {}
    if cs:
        chart["overview"] = charts.campaigns_overview(cs[:20])
    if current is not None:
        chart["opens"] = charts.by_class(current.opens, f"{current.name}: opens by class")
        chart["clicks"] = charts.by_class(current.clicks, f"{current.name}: clicks by class")
        chart["days"] = charts.campaign_days(current)
    site = svc.config.sites[site_id]
    return _page(request, "email.html", session=s, site=site_id, site_name=site.name,
                 campaigns=cs, current=current, chart=chart, has_email=site.email is not None,
                 tab="email")


# --- ledger lookup ---------------------------------------------------------------------------

async def ledger_view(request: Request) -> Response:
    g = await _guard(request)
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    subject = request.query_params.get("subject")
    found = None
    error = None
    if subject:
        try:
            subject = resolve_subject(subject, lambda a: a)
            found = await find(services(request).storage, site_id, subject)
        except BadQuery as exc:
            error = str(exc)
    return _ledger_page(request, s, site_id, found=found, error=error)


def _ledger_page(request: Request, s: Session, site_id: str, status: int = 200,
                 **ctx: Any) -> HTMLResponse:
    svc = services(request)
    base: dict[str, Any] = {"found": None, "error": None, "report": None, "confirm": None,
                            "erased": None}
    return _page(request, "ledger.html", status, session=s, site=site_id,
                 site_name=svc.config.sites[site_id].name, tab="ledger", **{**base, **ctx})


async def ledger_search(request: Request) -> Response:
    """POST so an e-mail address never lands in a URL, a log line or the browser history."""
    g = await _guard(request, form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    email = request.app.state.email.consents
    try:
        subject = resolve_subject(data.get("q", ""),
                                  lambda addr: email.recipient_id(site_id, addr))
    except BadQuery as exc:
        return _ledger_page(request, s, site_id, 400, error=str(exc))
    return RedirectResponse(f"{PATH}/sites/{site_id}/ledger?subject={quote(subject)}",
                            status_code=303)


async def ledger_verify(request: Request) -> Response:
    g = await _guard(request, form=True)
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    report = (await services(request).consent.verify(site_id))[0]
    return _ledger_page(request, s, site_id, report=report)


def _subject(data: dict[str, str]) -> str | None:
    try:
        return resolve_subject(data.get("subject", ""), lambda a: a)
    except BadQuery:
        return None


async def ledger_export(request: Request) -> Response:
    g = await _guard(request, form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    subject = _subject(data)
    doc = await services(request).consent.export(site_id, subject) if subject else None
    if doc is None:
        return _ledger_page(request, s, site_id, 404, error="No records for this subject.")
    body = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")
    return Response(body, media_type="application/json", headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="{site_id}-{subject}.json"'})


async def ledger_erase(request: Request) -> Response:
    """First POST asks for confirmation; the second (confirm=yes) erases."""
    g = await _guard(request, form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    svc: Services = services(request)
    subject = _subject(data)
    if subject is None:
        return _ledger_page(request, s, site_id, 400, error="No subject to erase.")
    if data.get("confirm") != "yes":
        found = await find(svc.storage, site_id, subject)
        return _ledger_page(request, s, site_id, found=found, confirm=subject)
    n = await svc.consent.erase(site_id, subject)
    return _ledger_page(request, s, site_id, erased={"subject": subject, "rows": n})


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/sites/{site}/consent", consent_view, methods=["GET"]),
    Route("/sites/{site}/email", email_view, methods=["GET"]),
    Route("/sites/{site}/ledger", ledger_view, methods=["GET"]),
    Route("/sites/{site}/ledger/search", ledger_search, methods=["POST"]),
    Route("/sites/{site}/ledger/verify", ledger_verify, methods=["POST"]),
    Route("/sites/{site}/ledger/export", ledger_export, methods=["POST"]),
    Route("/sites/{site}/ledger/erase", ledger_erase, methods=["POST"]),
]
