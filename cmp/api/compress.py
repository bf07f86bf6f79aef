"""gzip for the larger JSON answers (the banner config is ~19 KB, ~6 KB gzipped).

Most config answers are byte-identical (every first visit from one regime, language and GPC
value), so compressed bodies are cached by their digest and compressed once."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

MIN_SIZE = 1024
_CACHE: OrderedDict[bytes, bytes] = OrderedDict()
_CACHE_MAX = 256


def _gzip(raw: bytes) -> bytes:
    key = hashlib.blake2b(raw, digest_size=16).digest()
    hit = _CACHE.get(key)
    if hit is None:
        hit = gzip.compress(raw, compresslevel=6, mtime=0)
        _CACHE[key] = hit
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return hit


def json_response(request: Request, body: Any, headers: dict[str, str]) -> Response:
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    vary = ", ".join(filter(None, [headers.get("Vary"), "Accept-Encoding"]))
    out = {**headers, "Vary": vary}
    if len(raw) >= MIN_SIZE and "gzip" in request.headers.get("accept-encoding", ""):
        raw = _gzip(raw)
        out["Content-Encoding"] = "gzip"
    return Response(raw, media_type="application/json", headers=out)
