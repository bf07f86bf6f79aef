"""People and contact routes for the customer's backends (thin: authorise, parse, call
cmp.people, answer).

Every route takes a bearer key of the site in the path: an API key holding the route's scope,
or a site admin key (which may do everything). Export and erase take an admin key only.
A key of site A is checked against site A's hashes only, so it never reaches site B.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.adminkeys import key_for_scope
from cmp.api.http import NO_STORE, bearer_token, error, field_error, read_json, single_param
from cmp.app_state import Services, services
from cmp.config import SiteConfig
from cmp.errors import DomainError
from cmp.people import parse_link, parse_person_event

BODY_LIMIT = 64 * 1024


Handler = Callable[[Request, Services, str, str], Awaitable[Response]]
_NO_KEY = "a valid API key for this site is required"


def authorise(request: Request, svc: Services, site_id: str, site: SiteConfig,
              scope: str) -> tuple[str | None, Response | None]:
    """(who, None) when the bearer key may act in `scope` here, else (None, the 401/403)."""
    who = key_for_scope(bearer_token(request), svc.admin_hashes(site_id),
                        [(k.name, k.hash, k.scopes) for k in site.api_keys], scope)
    if who is None:
        return None, error(401, "authorization", _NO_KEY)
    if who is False:
        return None, error(403, "authorization", f"this key lacks the scope {scope}")
    return str(who), None


def keyed(scope: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A route behind a key with `scope` ("admin": a site admin key only). An unknown site is
    answered like a wrong key, so an outsider learns nothing about which sites exist; the
    handler gets (request, services, site id, who) and its DomainErrors become JSON errors."""
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            svc = services(request)
            site_id = request.path_params["site"]
            site = svc.config.sites.get(site_id)
            if site is None:
                return error(401, "authorization", _NO_KEY)
            if scope == "admin":
                if key_for_scope(bearer_token(request), svc.admin_hashes(site_id), [],
                                 scope) != "admin":
                    return error(401, "authorization", "an admin key of this site is required")
                who = "admin"
            else:
                found, refused = authorise(request, svc, site_id, site, scope)
                if refused is not None:
                    return refused
                who = str(found)
            try:
                return await handler(request, svc, site_id, who)
            except DomainError as exc:
                return field_error(exc)
        return endpoint
    return wrap


@keyed("people:write")
async def put_person(request: Request, svc: Services, site_id: str, who: str) -> Response:
    body = parse_link(await read_json(request, BODY_LIMIT))
    ref = request.path_params["ref"]
    person, event = await svc.people.link(site_id, ref, body)
    state = await svc.people.state(site_id, ref)
    return JSONResponse({"person": person, "event_id": event.event_id if event else None,
                         "state": state}, status_code=200, headers=NO_STORE)


@keyed("people:read")
async def get_person(request: Request, svc: Services, site_id: str, who: str) -> Response:
    state = await svc.people.state(site_id, request.path_params["ref"])
    if state is None:
        return error(404, "ref", "no such person: nothing linked, nothing recorded")
    return JSONResponse(state, headers=NO_STORE)


@keyed("people:write")
async def post_person_event(request: Request, svc: Services, site_id: str, who: str) -> Response:
    body = parse_person_event(await read_json(request, BODY_LIMIT))
    ref = request.path_params["ref"]
    event = await svc.people.record(site_id, ref, body)
    return JSONResponse({"event_id": event.event_id, "seq": event.seq, "kind": event.kind,
                         "recorded_by": who, "state": await svc.people.state(site_id, ref)},
                        status_code=201, headers=NO_STORE)


@keyed("contact:read")
async def may_contact(request: Request, svc: Services, site_id: str, who: str) -> Response:
    channel = single_param(request, "channel")
    if channel is None:
        return error(400, "channel", "channel is required: email, sms, push or phone")
    answer = await svc.people.may_contact(
        site_id, channel, to=single_param(request, "to"), person=single_param(request, "person"),
        list_id=single_param(request, "list"))
    return JSONResponse(answer.doc(), headers=NO_STORE)


@keyed("admin")
async def export_person(request: Request, svc: Services, site_id: str, who: str) -> Response:
    doc = await svc.people.export(site_id, request.path_params["ref"])
    if doc is None:
        return error(404, "ref", "no such person")
    return JSONResponse(doc, headers=NO_STORE)


@keyed("admin")
async def erase_person(request: Request, svc: Services, site_id: str, who: str) -> Response:
    done = await svc.people.erase(site_id, request.path_params["ref"])
    if done is None:
        return error(404, "ref", "no such person")
    return JSONResponse(done, headers=NO_STORE)


routes = [
    Route("/v1/sites/{site}/people/{ref}", put_person, methods=["PUT"]),
    Route("/v1/sites/{site}/people/{ref}", get_person, methods=["GET"]),
    Route("/v1/sites/{site}/people/{ref}", erase_person, methods=["DELETE"]),
    Route("/v1/sites/{site}/people/{ref}/events", post_person_event, methods=["POST"]),
    Route("/v1/sites/{site}/people/{ref}/export", export_person, methods=["GET"]),
    Route("/v1/sites/{site}/may-contact", may_contact, methods=["GET"]),
]
