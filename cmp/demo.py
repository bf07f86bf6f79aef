"""Routes of `consentry demo`: a page of the customer's site that embeds the banner."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tuiqiqi — Consentry demo</title>
<script src="/cmp.js" data-site="demo"></script>
</head><body>
<h1>Tuiqiqi B2B export platform (Consentry demo)</h1>
<p>Config for this visitor: <a href="/v1/sites/demo/config">/v1/sites/demo/config</a> ·
API: <a href="/openapi.json">/openapi.json</a></p>
</body></html>"""


async def demo_page(request: Request) -> Response:
    return HTMLResponse(PAGE)


def demo_routes() -> list[BaseRoute]:
    return [Route("/", demo_page, methods=["GET"])]
