"""App assembly: the routes of cmp/, pixel/ and dashboards/, middleware, lifespan (storage
open/close). The one place that knows all three; nothing imports it but the CLI and server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route

from cmp.api import admin, asks, assets, checkpoints, consent, meta, people, requestpage, requests
from cmp.api.cors import SiteCORS
from cmp.api.fastpath import MayContactFastPath
from cmp.app_state import Services, open_checked
from cmp.checkpoints import run_periodically
from cmp.storage.base import StorageError
from cmp.storage.writer import WriterClosed
from consentry import openapi
from dashboards.routes import routes as dashboard_routes
from pixel.email.fastpath import OpenPixelFastPath
from pixel.email.routes import malformed_routes
from pixel.email.routes import routes as email_routes
from pixel.email.service import EmailService
from pixel.sms.routes import build_inbound
from pixel.sms.routes import routes as sms_routes
from pixel.web.routes import build_pipeline
from pixel.web.routes import routes as beacon_routes


def settle_heap() -> None:
    """Once a worker has started: move everything built so far (config, routes, compiled
    templates, modules) out of the collector's sight, and collect the young generation less
    often. A request allocates a few hundred short-lived objects; with the default threshold
    (700) the collector ran every few requests and, every tenth time, walked the whole startup
    heap again. Measured on the open pixel (bench/pixel.py, 2026-12-02): 144 -> 133 µs of CPU per
    request with the freeze, 133 with the higher threshold too against 161 without either."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def create_app(svc: Services, extra_routes: list[BaseRoute] | None = None, *,
               worker: bool = False) -> Starlette:
    """`worker`: this app is what a serving process runs for good (not a test's or the startup
    check's), so its startup heap may be frozen (`settle_heap`)."""
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_checked(svc.storage, svc.settings.database)  # one line naming the problem
        if worker:
            settle_heap()
        every = svc.settings.checkpoint_interval_minutes
        ticker = asyncio.create_task(run_periodically(
            svc.checkpoints, list(svc.config.sites), every, svc.settings.checkpoint_dir,
            svc.settings.checkpoint_webhook)) if every > 0 else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await svc.storage.close_engagement()  # e-mail engagement rows flush first
            await svc.storage.close_beacon()
            await svc.storage.close()
            await svc.windows.close()
            svc.policy.close()

    async def storage_down(request: Request, exc: Exception) -> Response:
        # Not acknowledged means not stored: the client may retry.
        return JSONResponse({"error": "storage unavailable, nothing was recorded", "field": "storage"},
                            status_code=503, headers={"Retry-After": "1"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "no such route", "field": "path"}, status_code=404)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        # RFC 9110: a 405 lists the methods the resource supports, from every route of the
        # path (the router's own Allow names only the first route's, e.g. GET but not DELETE).
        methods: set[str] = set()
        for route in app.router.routes:
            if isinstance(route, Route) and route.methods and \
                    route.matches(request.scope)[0] is not Match.NONE:
                methods |= route.methods
        headers = {"Allow": ", ".join(sorted(methods))} if methods else {}
        return JSONResponse({"error": "method not allowed", "field": "method"}, status_code=405,
                            headers=headers)

    app = Starlette(
        # E-mail routes first: the open pixel is the hot path.
        routes=[*email_routes, *beacon_routes, *consent.routes, *people.routes, *asks.routes,
                *requests.routes, *requestpage.routes,
                *sms_routes, *admin.routes, *checkpoints.routes,
                *meta.routes,
                *openapi.routes,
                *assets.asset_routes(), Mount("/dashboard", routes=dashboard_routes),
                *(extra_routes or []), *malformed_routes],
        lifespan=lifespan,
        exception_handlers={StorageError: storage_down, WriterClosed: storage_down,
                            404: not_found, 405: method_not_allowed},
    )
    app.state.services = svc
    app.state.email = EmailService.build(svc)
    app.state.beacon = build_pipeline(svc)
    app.state.sms = build_inbound(svc)
    # Inside SiteCORS (added first = innermost): cross-origin calls are judged as before.
    app.add_middleware(MayContactFastPath, services=lambda: svc)
    app.add_middleware(SiteCORS, config=lambda: svc.config)
    app.add_middleware(OpenPixelFastPath, pipeline=lambda: app.state.email.pipeline)
    return app

