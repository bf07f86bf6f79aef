"""People and contact routes for the customer's backends (thin: authorise, parse, call
cmp.people, answer).

Every route takes a bearer key of the site in the path: an API key holding the route's scope,
or a site admin key (which may do everything). Export and erase take an admin key only.
A key of site A is checked against site A's hashes only, so it never reaches site B.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import (
    NO_KEY,
    NO_STORE,
    STATUS,
    authorise,
    authorise_token,
    bearer_token,
    error,
    keyed,
    query_lists,
    read_json,
    single_value,
)
from cmp.app_state import Services, services
from cmp.errors import DomainError
from cmp.people import parse_link, parse_person_event

__all__ = ["authorise", "keyed", "routes"]  # authorise and keyed live in cmp.api.http

BODY_LIMIT = 64 * 1024


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


async def may_contact_answer(svc: Services, site_id: str, token: str | None,
                             query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of `GET /v1/sites/{site}/may-contact`, from the bearer token
    and the query (`query_lists`): the route below and the plain-ASGI fast path
    (cmp/api/fastpath.py) both answer with this, so they cannot drift apart. An unknown site
    is answered like a wrong key, as every keyed route does."""
    site = svc.config.sites.get(site_id)
    if site is None:
        return 401, {"error": NO_KEY, "field": "authorization"}
    _, refused = authorise_token(token, svc, site_id, site, "contact:read")
    if refused is not None:
        return refused[0], {"error": refused[2], "field": refused[1]}
    try:
        channel = single_value(query.get("channel", []), "channel")
        if channel is None:
            return 400, {"error": "channel is required: email, sms, push or phone",
                         "field": "channel"}
        answer = await svc.people.may_contact(
            site_id, channel, to=single_value(query.get("to", []), "to"),
            person=single_value(query.get("person", []), "person"),
            list_id=single_value(query.get("list", []), "list"))
    except DomainError as exc:
        return STATUS[exc.kind], {"error": exc.message, "field": exc.field}
    return 200, answer.doc()


async def may_contact(request: Request) -> Response:
    status, doc = await may_contact_answer(services(request), request.path_params["site"],
                                           bearer_token(request),
                                           query_lists(request.scope["query_string"]))
    return JSONResponse(doc, status_code=status, headers=NO_STORE)


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
