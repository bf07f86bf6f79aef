"""Per-site CORS as plain ASGI middleware: only a site's own origins may call its routes.

A request from a disallowed Origin is refused here, before any route runs, so it can store
nothing. Public verification routes (receipt key, receipt verify) are open to every origin.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cmp.config import Config

PUBLIC_SUFFIXES = ("/receipt-key", "/receipts/verify")
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Content-Type, Authorization"


class SiteCORS:
    def __init__(self, app: ASGIApp, config: Callable[[], Config]) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/sites/"):
            await self.app(scope, receive, send)
            return
        origin = None
        preflight = False
        for k, v in scope["headers"]:
            if k == b"origin":
                origin = v.decode("latin-1")
            elif k == b"access-control-request-method":
                preflight = scope["method"] == "OPTIONS"
        if origin is None:  # not a browser cross-origin call (server-side, curl)
            await self.app(scope, receive, send)
            return
        site_id = scope["path"].split("/")[3]
        site = self.config().sites.get(site_id)
        if scope["path"].endswith(PUBLIC_SUFFIXES):
            allow = "*"
        elif site is None:
            await self.app(scope, receive, send)  # the route answers 404 for the unknown site
            return
        elif origin in site.origins:
            allow = origin
        else:
            await _refuse(send, origin)
            return
        headers = [(b"access-control-allow-origin", allow.encode("latin-1")),
                   (b"vary", b"Origin")]
        if preflight:
            headers += [(b"access-control-allow-methods", ALLOW_METHODS.encode()),
                        (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                        (b"access-control-max-age", b"600"),
                        (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + headers
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _refuse(send: Send, origin: str) -> None:
    body = json.dumps({"error": f"origin {origin} is not allowed for this site",
                       "field": "Origin"}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"vary", b"Origin")]})
    await send({"type": "http.response.body", "body": body})
