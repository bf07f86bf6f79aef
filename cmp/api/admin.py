"""Per-site admin routes (data-subject requests, chain check), behind the site's admin keys.

A key is checked against the hashes of the site in the path only, so site A's key can never
act on site B.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.adminkeys import check_admin_key
from cmp.api.http import NO_STORE, bearer_token, error, field_error
from cmp.app_state import Services, services
from cmp.errors import DomainError


def _admin(request: Request) -> tuple[Services, str, Response | None]:
    svc = services(request)
    site_id = request.path_params["site"]
    if site_id not in svc.config.sites:
        # Same answer as a wrong key: an outsider learns nothing about which sites exist.
        return svc, site_id, error(401, "authorization", "a valid admin key for this site is required")
    if not check_admin_key(bearer_token(request), svc.admin_hashes(site_id)):
        return svc, site_id, error(401, "authorization", "a valid admin key for this site is required")
    return svc, site_id, None


async def export_subject(request: Request) -> Response:
    svc, site_id, refused = _admin(request)
    if refused:
        return refused
    doc = await svc.consent.export(site_id, request.path_params["subject"])
    if doc is None:
        return error(404, "subject", "no events for this subject")
    return JSONResponse(doc, headers=NO_STORE)


async def erase_subject(request: Request) -> Response:
    svc, site_id, refused = _admin(request)
    if refused:
        return refused
    try:
        n = await svc.consent.erase(site_id, request.path_params["subject"])
    except DomainError as exc:
        return field_error(exc)
    if n == 0:
        return error(404, "subject", "no events for this subject")
    return JSONResponse({"subject": request.path_params["subject"], "events_anonymised": n},
                        headers=NO_STORE)


async def verify_ledger(request: Request) -> Response:
    svc, site_id, refused = _admin(request)
    if refused:
        return refused
    report = (await svc.consent.verify(site_id))[0]
    return JSONResponse({"site": site_id, "ok": report.ok, "events": report.checked,
                         "problem": report.problem}, status_code=200, headers=NO_STORE)


routes = [
    Route("/v1/sites/{site}/subjects/{subject}", export_subject, methods=["GET"]),
    Route("/v1/sites/{site}/subjects/{subject}", erase_subject, methods=["DELETE"]),
    Route("/v1/sites/{site}/ledger/verify", verify_ledger, methods=["GET"]),
]
