"""Service routes: health, metrics and the GPC well-known file.

(The OpenAPI document describes pixel/ routes too, so it is served by the assembly:
consentry.openapi.)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cmp.app_state import services
from cmp.storage.base import StorageError

GPC_LAST_UPDATE = "2026-11-25"


async def healthz(request: Request) -> Response:
    svc = services(request)
    await svc.storage.ping()  # proves the database answers
    return JSONResponse({"ok": True})


async def metrics(request: Request) -> Response:
    svc = services(request)
    w = getattr(svc.storage, "writer", None)
    lines = [
        "# TYPE consentry_group_commit_batches_total counter",
        f"consentry_group_commit_batches_total {getattr(w, 'batches', 0)}",
        "# TYPE consentry_group_commit_rows_total counter",
        f"consentry_group_commit_rows_total {getattr(w, 'rows', 0)}",
    ]
    beacon = getattr(request.app.state, "beacon", None)
    if beacon is not None:  # every beacon outcome, logged or dropped, by reason
        # "beacon" is pixel.outcomes.BEACON_KIND, spelled out: cmp/ sits below pixel/.
        lines.append("# TYPE consentry_beacon_events_total counter")
        lines += [f'consentry_beacon_events_total{{site="{site}",outcome="{outcome}"}} {n}'
                  for (site, outcome), n in sorted(beacon.counters.by_site("beacon").items())]
    # Rate limits, and whether the shared windows (Redis) answer: a fallback count that grows
    # means each worker decides alone (bursts split across workers go unseen).
    lines.append("# TYPE consentry_rate_limited_total counter")
    lines += [f'consentry_rate_limited_total{{kind="{kind}",site="{site}"}} {n}'
              for (kind, site), n in sorted(svc.limits.refused.items())]
    # Person hints by outcome: a growing forged or other_site count is someone trying hints
    # (or a backend signing with the wrong secret); expired, pages cached too long.
    lines.append("# TYPE consentry_person_hints_total counter")
    lines += [f'consentry_person_hints_total{{site="{site}",outcome="{outcome}"}} {n}'
              for (site, outcome), n in sorted(svc.identify.hints.items())]
    # Data-subject request cases: open ones, and those past their due date (alert on > 0).
    # The one database read here: a scrape while the database is away still gets every
    # in-memory counter (and consentry_storage_up 0), not a 503.
    try:
        counts = await svc.cases.counts()
        lines += ["# TYPE consentry_storage_up gauge", "consentry_storage_up 1"]
    except StorageError:
        counts = []
        lines += ["# TYPE consentry_storage_up gauge", "consentry_storage_up 0"]
    lines.append("# TYPE consentry_requests_open gauge")
    lines += [f'consentry_requests_open{{site="{site}"}} {n}' for site, n, _ in counts]
    lines.append("# TYPE consentry_requests_overdue gauge")
    lines += [f'consentry_requests_overdue{{site="{site}"}} {late}' for site, _, late in counts]
    win = svc.windows
    lines += [
        "# TYPE consentry_windows_shared gauge",
        f"consentry_windows_shared {int(win.backend == 'redis')}",
        "# TYPE consentry_windows_errors_total counter",
        f"consentry_windows_errors_total {getattr(win, 'errors', 0)}",
        "# TYPE consentry_windows_local_fallbacks_total counter",
        f"consentry_windows_local_fallbacks_total {getattr(win, 'fallbacks', 0)}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


async def gpc_json(request: Request) -> Response:
    # We honour GPC, so we say so (W3C GPC §4: /.well-known/gpc.json).
    return JSONResponse({"gpc": True, "lastUpdate": GPC_LAST_UPDATE})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/.well-known/gpc.json", gpc_json, methods=["GET"]),
]
