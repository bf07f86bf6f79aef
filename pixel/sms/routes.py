"""Thin HTTP layer of the SMS side.

- `POST /v1/sites/{site}/sms/inbound`: the provider's (or relay's) inbound-message webhook,
  signed with the site's webhook secret (pixel.sms.signature). The signature is checked on
  the raw bytes before the body is read as JSON, so an unsigned caller learns nothing about
  what a body would do. 401 for a bad or missing signature, 400 for a bad body, 200 once an
  opt-out is committed.
- `POST /v1/sites/{site}/sms/compose`: the sender's helper (scope contact:read; an unknown
  site is answered like a wrong key, as every keyed route).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, error, field_error, keyed, parse_json_body, read_json
from cmp.app_state import Services, services
from cmp.errors import DomainError, ErrorKind, FieldError
from pixel.sms.compose import ContactRefused, compose_sms, parse_compose
from pixel.sms.inbound import MAX_BODY, SmsInbound
from pixel.sms.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError


def build_inbound(svc: Services) -> SmsInbound:
    return SmsInbound(svc.people, svc.keyring)


def _inbound(request: Request) -> SmsInbound:
    sms: SmsInbound = request.app.state.sms
    return sms


async def _raw_body(request: Request, limit: int) -> bytes:
    """The body's exact bytes (the signature covers them), refusing more than `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise FieldError("body", f"body larger than {limit} bytes", ErrorKind.TOO_LARGE)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", ""):
        raise FieldError("content-type", "send application/json", ErrorKind.UNSUPPORTED_MEDIA)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FieldError("body", f"body larger than {limit} bytes", ErrorKind.TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


async def post_inbound(request: Request) -> Response:
    sms = _inbound(request)
    site_id = request.path_params["site"]
    try:
        raw = await _raw_body(request, MAX_BODY)
        # An unknown site is answered like a wrong signature: a caller without the secret
        # learns nothing about which sites exist.
        sms.verify(site_id, raw, request.headers.get(SIGNATURE_HEADER),
                   request.headers.get(TIMESTAMP_HEADER), known=site_id in services(request).config.sites)
        result = await sms.receive(site_id, parse_json_body(raw))
    except SignatureError as exc:
        return error(401, exc.field, exc.message)
    except DomainError as exc:
        return field_error(exc)
    return JSONResponse(result.doc(), headers=NO_STORE)


@keyed("contact:read")
async def post_compose(request: Request, svc: Services, site_id: str, who: str) -> Response:
    body = parse_compose(await read_json(request, MAX_BODY))
    try:
        composed = await compose_sms(svc.people, site_id, body.to, body.text,
                                     language=body.language, list_id=body.list)
    except ContactRefused as exc:
        return JSONResponse({"error": exc.message, "field": exc.field, "to_allowed": False,
                             "reason": exc.reason, "event_id": exc.event_id},
                            status_code=409, headers=NO_STORE)
    return JSONResponse(composed.doc(), headers=NO_STORE)


routes = [
    Route("/v1/sites/{site}/sms/inbound", post_inbound, methods=["POST"]),
    Route("/v1/sites/{site}/sms/compose", post_compose, methods=["POST"]),
]
