"""Consent API routes (thin: parse, call cmp.consent, answer)."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.compress import json_response
from cmp.api.http import (
    NO_STORE,
    bearer_token,
    error,
    read_json,
    single_param,
    site_route,
    visitor_from,
)
from cmp.app_state import Services
from cmp.config import Purpose, SiteConfig, Vendor
from cmp.consent import Recorded, parse_consent_in
from cmp.identify import Limited, parse_identify_in
from cmp.policy import Decision
from cmp.ratelimit import CONSENT
from cmp.receipts import public_key_doc, verify_receipt
from cmp.tokens import ConsentState


def _stores(x: Purpose | Vendor) -> dict[str, list[str]]:
    """IndexedDB and Cache Storage names to delete on refusal, only where declared: most sites
    declare none, and every visitor downloads this answer."""
    return {k: v for k, v in (("indexeddb", x.indexeddb), ("caches", x.caches)) if v}


def banner_config(svc: Services, site_id: str, site: SiteConfig, d: Decision) -> dict[str, Any]:
    """What the banner needs for this visitor, in the visitor's language."""
    t = site.texts_for(d.language)
    base = f"/v1/sites/{site_id}"
    return {
        "site": site_id,
        "name": site.name,
        "revision": site.revision,
        "language": d.language,
        "languages": site.languages,
        "dir": "rtl" if d.language.split("-")[0] in ("ar", "he", "fa", "ur") else "ltr",
        "regime": d.regime,
        "model": str(d.model),
        "separate_consent": d.separate_consent,
        "country": d.country,
        "subdivision": d.subdivision,
        "gpc": d.gpc,
        "texts_hash": site.texts_hash(d.language),
        "texts": t["banner"],
        "purposes": [
            # `default` only where set: the banner's grant rule reads a missing one as false
            {"id": pid, **t["purposes"][pid], "necessary": p.necessary, "gpc": p.gpc,
             **({"default": True} if p.default else {}),
             "cookies": p.cookies, "storage_keys": p.storage_keys, **_stores(p)}
            for pid, p in site.purposes.items()
        ],
        "vendors": [
            {"id": vid, **t["vendors"][vid], "cookies": v.cookies, "storage_keys": v.storage_keys,
             **_stores(v)}
            for vid, v in site.vendors.items()
        ],
        "separate": [{"id": sid, **t["separate"][sid]} for sid in site.banner_separate],
        "defaults": d.defaults.as_dict(),
        "cookie": site.cookie.model_dump(),
        "consent_mode": site.consent_mode.model_dump(),
        "endpoints": {"consent": f"{base}/consent", **({"tags": f"{base}/tags"} if site.tags else {})},
        # The purpose Consentry.track() needs (None: the beacon is off for this site).
        "beacon": {"purpose": b.purpose} if (b := site.beacon_config) else None,
        # Only where mapped: the banner loads its permissions module for this key alone.
        **({"permissions": {cap: {"purpose" if t in site.purposes else "separate": t}
                            for cap, t in site.permissions.items()}} if site.permissions else {}),
    }


