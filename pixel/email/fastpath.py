"""The open pixel answered in plain ASGI, ahead of routing: the hottest route we serve.

Every e-mail open is a request; a campaign of a million messages is a million of them. The
framework's routing, Request and Response objects are most of the cost of a request that only
needs the path and the User-Agent, so this middleware answers `GET|HEAD /e/o/{token}.gif`
itself with exactly what the routed version (pixel.email.routes.open_pixel) answers: the same
43-byte GIF whatever happened (a malformed path included), 503 only when the database could
not commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cmp.storage.base import StorageError
from cmp.storage.writer import WriterClosed
from pixel.email.pipeline import Pipeline
from pixel.outcomes import GIF, GIF_HEADERS, GIF_TYPE

_HEADERS = [(b"content-type", GIF_TYPE.encode()), (b"content-length", str(len(GIF)).encode())] + [
    (k.lower().encode(), v.encode()) for k, v in GIF_HEADERS.items()]
_START_OK = {"type": "http.response.start", "status": 200, "headers": _HEADERS}
_START_DOWN = {"type": "http.response.start", "status": 503,
               "headers": _HEADERS + [(b"retry-after", b"1")]}
_BODY = {"type": "http.response.body", "body": GIF}
_EMPTY = {"type": "http.response.body", "body": b""}


class OpenPixelFastPath:
    def __init__(self, app: Any, pipeline: Callable[[], Pipeline]) -> None:
        self.app = app
        self.pipeline = pipeline

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] not in ("GET", "HEAD")
                or not (path.startswith("/e/o/") or path == "/e/o")):
            await self.app(scope, receive, send)
            return
        # Every path under /e/o/ is the pixel: one that is not `/e/o/{token}.gif` (no token,
        # a slash in it) is a bad token, counted and answered with the same GIF.
        token = path[5:-4] if path.endswith(".gif") else ""
        if "/" in token:
            token = ""
        ua = None
        for k, v in scope["headers"]:
            if k == b"user-agent":
                ua = v.decode("latin-1")
                break
        head = scope["method"] == "HEAD"
        try:
            await self.pipeline().open(token, ua=ua, head=head)
            start = _START_OK
        except (StorageError, WriterClosed):
            start = _START_DOWN
        await send(start)
        await send(_EMPTY if head else _BODY)
