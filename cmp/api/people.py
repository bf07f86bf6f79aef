"""People and contact routes for the customer's backends (thin: authorise, parse, call
cmp.people, answer).

Every route takes a bearer key of the site in the path: an API key holding the route's scope,
or a site admin key (which may do everything). Export and erase take an admin key only.
A key of site A is checked against site A's hashes only, so it never reaches site B.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, authorise, error, keyed, read_json, single_param
from cmp.app_state import Services
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
