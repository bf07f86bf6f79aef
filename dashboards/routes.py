"""Dashboard routes under /dashboard/: thin handlers over auth, metrics, lookup, people and
charts.

Every page is server-rendered (jinja2, autoescape on), sent with a strict CSP and no-store.
A site the session does not grant answers 404 exactly like a site that does not exist; a view
the session's role may not use (an operator's export, erase, statistics, recipients,
assessments) answers 403.
Pages speak English or Simplified Chinese (dashboards/i18n.py; `?lang=` switches).
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cmp import assessments as pia
from cmp.api.http import client_ip
from cmp.app_state import Services, services
from cmp.asks import current_year, filing
from cmp.config import CHANNELS
from cmp.errors import FieldError
from cmp.people import FINDABLE, PersonId
from cmp.ratelimit import LOGIN
from dashboards import charts, i18n
from dashboards import people as people_view
from dashboards.auth import Auth, Session, new_form_token
from dashboards.lookup import BadQuery, find, resolve_subject
from dashboards.metrics import by_week
from dashboards.rollups import consent_rollups, email_rollups

COOKIE = "consentry_dash"
LOGIN_COOKIE = "consentry_dash_login"
PATH = "/dashboard"
WINDOWS = (7, 30, 90, 365)
TOP_RECIPIENTS = 20
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
env.filters["num"] = lambda v: f"{v:,}"
env.filters["label"] = lambda v: v or "(not recorded)"
env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)


def _auth(request: Request) -> Auth:
    a: Auth | None = getattr(request.app.state, "dashboard_auth", None)
    if a is None:
        svc = services(request)
        a = Auth(svc.config, svc.admin_hashes, svc.keyring.derive("dashboard-session"))
        request.app.state.dashboard_auth = a
    return a


def _lang(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))


def _here(request: Request) -> str:
    """This page's own GET address without `lang`, for the language switch (a POST's answer
    switches on the dashboard's start page, since its own address takes no GET)."""
    if request.method != "GET":
        return PATH + "/"
    q = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + ("?" + urlencode(q) if q else "")


def _page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("tab", None)
    here = ctx.pop("here", None) or _here(request)
    lang = _lang(request)
    sep = "&" if "?" in here else "?"
    switch = [(other, i18n.texts(other)["lang_name"], f"{here}{sep}lang={other}")
              for other in i18n.LANGUAGES if other != lang]
    html = env.get_template(template).render(request=request, path=PATH, lang=lang,
                                             t=i18n.texts(lang), switch=switch, **ctx)
    r = HTMLResponse(html, status_code=status, headers=HEADERS)
    if i18n.pick(request.query_params.get("lang")):
        # Remembered, so the login's redirect and every later page keep the choice.
        r.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, path=PATH, httponly=True,
                     samesite="lax", secure=_secure(request))
    return r


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _session(request: Request) -> Session | None:
    return _auth(request).loads(request.cookies.get(COOKIE))


def _to_login(request: Request) -> Response:
    nxt = request.url.path if request.method == "GET" else PATH + "/"
    return RedirectResponse(f"{PATH}/login?next={quote(nxt, safe='/')}", status_code=303,
                            headers={"Cache-Control": "no-store"})


def _not_found(request: Request, s: Session | None) -> HTMLResponse:
    return _page(request, "error.html", 404, session=s, site=None, message="no_such_site")


