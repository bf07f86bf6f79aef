"""Person hints: a logged-in page tells the banner who the member is, without telling anyone
else.

The customer's backend makes the hint when it renders a signed-in page and puts it on the
snippet (`data-person="…"`) or passes it to `Consentry.identify(hint)`:

    hint = "v1." + b64url(json) + "." + b64url(HMAC-SHA256(hint_secret, "v1." + b64url(json)))
    json = {"site": "<site id>", "ref": "<account reference>", "exp": <unix seconds>}

b64url is unpadded base64url; json is compact with sorted keys (the helper below makes it; any
language can). The hint secret is the site's (`consentry keys secrets --site S` prints it);
keep it on the server. A hint lives minutes, not days (`exp` at most `MAX_TTL` ahead): it
proves "this page was rendered for this member", not a login.

This module uses the standard library only, so a customer's backend may copy the one
function it needs (`make_hint`) or import it from the package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass

VERSION = "v1"
MAX_TTL = 24 * 3600  # a hint valid longer than this is refused as made wrongly
_PART = re.compile(r"[A-Za-z0-9_-]+")


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64u_decode(s: str) -> bytes:
    data = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if _b64u(data) != s:  # only the canonical form (cmp.keys.b64u_decode explains why)
        raise ValueError("not canonical base64url")
    return data


def make_hint(secret: bytes, site: str, ref: str, *, ttl: int = 600,
              now: float | None = None) -> str:
    """A hint for member `ref` of `site`, valid `ttl` seconds (default 10 minutes)."""
    exp = int((now if now is not None else time.time()) + ttl)
    body = _b64u(json.dumps({"exp": exp, "ref": ref, "site": site}, sort_keys=True,
                            separators=(",", ":"), ensure_ascii=False).encode())
    signed = f"{VERSION}.{body}"
    return f"{signed}.{_b64u(hmac.new(secret, signed.encode(), hashlib.sha256).digest())}"


@dataclass(frozen=True, slots=True)
class Hint:
    site: str
    ref: str
    exp: int


class HintError(ValueError):
    """Why a hint is refused: forged, expired, another site's, or not a hint at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_hint(secret: bytes, site: str, hint: str, *, now: float | None = None) -> Hint:
    parts = hint.split(".") if isinstance(hint, str) and len(hint) <= 2048 else []
    if len(parts) != 3 or parts[0] != VERSION or not all(_PART.fullmatch(p) for p in parts[1:]):
        raise HintError("malformed")
    try:
        sig = _b64u_decode(parts[2])
        doc = json.loads(_b64u_decode(parts[1]))
    except ValueError:
        raise HintError("malformed") from None
    want = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, want):
        raise HintError("forged")
    if not isinstance(doc, dict) or not isinstance(doc.get("ref"), str) or \
            not isinstance(doc.get("site"), str) or type(doc.get("exp")) is not int:
        raise HintError("malformed")
    if doc["site"] != site:
        raise HintError("other_site")
    t = now if now is not None else time.time()
    if doc["exp"] < t:
        raise HintError("expired")
    if doc["exp"] > t + MAX_TTL:
        raise HintError("too_long")
    return Hint(doc["site"], doc["ref"], doc["exp"])