@site_route
async def get_config(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    visitor = visitor_from(request, svc.settings)
    decision = svc.policy.decide(site_id, visitor, request.query_params.get("lang"))
    body = banner_config(svc, site_id, site, decision)
    state = svc.consent.state_from_token(site_id, bearer_token(request, site.cookie.name))
    body["consent"] = state.as_dict() if state else None
    return json_response(request, body, {"Cache-Control": "private, no-store",
                                         "Vary": "Accept-Language, Sec-GPC"})


def _receipt_url(svc: Services, site_id: str, subject: str) -> str:
    access = svc.tokens.receipt_access(site_id, subject)
    return (f"{svc.settings.public_url.rstrip('/')}/v1/sites/{site_id}/consent/{subject}/"
            f"receipt?access={access}")


def _recorded(svc: Services, site_id: str, rec: Recorded, status: int = 200) -> JSONResponse:
    return JSONResponse({
        "consent_id": rec.subject,
        "event_id": rec.event.event_id,
        "kind": rec.event.kind,
        "token": rec.token,
        "expires": rec.expires,
        "choices": rec.choices_doc,
        "receipt_url": _receipt_url(svc, site_id, rec.subject),
    }, status_code=status, headers=NO_STORE)


def _too_many(retry_after: float) -> Response:
    wait = max(1, math.ceil(retry_after))
    return JSONResponse({"error": f"too many consent requests from this network; retry "
                         f"in {wait} s", "field": "rate"}, status_code=429,
                        headers={**NO_STORE, "Retry-After": str(wait)})


async def _limited(svc: Services, site_id: str, ip: str | None) -> Response | None:
    """The 429 for a network over the consent rate limit, checked before the body is read: a
    refused request costs one window check and stores nothing."""
    got = await svc.limits.check(CONSENT, site_id, ip)
    return None if got.allowed else _too_many(got.retry_after)


@site_route
async def post_consent(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    visitor = visitor_from(request, svc.settings)
    if (refused := await _limited(svc, site_id, visitor.ip)) is not None:
        return refused
    body = parse_consent_in(await read_json(request, svc.settings.max_body_bytes))
    token, origin = bearer_token(request, site.cookie.name), request.headers.get("origin")
    rec = await (svc.identify.record(site_id, visitor, body, token, origin=origin)
                 if body.hint is not None else
                 svc.consent.record(site_id, visitor, body, token, origin=origin))
    return _recorded(svc, site_id, rec, 201)


@site_route
async def post_identify(request: Request, svc: Services, site_id: str,
                        site: SiteConfig) -> Response:
    visitor = visitor_from(request, svc.settings)
    body = parse_identify_in(await read_json(request, svc.settings.max_body_bytes))

    async def admit() -> float | None:
        # Limited like a consent, but only when it writes: every signed-in page view asks,
        # and most change nothing.
        got = await svc.limits.check(CONSENT, site_id, visitor.ip)
        return None if got.allowed else got.retry_after

    try:
        got = await svc.identify.identify(
            site_id, visitor, body.hint, bearer_token(request, site.cookie.name),
            language=body.language, gpc=body.gpc, origin=request.headers.get("origin"),
            admit=admit)
    except Limited as exc:
        return _too_many(exc.retry_after)
    doc: dict[str, Any] = {"identified": got.identified,
                           "consent": got.state.as_dict() if got.state else None,
                           "token": None, "expires": None}
    if got.recorded is not None:
        rec = got.recorded
        doc.update(token=rec.token, expires=rec.expires, event_id=rec.event.event_id,
                   receipt_url=_receipt_url(svc, site_id, rec.subject))
    return JSONResponse(doc, headers=NO_STORE)


def _owner(request: Request, svc: Services, site_id: str,
           site: SiteConfig) -> tuple[str, ConsentState | Response]:
    """The path's consent id and the verified token of that subject, or the refusal."""
    cid = request.path_params["cid"]
    state = svc.consent.state_from_token(site_id, bearer_token(request, site.cookie.name))
    if state is None or state.subject != cid:
        return cid, error(401, "token", "a valid consent token for this consent id is required")
    return cid, state


@site_route
async def get_consent(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    cid, state = _owner(request, svc, site_id, site)
    if isinstance(state, Response):
        return state
    choices, events = await svc.consent.history(site_id, cid)
    if not events:
        return error(404, "consent_id", "no events for this consent id")
    return JSONResponse({"consent_id": cid, "current": choices.as_dict() if choices else None,
                         "events": [ev.public() for ev in events]}, headers=NO_STORE)


@site_route
async def delete_consent(request: Request, svc: Services, site_id: str,
                         site: SiteConfig) -> Response:
    _, state = _owner(request, svc, site_id, site)
    if isinstance(state, Response):
        return state
    rec = await svc.consent.withdraw(site_id, state, visitor_from(request, svc.settings),
                                     origin=request.headers.get("origin"))
    return _recorded(svc, site_id, rec)


@site_route
async def get_receipt(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    cid = request.path_params["cid"]
    access = single_param(request, "access")
    state = svc.consent.state_from_token(site_id, bearer_token(request))
    if not svc.tokens.check_receipt_access(site_id, cid, access) and (
            state is None or state.subject != cid):
        return error(401, "access", "a valid receipt link or consent token is required")
    doc = await svc.consent.receipt(site_id, cid)
    if doc is None:
        return error(404, "consent_id", "no events for this consent id")
    return JSONResponse(doc, headers={**NO_STORE, "Content-Disposition":
                                      f'inline; filename="consent-receipt-{cid}.json"'})


@site_route
async def receipt_key(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    return JSONResponse(public_key_doc(svc.keyring.site(site_id)),
                        headers={"Cache-Control": "public, max-age=3600"})


@site_route
async def verify_receipt_route(request: Request, svc: Services, site_id: str,
                               site: SiteConfig) -> Response:
    doc = await read_json(request, 1 << 20)
    keys = svc.keyring.site(site_id)
    valid = verify_receipt(doc, keys.receipt_public)
    if valid and doc["receipt"].get("site") != site_id:
        valid = False
    return JSONResponse({"valid": valid, "key_id": keys.receipt_key_id})


routes = [
    Route("/v1/sites/{site}/config", get_config, methods=["GET"]),
    Route("/v1/sites/{site}/consent", post_consent, methods=["POST"]),
    Route("/v1/sites/{site}/identify", post_identify, methods=["POST"]),
    Route("/v1/sites/{site}/consent/{cid}", get_consent, methods=["GET"]),
    Route("/v1/sites/{site}/consent/{cid}", delete_consent, methods=["DELETE"]),
    Route("/v1/sites/{site}/consent/{cid}/receipt", get_receipt, methods=["GET"]),
    Route("/v1/sites/{site}/receipt-key", receipt_key, methods=["GET"]),
    Route("/v1/sites/{site}/receipts/verify", verify_receipt_route, methods=["POST"]),
]