async def _guard(request: Request, may: str, *, form: bool = False
                 ) -> tuple[Session, str, dict[str, str]] | Response:
    """The session, the granted site in the path, and the form (CSRF-checked) if a POST;
    403 when the session's role may not do `may` (auth.CAPABILITIES)."""
    s = _session(request)
    if s is None:
        return _to_login(request)
    site_id = request.path_params.get("site", "")
    if site_id not in s.grants:
        return _not_found(request, s)
    if not s.may(may):
        return _page(request, "error.html", 403, session=s, site=site_id,
                     message="operator_may_not")
    data: dict[str, str] = {}
    if form:
        data = await _form(request)
        if not s.csrf_ok(data.get("csrf")):
            return _page(request, "error.html", 403, session=s, site=site_id,
                         message="form_expired")
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
                     message="login_expired")
    nxt = _safe_next(data.get("next"))
    here = f"{PATH}/login?{urlencode({'next': nxt})}"  # the language switch of a failed login
    # Before any password is hashed: guessing costs the guesser a window, not us a scrypt.
    svc = services(request)
    if not (await svc.limits.check(LOGIN, "-", client_ip(request, svc.settings))).allowed:
        return _page(request, "login.html", 429, session=None, site=None, form_token=token,
                     next=nxt, error="login_too_many", here=here)
    auth = _auth(request)
    name, secret = data.get("username", "").strip(), data.get("password", "")
    s = auth.login_password(name, secret) if name else auth.login_key(secret)
    if s is None:
        return _page(request, "login.html", 401, session=None, site=None, form_token=token,
                     next=nxt, error="login_wrong", here=here)
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
                         message="form_expired")
    r = RedirectResponse(f"{PATH}/login", status_code=303, headers={"Cache-Control": "no-store"})
    r.delete_cookie(COOKIE, path=PATH)
    return r


async def home(request: Request) -> Response:
    s = _session(request)
    if s is None:
        return _to_login(request)
    if len(s.sites) == 1:
        view = "people" if s.is_operator else "consent"
        return RedirectResponse(f"{PATH}/sites/{s.sites[0]}/{view}", status_code=303)
    svc = services(request)
    return _page(request, "home.html", session=s, site=None,
                 sites=[(sid, svc.config.sites[sid].name) for sid in s.sites])


# --- consent view ----------------------------------------------------------------------------

async def consent_view(request: Request) -> Response:
    g = await _guard(request, "consent")
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
    t = i18n.texts(_lang(request))
    chart = {
        "share": charts.action_share(summary, t["ch_share"]),
        "purposes": charts.purpose_rates(summary, t["ch_purposes"]),
        "days": charts.actions_over(periods, t["ch_days"], dates=True),
        "regime": charts.rates_by(summary.by_regime, summary.purposes, t["ch_regime"]),
        "language": charts.rates_by(summary.by_language, summary.purposes, t["ch_language"]),
    }
    return _page(request, "consent.html", session=s, site=site_id, site_name=site.name,
                 summary=summary, periods=periods, days=days, windows=WINDOWS, chart=chart,
                 tab="consent")


# --- e-mail view -----------------------------------------------------------------------------

async def email_view(request: Request) -> Response:
    g = await _guard(request, "email")
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    svc = services(request)
    cs = await email_rollups(svc.storage, site_id)
    picked = request.query_params.get("campaign")
    current = next((c for c in cs if c.name == picked), cs[0] if cs else None)
    t = i18n.texts(_lang(request))
    chart: dict[str, str] = {}
    if cs:
        chart["overview"] = charts.campaigns_overview(cs[:20], t["ch_engagement"])
    if current is not None:
        chart["opens"] = charts.by_class(current.opens,
                                         t["ch_opens_by_class"].format(name=current.name))
        chart["clicks"] = charts.by_class(current.clicks,
                                          t["ch_clicks_by_class"].format(name=current.name))
        chart["days"] = charts.campaign_days(current, t["ch_campaign_days"])
    site = svc.config.sites[site_id]
    return _page(request, "email.html", session=s, site=site_id, site_name=site.name,
                 campaigns=cs, current=current, chart=chart, has_email=site.email is not None,
                 tab="email")


# --- recipients (per-recipient items, cross-border filing thresholds) ------------------------

YEARS_BACK = 5


