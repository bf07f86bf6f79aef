"""Thin HTTP layer of the tag gate and the web beacon.

- `GET /v1/sites/{site}/tags`: the catalog tags the presented consent allows, in load order,
  and why each other tag is withheld.
- `POST /b`: a page event as `text/plain` JSON (navigator.sendBeacon: a simple request, so no
  CORS preflight); answers 204 whether or not the event was logged. Bad bodies get 4xx.
- `GET /b?s=SITE&e=NAME&u=URL`: the same for pages without JavaScript; always answers the
  1×1 GIF, bad parameters included (counted as drops).

`/b` is not under /v1/sites, so SiteCORS does not see it: the pipeline itself refuses events
from pages that are not the site's origins, and the answer carries CORS headers only so a
page using fetch() can read the status.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, bearer_token, field_error, read_json, site_route, visitor_from
from cmp.app_state import Services, services
from cmp.config import SiteConfig
from cmp.errors import ErrorKind, FieldError
from cmp.grants import Basis, basis, decide_tags, effective
from cmp.storage.base import StorageError
from cmp.storage.writer import WriterClosed
from pixel.outcomes import GIF, GIF_HEADERS, GIF_TYPE, GIF_UNAVAILABLE_HEADERS, Drop
from pixel.web.beacon import MAX_BODY, BeaconInputError, BeaconPipeline, Context
from pixel.web.tags import decision_doc

_GATE_HEADERS = {"Cache-Control": "private, no-store", "Vary": "Cookie, Authorization, Sec-GPC"}


def build_pipeline(svc: Services) -> BeaconPipeline:
    return BeaconPipeline(svc.config, svc.tokens, svc.policy, svc.storage, svc.limits)


def _pipeline(request: Request) -> BeaconPipeline:
    pipe: BeaconPipeline = request.app.state.beacon
    return pipe


# --- tag gate -----------------------------------------------------------------------------------

@site_route
async def get_tags(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    token = bearer_token(request, site.cookie.name)
    state = svc.consent.state_from_token(site_id, token)
    visitor = visitor_from(request, svc.settings)
    regime, defaults = (state.regime if state else None), None
    if basis(site.rule, state, token_presented=bool(token)) is Basis.DEFAULTS:
        decision = svc.policy.decide(site_id, visitor)
        defaults, regime = decision.defaults, decision.regime
    g = effective(site.rule, state, token_presented=bool(token), gpc=visitor.gpc,
                  defaults=defaults)
    return JSONResponse(decision_doc(site_id, site, g, decide_tags(site.rule, g), regime),
                        headers=_GATE_HEADERS)


# --- web beacon ---------------------------------------------------------------------------------

def _cors(request: Request, site_id: str | None) -> dict[str, str]:
    origin = request.headers.get("origin")
    site = services(request).config.sites.get(site_id or "")
    if origin and site is not None and origin in site.origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _context(request: Request) -> Context:
    svc = services(request)
    return Context(visitor=visitor_from(request, svc.settings),
                   origin=request.headers.get("origin"),
                   header_token=bearer_token(request), cookie=request.cookies.get)


async def post_beacon(request: Request) -> Response:
    pipe = _pipeline(request)
    try:
        body: Any = await read_json(request, MAX_BODY)
    except FieldError as exc:
        pipe.reject(BeaconInputError(
            exc.field, exc.message, exc.kind,
            Drop.OVERSIZE if exc.kind is ErrorKind.TOO_LARGE else Drop.MALFORMED))
        return field_error(exc)
    try:
        ev = pipe.parse(body)
    except BeaconInputError as exc:
        return field_error(exc)
    await pipe.ingest(ev, _context(request))  # StorageError: the app answers 503
    return Response(status_code=204, headers={**GIF_HEADERS, **_cors(request, ev.site)})


async def get_beacon(request: Request) -> Response:
    pipe = _pipeline(request)
    q = request.query_params
    # No token in a URL (it would end up in logs): the GIF form relies on the cookie.
    body = {k: q[k] for k in ("s", "e", "u", "r") if k in q}
    try:
        ev = pipe.parse(body)
    except BeaconInputError:
        # A beacon answers like a beacon: an <img> cannot show an error, and a different
        # answer would tell a prober which parameters are wrong (counted as a drop).
        return Response(GIF, media_type=GIF_TYPE, headers=GIF_HEADERS)
    try:
        await pipe.ingest(ev, _context(request))
    except (StorageError, WriterClosed):
        return Response(GIF, status_code=503, media_type=GIF_TYPE,
                        headers=GIF_UNAVAILABLE_HEADERS)
    return Response(GIF, media_type=GIF_TYPE, headers=GIF_HEADERS)


async def preflight(request: Request) -> Response:
    # sendBeacon's text/plain needs none; this serves pages that POST application/json with
    # fetch(). The site is in the body, not yet known: the pipeline checks the origin later.
    origin = request.headers.get("origin")
    headers = {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers":
               "Content-Type", "Access-Control-Max-Age": "600", "Vary": "Origin", **NO_STORE}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return Response(status_code=204, headers=headers)


routes = [
    Route("/b", post_beacon, methods=["POST"]),
    Route("/b", get_beacon, methods=["GET"]),
    Route("/b", preflight, methods=["OPTIONS"]),
    Route("/v1/sites/{site}/tags", get_tags, methods=["GET"]),
]
