"""Checkpoint routes: the signed tree heads of a site's ledger and consistency proofs between
them, public like the receipt key (they hold hashes, nothing personal), so a witness or the
visitor holding a receipt can check the log without an account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp.api.http import NO_STORE, error, site_route
from cmp.app_state import Services
from cmp.config import SiteConfig
from cmp.errors import FieldError


def _size(request: Request, name: str, required: bool) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise FieldError(name, "required: a tree size (a whole number of events)")
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise FieldError(name, "must be a tree size: a whole number of events, at least 1")
    return int(raw)


@site_route
async def latest(request: Request, svc: Services, site_id: str, site: SiteConfig) -> Response:
    size = _size(request, "size", False)
    doc = await svc.checkpoints.stored(site_id, size)
    if doc is None:
        return error(404, "size" if size else "site",
                     f"no checkpoint of {size} events" if size else "no checkpoint yet")
    return JSONResponse(doc, headers=NO_STORE)


@site_route
async def consistency(request: Request, svc: Services, site_id: str,
                      site: SiteConfig) -> Response:
    first = _size(request, "first", True)
    second = _size(request, "second", True)
    assert first is not None and second is not None
    return JSONResponse(await svc.checkpoints.consistency(site_id, first, second),
                        headers=NO_STORE)


routes = [
    Route("/v1/sites/{site}/checkpoints/latest", latest, methods=["GET"]),
    Route("/v1/sites/{site}/checkpoints/consistency", consistency, methods=["GET"]),
]