async def recipients_view(request: Request) -> Response:
    """Per per-recipient item: distinct people who agreed in the calendar year, against the
    site's filing thresholds, and the recipients most people stand agreed with."""
    g = await _guard(request, "recipients")
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    svc = services(request)
    site = svc.config.sites[site_id]
    lang = _lang(request)
    now = current_year()
    raw = request.query_params.get("year")
    error = None
    year = now
    if raw is not None:
        if raw.isdigit() and 2000 <= int(raw) <= 9999:
            year = int(raw)
        else:
            error = "bad_year"
    counts = await svc.asks.yearly_people(site_id, year)
    items = []
    for sid, item in site.separate.items():
        if item.per_recipient:
            items.append({"id": sid, "title": people_view.item_title(site, sid, lang),
                          "filing": filing(site, item, counts.get(sid, 0))})
    top = []
    for r in await svc.asks.top_recipients(site_id, year, limit=TOP_RECIPIENTS):
        top.append({**r, "title": people_view.item_title(site, r["item"], lang,
                                                         r["recipient"])})
    years = sorted({*range(now, now - YEARS_BACK, -1), year}, reverse=True)
    return _page(request, "recipients.html", 400 if error else 200, session=s, site=site_id,
                 site_name=site.name, tab="recipients", year=year, years=years, items=items,
                 top=top, warn_at=site.filing_warn_at, error=error, limit=TOP_RECIPIENTS)


# --- impact assessments (PIPL Art. 55-56) -----------------------------------------------------

async def assessments_view(request: Request) -> Response:
    """The site's impact assessments, newest first, with their scope and review dates (past
    ones marked), and each cross-border or sensitive item's standing (cmp.assessments)."""
    g = await _guard(request, "assessments")
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    site = services(request).config.sites[site_id]
    lang = _lang(request)
    today = datetime.now(UTC).date()
    cov = pia.coverage(site, today)
    rows = []
    for aid, a in sorted(site.assessments.items(), key=lambda kv: (kv[1].date, kv[0]),
                         reverse=True):
        title = a.title.get(lang) or a.title.get(site.lang_default) or next(
            (t for t in a.title.values() if t.strip()), aid)
        rows.append({"id": aid, "title": title, "date": a.date, "review_by": a.review_by,
                     "overdue": aid in cov.overdue, "expires": pia.expires(a.date),
                     "scope_items": [(x, people_view.item_title(site, x, lang))
                               for x in a.scope.separate],
                     "recipients": a.scope.recipients, "sha256": a.report_sha256,
                     "report": a.report})
    items = [{"id": c.item, "title": people_view.item_title(site, c.item, lang),
              "kind": c.kind, "state": c.state, "newest": c.newest} for c in cov.items]
    return _page(request, "assessments.html", session=s, site=site_id, site_name=site.name,
                 tab="assessments", rows=rows, items=items, today=today,
                 years=pia.MAX_AGE_YEARS)


# --- ledger lookup ---------------------------------------------------------------------------

async def ledger_view(request: Request) -> Response:
    g = await _guard(request, "ledger")
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
        except BadQuery:
            error = "ledger_bad_query"
    return _ledger_page(request, s, site_id, found=found, error=error,
                        here=_here(request))


def _ledger_page(request: Request, s: Session, site_id: str, status: int = 200,
                 **ctx: Any) -> HTMLResponse:
    svc = services(request)
    site = svc.config.sites[site_id]
    lang = _lang(request)
    base: dict[str, Any] = {"found": None, "error": None, "report": None, "confirm": None,
                            "erased": None, "here": f"{PATH}/sites/{site_id}/ledger"}

    def item_title(item: str, recipient: dict[str, Any]) -> str:
        return people_view.item_title(site, item, lang, recipient)

    return _page(request, "ledger.html", status, session=s, site=site_id,
                 site_name=site.name, tab="ledger", item_title=item_title, **{**base, **ctx})


