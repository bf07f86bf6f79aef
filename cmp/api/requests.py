"""Data-subject request routes (thin: authorise, parse, call cmp.cases, answer).

`POST /v1/sites/{site}/requests` is public (the site's own request form posts it), rate
limited per client network like a consent POST. The `cases` routes take a bearer key of the
site: an API key with `requests:read` / `requests:write`, or a site admin key.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, client_ip, error, keyed, read_json, single_param, site_route
from cmp.app_state import Services
from cmp.cases import parse_intake, parse_open, parse_transition, row_doc
from cmp.config import SiteConfig
from cmp.ratelimit import REQUESTS

BODY_LIMIT = 16 * 1024


@site_route
async def post_request(request: Request, svc: Services, site_id: str, site: SiteConfig
                       ) -> Response:
    got = await svc.limits.check(REQUESTS, site_id, client_ip(request, svc.settings))
    if not got.allowed:
        wait = max(1, math.ceil(got.retry_after))
        return JSONResponse({"error": f"too many requests from this network; retry in {wait} s",
                             "field": "rate"}, status_code=429,
                            headers={**NO_STORE, "Retry-After": str(wait)})
    case = await svc.cases.intake(site_id, parse_intake(await read_json(request, BODY_LIMIT)))
    return JSONResponse({"case_id": case.case_id, "due": case.due, "state": case.state},
                        status_code=201, headers=NO_STORE)


@keyed("requests:write")
async def open_case(request: Request, svc: Services, site_id: str, who: str) -> Response:
    case = await svc.cases.open(site_id, parse_open(await read_json(request, BODY_LIMIT)), who)
    return JSONResponse(case.doc(svc.cases.today(site_id)), status_code=201, headers=NO_STORE)


@keyed("requests:read")
async def list_cases(request: Request, svc: Services, site_id: str, who: str) -> Response:
    state = single_param(request, "state") or "open"
    if state not in ("open", "all"):
        return error(400, "state", "open or all")
    overdue = single_param(request, "overdue") or "false"
    if overdue not in ("true", "false", "1", "0"):
        return error(400, "overdue", "true or false")
    rows = await svc.cases.cases(site_id, open_only=state == "open",
                                 overdue=overdue in ("true", "1"))
    today = svc.cases.today(site_id)
    return JSONResponse({"today": today.isoformat(), "cases": [row_doc(r, today) for r in rows]},
                        headers=NO_STORE)


@keyed("requests:read")
async def get_case(request: Request, svc: Services, site_id: str, who: str) -> Response:
    case = await svc.cases.get(site_id, request.path_params["case"])
    if case is None:
        return error(404, "case", "no such case")
    return JSONResponse(case.doc(svc.cases.today(site_id)), headers=NO_STORE)


@keyed("requests:write")
async def post_transition(request: Request, svc: Services, site_id: str, who: str) -> Response:
    body = parse_transition(await read_json(request, BODY_LIMIT))
    case = await svc.cases.transition(site_id, request.path_params["case"], body, who)
    return JSONResponse(case.doc(svc.cases.today(site_id)), status_code=201, headers=NO_STORE)


routes = [
    Route("/v1/sites/{site}/requests", post_request, methods=["POST"]),
    Route("/v1/sites/{site}/cases", open_case, methods=["POST"]),
    Route("/v1/sites/{site}/cases", list_cases, methods=["GET"]),
    Route("/v1/sites/{site}/cases/{case}", get_case, methods=["GET"]),
    Route("/v1/sites/{site}/cases/{case}/transitions", post_transition, methods=["POST"]),
]
