"""Request helpers shared by the thin routes: JSON errors, bounded bodies, the visitor, tokens,
and the one way a route under /v1/sites/{site} opens (`site_route`)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cmp.adminkeys import key_for_scope
from cmp.app_state import Services, services
from cmp.config import SiteConfig
from cmp.errors import DomainError, ErrorKind, FieldError
from cmp.settings import Settings
from cmp.types import Visitor

NO_STORE = {"Cache-Control": "no-store"}

# The one place a kind of domain error becomes an HTTP status.
STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNKNOWN_SITE: 404,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.STALE_REVISION: 409,
    ErrorKind.CONFLICT: 409,
    ErrorKind.GONE: 410,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA: 415,
}


def error(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=NO_STORE)


def field_error(exc: DomainError) -> JSONResponse:
    return error(STATUS[exc.kind], exc.field, exc.message)


SiteHandler = Callable[[Request, Services, str, SiteConfig], Awaitable[Response]]


def site_route(handler: SiteHandler) -> Callable[[Request], Awaitable[Response]]:
    """A route under /v1/sites/{site}: the handler gets the services, the site id and its
    config; an unknown site, and any DomainError the handler raises, answer the JSON error."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        svc = services(request)
        site_id = request.path_params["site"]
        try:
            return await handler(request, svc, site_id, svc.consent.site(site_id))
        except DomainError as exc:
            return field_error(exc)

    return endpoint


# --- routes behind a key (people, contact, asks, SMS compose) --------------------------------

KeyedHandler = Callable[[Request, Services, str, str], Awaitable[Response]]
NO_KEY = "a valid API key for this site is required"


def authorise_token(token: str | None, svc: Services, site_id: str, site: SiteConfig,
                    scope: str) -> tuple[str | None, tuple[int, str, str] | None]:
    """(who, None) when the bearer `token` may act in `scope` on this site, else (None,
    (status, field, message)) of the 401/403 — for plain-ASGI routes too."""
    who = key_for_scope(token, svc.admin_hashes(site_id),
                        [(k.name, k.hash, k.scopes) for k in site.api_keys], scope)
    if who is None:
        return None, (401, "authorization", NO_KEY)
    if who is False:
        return None, (403, "authorization", f"this key lacks the scope {scope}")
    return str(who), None


def authorise(request: Request, svc: Services, site_id: str, site: SiteConfig,
              scope: str) -> tuple[str | None, Response | None]:
    """(who, None) when the bearer key may act in `scope` here, else (None, the 401/403)."""
    who, refused = authorise_token(bearer_token(request), svc, site_id, site, scope)
    if refused is not None:
        return None, error(*refused)
    return who, None


def keyed(scope: str) -> Callable[[KeyedHandler], Callable[[Request], Awaitable[Response]]]:
    """A route behind a key with `scope` ("admin": a site admin key only). An unknown site is
    answered like a wrong key, so an outsider learns nothing about which sites exist; the
    handler gets (request, services, site id, who) and its DomainErrors become JSON errors."""
    def wrap(handler: KeyedHandler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            svc = services(request)
            site_id = request.path_params["site"]
            site = svc.config.sites.get(site_id)
            if site is None:
                return error(401, "authorization", NO_KEY)
            if scope == "admin":
                if key_for_scope(bearer_token(request), svc.admin_hashes(site_id), [],
                                 scope) != "admin":
                    return error(401, "authorization", "an admin key of this site is required")
                who = "admin"
            else:
                found, refused = authorise(request, svc, site_id, site, scope)
                if refused is not None:
                    return refused
                who = str(found)
            try:
                return await handler(request, svc, site_id, who)
            except DomainError as exc:
                return field_error(exc)
        return endpoint
    return wrap



# Deeper than any body we define (a receipt is 6 levels); the limit is checked before parsing
# because the json module recurses once per level and overflows the stack on a few KB of `[`.
MAX_JSON_DEPTH = 32
# A string, or an unclosed one running to the end (its brackets are text, not nesting).
_STRING = re.compile(rb'"(?:[^"\\]|\\.|\\\Z)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in `raw` (brackets inside strings do not count)."""
    depth = peak = 0
    for b in _STRING.sub(b"", raw).translate(None, _NOT_BRACKET):
        if b in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > peak:
                peak = depth
                if peak > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return peak


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_body(raw: bytes) -> Any:
    """A request body as JSON, or a FieldError naming the body: never another exception.

    Refused besides malformed text: anything but UTF-8 (RFC 8259), nesting deeper than
    MAX_JSON_DEPTH, NaN/Infinity (not JSON, and not storable as such), and escaped lone
    surrogates (no UTF-8 form, so they would fail later when stored or signed)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise FieldError("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("body", "body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
        if _LONE_SURROGATE.search(text):
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:  # the depth check should make this unreachable
        raise FieldError("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeEncodeError:
        raise FieldError("body", "body has an escaped lone surrogate (\\ud800-\\udfff)") from None
    except ValueError:  # JSONDecodeError, too many digits for an int
        raise FieldError("body", "body is not valid JSON") from None
    return value


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body, refusing more than `limit` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise FieldError("body", f"body larger than {limit} bytes", ErrorKind.TOO_LARGE)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "text/plain", ""):
        raise FieldError("content-type", "send application/json (or text/plain JSON)",
                         ErrorKind.UNSUPPORTED_MEDIA)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FieldError("body", f"body larger than {limit} bytes", ErrorKind.TOO_LARGE)
        chunks.append(chunk)
    return parse_json_body(b"".join(chunks))


def single_param(request: Request, name: str) -> str | None:
    """A query parameter that grants something (a receipt's `access`): given twice it is a
    400, not whichever copy the framework picks (`?access=x&access=<genuine>` must not pass
    a check that read one copy while another layer logged or cached by the other)."""
    return single_value(request.query_params.getlist(name), name)


def single_value(values: list[str], name: str) -> str | None:
    if len(values) > 1:
        raise FieldError(name, f"{name} given more than once")
    return values[0] if values else None


def query_lists(query_string: bytes) -> dict[str, list[str]]:
    """A raw query string as Starlette's QueryParams reads it (latin-1, blanks kept), for
    plain-ASGI routes: name -> its values in order."""
    out: dict[str, list[str]] = {}
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        out.setdefault(k, []).append(v)
    return out


def gpc_from_headers(request: Request) -> bool:
    # W3C GPC: only the exact value "1" counts; with several headers, any "1" wins.
    return any(v.strip() == "1" for v in request.headers.getlist("sec-gpc"))


def client_ip(request: Request, settings: Settings) -> str | None:
    if settings.client_ip_header:
        value = request.headers.get(settings.client_ip_header)
        if value:
            # The right-most address is the one our own proxy appended; anything left of it
            # came from the client and could be forged (to dodge a rate limit, or to be
            # stored as someone else's network).
            return value.split(",")[-1].strip()
    return request.client.host if request.client else None


def visitor_from(request: Request, settings: Settings) -> Visitor:
    h = request.headers
    return Visitor(
        ip=client_ip(request, settings),
        country=h.get(settings.country_header) if settings.country_header else None,
        subdivision=h.get(settings.subdivision_header) if settings.subdivision_header else None,
        gpc=gpc_from_headers(request),
        accept_language=h.get("accept-language"),
        user_agent=h.get("user-agent"),
    )


def bearer(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer …` header value, else None."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def bearer_token(request: Request, cookie_name: str | None = None) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return bearer(auth)
    if cookie_name:
        return request.cookies.get(cookie_name)
    return None