async def ledger_search(request: Request) -> Response:
    """POST so an e-mail address never lands in a URL, a log line or the browser history."""
    g = await _guard(request, "ledger", form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    email = request.app.state.email.consents
    q = data.get("q", "")
    try:
        subject = resolve_subject(q, lambda addr: email.recipient_id(site_id, addr))
    except BadQuery:
        return _ledger_page(request, s, site_id, 400,
                            error="bad_email" if "@" in q else "ledger_bad_query")
    return RedirectResponse(f"{PATH}/sites/{site_id}/ledger?subject={quote(subject)}",
                            status_code=303)


async def ledger_verify(request: Request) -> Response:
    g = await _guard(request, "verify", form=True)
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
    g = await _guard(request, "export", form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    subject = _subject(data)
    svc: Services = services(request)
    if subject and subject.startswith("p_"):
        # A person: one export covering every identifier linked to them.
        doc = await svc.people.export(site_id, PersonId(subject))
    else:
        doc = await svc.consent.export(site_id, subject) if subject else None
    if doc is None:
        return _ledger_page(request, s, site_id, 404, error="no_records")
    body = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")
    return Response(body, media_type="application/json", headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="{site_id}-{subject}.json"'})


async def ledger_erase(request: Request) -> Response:
    """First POST asks for confirmation; the second (confirm=yes) erases."""
    g = await _guard(request, "erase", form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    svc: Services = services(request)
    subject = _subject(data)
    if subject is None:
        return _ledger_page(request, s, site_id, 400, error="no_subject")
    if data.get("confirm") != "yes":
        found = await find(svc.storage, site_id, subject)
        return _ledger_page(request, s, site_id, found=found, confirm=subject)
    if subject.startswith("p_"):
        # A person: every linked identifier too, opt-outs kept (cmp.people.erase).
        done = await svc.people.erase(site_id, PersonId(subject))
        n = int(done["events_anonymised"]) + int(done["rows_removed"]) if done else 0
    else:
        n = await svc.consent.erase(site_id, subject)
    return _ledger_page(request, s, site_id, erased={"subject": subject, "rows": n})


# --- people (customer service) ----------------------------------------------------------------

async def _people_page(request: Request, s: Session, site_id: str, status: int = 200,
                       **ctx: Any) -> HTMLResponse:
    svc = services(request)
    site = svc.config.sites[site_id]
    t = i18n.texts(_lang(request))
    base: dict[str, Any] = {"person": None, "state": None, "rows": None, "granted": [],
                            "whole": [], "error": None, "recorded": None, "kind": "email",
                            "value": "", "form": {}, "recipients": [], "scheduled": []}
    ctx = {**base, **ctx}
    state = ctx["state"]
    if state is not None:
        names: dict[str, str] = {ch: t[f"ch_{ch}"] for ch in CHANNELS}
        ctx["rows"] = people_view.rows(site, state, _lang(request), t["all_lists"])
        shown = await svc.asks.grants(site_id, state["person"]) if state["recipients"] else []
        ctx["recipients"] = people_view.recipient_rows(site, state, shown, _lang(request))
        ctx["granted"], ctx["whole"] = people_view.options(site, state, _lang(request), names,
                                                           t["all_lists"], ctx["recipients"])
        ctx["channel_names"] = names
        ctx.setdefault("here", f"{PATH}/sites/{site_id}/people?person={ctx['person']}")
    return _page(request, "people.html", status, session=s, site=site_id, site_name=site.name,
                 tab="people", kinds=FINDABLE, methods=people_view.METHODS,
                 facts=people_view.FACTS,
                 field=people_view.FIELD, **ctx)


async def people(request: Request) -> Response:
    g = await _guard(request, "people")
    if isinstance(g, Response):
        return g
    s, site_id, _ = g
    person = request.query_params.get("person")
    if not person:
        return await _people_page(request, s, site_id,
                                  scheduled=await services(request).people.scheduled(site_id))
    if not people_view.PERSON_RE.match(person):
        return await _people_page(request, s, site_id, 400, error="unknown_person")
    state = await services(request).people.state(site_id, PersonId(person))
    if state is None:
        return await _people_page(request, s, site_id, 404, error="unknown_person")
    # Only an event that set one of the answers shown: a crafted link cannot claim a record.
    recorded = request.query_params.get("recorded")
    if recorded not in people_view.event_ids(state):
        recorded = None
    return await _people_page(request, s, site_id, person=person, state=state, recorded=recorded,
                        here=_here(request))


async def people_find(request: Request) -> Response:
    """POST so an address or number never lands in a URL, a log line or the history."""
    g = await _guard(request, "people", form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    kind, value = data.get("kind", ""), data.get("value", "").strip()
    shown = {"kind": kind if kind in FINDABLE else "email", "value": value[:320]}
    if kind not in FINDABLE:
        return await _people_page(request, s, site_id, 400, error="bad_kind", **shown)
    try:
        person = await services(request).people.find(site_id, kind, value)
    except FieldError:
        return await _people_page(request, s, site_id, 400, error=f"bad_{kind}", **shown)
    if person is None:
        return await _people_page(request, s, site_id, 404, error=f"unknown_{kind}", **shown)
    return RedirectResponse(f"{PATH}/sites/{site_id}/people?person={person}", status_code=303)


async def people_record(request: Request) -> Response:
    """A withdrawal or opt-out heard by an operator, recorded as the person's ledger event
    with the method, the reference and the logged-in name as `operator` (never the form's)."""
    g = await _guard(request, "people", form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    svc = services(request)
    person = data.get("person", "")
    state = await svc.people.state(site_id, PersonId(person)) \
        if people_view.PERSON_RE.match(person) else None
    if state is None:
        return await _people_page(request, s, site_id, 404, error="unknown_person")
    site = svc.config.sites[site_id]
    held = frozenset((item, rid) for item, rs in state["recipients"].items()
                     for rid, a in rs.items() if a["agreed"])
    try:
        w = people_view.withdrawal(site, data, held)
        done = []
        if w.event is not None:
            done.append(await svc.people.record(site_id, PersonId(person), w.event,
                                                operator=s.name))
        for item, rid in w.recipients:
            # A per-recipient grant (cmp/asks.py): its own event, naming the recipient.
            ev = await svc.asks.withdraw(site_id, person, item, rid, method=w.method,
                                         operator=s.name, reference=w.reference, note=w.note)
            if ev is not None:
                done.append(ev)
    except (people_view.FormError, FieldError) as exc:
        key = exc.key if isinstance(exc, people_view.FormError) else "unknown_item"
        return await _people_page(request, s, site_id, 400, person=person, state=state,
                                  error=key, form=data)
    if not done:  # withdrawn meanwhile (another tab, the person's own page)
        return await _people_page(request, s, site_id, 409, person=person,
                                  state=await svc.people.state(site_id, PersonId(person)),
                                  error="already_withdrawn")
    return RedirectResponse(f"{PATH}/sites/{site_id}/people?person={person}"
                            f"&recorded={quote(done[-1].event_id)}", status_code=303)


async def people_lifecycle(request: Request) -> Response:
    """An account closure or a minor flag heard by an operator, recorded like an opt-out (the
    method, the call reference, the logged-in name as `operator`)."""
    g = await _guard(request, "people", form=True)
    if isinstance(g, Response):
        return g
    s, site_id, data = g
    svc = services(request)
    person = data.get("person", "")
    state = await svc.people.state(site_id, PersonId(person)) \
        if people_view.PERSON_RE.match(person) else None
    if state is None:
        return await _people_page(request, s, site_id, 404, error="unknown_person")
    try:
        ev = await svc.people.record(site_id, PersonId(person), people_view.lifecycle(data),
                                     operator=s.name)
    except (people_view.FormError, FieldError) as exc:
        key = exc.key if isinstance(exc, people_view.FormError) else "unknown_item"
        return await _people_page(request, s, site_id, 400, person=person, state=state,
                                  error=key, form=data)
    return RedirectResponse(f"{PATH}/sites/{site_id}/people?person={person}"
                            f"&recorded={quote(ev.event_id)}", status_code=303)


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/sites/{site}/consent", consent_view, methods=["GET"]),
    Route("/sites/{site}/email", email_view, methods=["GET"]),
    Route("/sites/{site}/recipients", recipients_view, methods=["GET"]),
    Route("/sites/{site}/assessments", assessments_view, methods=["GET"]),
    Route("/sites/{site}/ledger", ledger_view, methods=["GET"]),
    Route("/sites/{site}/ledger/search", ledger_search, methods=["POST"]),
    Route("/sites/{site}/ledger/verify", ledger_verify, methods=["POST"]),
    Route("/sites/{site}/ledger/export", ledger_export, methods=["POST"]),
    Route("/sites/{site}/ledger/erase", ledger_erase, methods=["POST"]),
    Route("/sites/{site}/people", people, methods=["GET"]),
    Route("/sites/{site}/people/find", people_find, methods=["POST"]),
    Route("/sites/{site}/people/record", people_record, methods=["POST"]),
    Route("/sites/{site}/people/lifecycle", people_lifecycle, methods=["POST"]),
]
