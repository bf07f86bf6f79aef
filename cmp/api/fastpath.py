"""`GET /v1/sites/{site}/may-contact` answered in plain ASGI, ahead of routing.

A sender asks before every message it sends, so this is a hot path like the open pixel
(pixel/email/fastpath.py). Routing through every route ahead of it, the Request and its
QueryParams, and the Response machinery were a third of the time of an answer that needs
only the path, one header and the query string. This middleware answers that one method and
path itself with `may_contact_answer`, the function the routed version answers with, so the
status, body and headers are the same; anything else (HEAD, a trailing slash, a root path)
goes on to the router. It sits inside SiteCORS, so a browser's cross-origin call is refused
or allowed exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cmp.api.http import bearer, query_lists
from cmp.api.people import may_contact_answer
from cmp.app_state import Services
from cmp.storage.base import StorageError
from cmp.storage.writer import WriterClosed

_PREFIX, _SUFFIX = "/v1/sites/", "/may-contact"
# As JSONResponse(..., headers=NO_STORE) sends them, and as the app's StorageError handler.
_TYPE = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_DOWN = json.dumps({"error": "storage unavailable, nothing was recorded", "field": "storage"},
                   separators=(",", ":")).encode()


class MayContactFastPath:
    def __init__(self, app: Any, services: Callable[[], Services]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path")
                or not path.endswith(_SUFFIX) or not path.startswith(_PREFIX)):
            await self.app(scope, receive, send)
            return
        site_id = path[len(_PREFIX):-len(_SUFFIX)]
        if not site_id or "/" in site_id:  # not the route's {site}: the router answers
            await self.app(scope, receive, send)
            return
        token = None
        for k, v in scope["headers"]:
            if k == b"authorization":  # the first one, as Request.headers.get reads it
                token = bearer(v.decode("latin-1"))
                break
        try:
            status, doc = await may_contact_answer(self.services(), site_id, token,
                                                   query_lists(scope.get("query_string", b"")))
        except (StorageError, WriterClosed):
            await _answer(send, 503, _DOWN, [(b"retry-after", b"1")])
            return
        body = json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8")
        await _answer(send, status, body, [_NO_STORE])


async def _answer(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode()), _TYPE]})
    await send({"type": "http.response.body", "body": body})
