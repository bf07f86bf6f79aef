"""The OpenAPI 3.1 document, built from the route table and the pydantic request models, and
the route that serves it. It lives in the assembly because it describes cmp/ and pixel/ routes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp import __version__
from cmp.consent import ConsentIn
from pixel.email.recipients import SignupIn

ERROR = {"$ref": "#/components/schemas/Error"}
SITE = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
CID = {"name": "cid", "in": "path", "required": True, "schema": {"type": "string"}}
SUBJECT = {"name": "subject", "in": "path", "required": True, "schema": {"type": "string"}}
BEARER: list[Any] = [{"consentToken": []}]
ADMIN: list[Any] = [{"adminKey": []}]

# (method, path, summary, parameters, request schema ref, security, success status)
OPERATIONS: list[tuple[str, str, str, list[dict[str, Any]], str | None, list[Any] | None, str]] = [
    ("get", "/v1/sites/{site}/config", "Banner config resolved for this visitor (regime, language, GPC)",
     [SITE, {"name": "lang", "in": "query", "schema": {"type": "string"}}], None, None, "200"),
    ("post", "/v1/sites/{site}/consent", "Record a consent event; durable before it answers",
     [SITE], "ConsentIn", None, "201"),
    ("get", "/v1/sites/{site}/consent/{cid}", "Current choices and history of a consent id",
     [SITE, CID], None, BEARER, "200"),
    ("delete", "/v1/sites/{site}/consent/{cid}", "Withdraw consent (recorded as an event)",
     [SITE, CID], None, BEARER, "200"),
    ("get", "/v1/sites/{site}/consent/{cid}/receipt", "Signed consent receipt (Ed25519)",
     [SITE, CID, {"name": "access", "in": "query", "schema": {"type": "string"}}], None, None, "200"),
    ("get", "/v1/sites/{site}/receipt-key", "Public key that verifies this site's receipts",
     [SITE], None, None, "200"),
    ("post", "/v1/sites/{site}/receipts/verify", "Verify a receipt's signature",
     [SITE], "Receipt", None, "200"),
    ("get", "/v1/sites/{site}/subjects/{subject}", "Export a subject's records (admin key)",
     [SITE, SUBJECT], None, ADMIN, "200"),
    ("delete", "/v1/sites/{site}/subjects/{subject}", "Erase (anonymise) a subject (admin key)",
     [SITE, SUBJECT], None, ADMIN, "200"),
    ("get", "/v1/sites/{site}/ledger/verify", "Verify the site's hash chain (admin key)",
     [SITE], None, ADMIN, "200"),
    ("get", "/v1/sites/{site}/checkpoints/latest",
     "The latest signed tree head (checkpoint) of the site's ledger, or the one of `size` events",
     [SITE, {"name": "size", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 999999999999999999}}],
     None, None, "200"),
    ("get", "/v1/sites/{site}/checkpoints/consistency",
     "RFC 9162 consistency proof: the tree of `first` events is a prefix of the tree of `second`",
     [SITE, *({"name": n, "in": "query", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": 999999999999999999}}
              for n in ("first", "second"))], None, None, "200"),
    ("get", "/.well-known/gpc.json", "Global Privacy Control support", [], None, None, "200"),
    ("get", "/healthz", "Health check", [], None, None, "200"),
    ("get", "/metrics", "Prometheus metrics", [], None, None, "200"),
]

# E-mail side (pixel/): signup, campaign counts, and the public beacon/link routes.
_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
OPERATIONS += [
    ("post", "/v1/sites/{site}/email/signup",
     "Create a pending double opt-in signup; answers the confirmation link to mail (admin key)",
     [SITE], "SignupIn", ADMIN, "202"),
    ("get", "/v1/sites/{site}/email/campaigns/{campaign}",
     "Opens, clicks and unsubscribes of a campaign, human vs machine (admin key)",
     [SITE, {"name": "campaign", "in": "path", "required": True, "schema": {"type": "string"}}],
     None, ADMIN, "200"),
    ("get", "/e/o/{token}.gif", "Open pixel: always the same 43-byte GIF, no-store", [_TOKEN],
     None, None, "200"),
    ("get", "/e/c/{token}", "Click: 302 to the signed destination only; 400 page otherwise",
     [_TOKEN], None, None, "302"),
    ("get", "/e/u/{token}", "Unsubscribe and preferences page (changes nothing)", [_TOKEN],
     None, None, "200"),
    ("post", "/e/u/{token}", "RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click)",
     [_TOKEN], None, None, "200"),
    ("get", "/e/s/{token}", "Signup confirmation page (changes nothing)", [_TOKEN], None, None,
     "200"),
    ("post", "/e/s/{token}", "Confirm a double opt-in signup (records the consent event)",
     [_TOKEN], None, None, "200"),
]


# Tag gate and web beacon (pixel/web/routes.py).
OPERATIONS += [
    ("get", "/v1/sites/{site}/tags",
     "Tags allowed for the consent token presented (cookie or Bearer), in load order, and why "
     "each other tag is withheld", [SITE], None, None, "200"),
    ("post", "/b", "Web beacon: text/plain JSON {s, e, u, r, p, k}; 204 whether or not logged",
     [], None, None, "204"),
    ("get", "/b", "Web beacon for pages without JavaScript (s, e, u, r): the 1x1 GIF, no-store",
     [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("s", "e", "u", "r")],
     None, None, "200"),
]

@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, params, body, security, ok in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": params,
            "responses": {
                ok: {"description": "OK", "content": {"application/json": {}}},
                "4XX": {"description": "Bad request; `field` names the culprit",
                        "content": {"application/json": {"schema": ERROR}}},
            },
        }
        if body:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body}"}}}}
        if security:
            op["security"] = security
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Consentry API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {
                "ConsentIn": ConsentIn.model_json_schema(),
                "SignupIn": SignupIn.model_json_schema(),
                "Receipt": {"type": "object", "required": ["receipt", "alg", "signature"],
                            "properties": {"receipt": {"type": "object"},
                                           "alg": {"const": "Ed25519"},
                                           "signature": {"type": "string"}}},
                "Error": {"type": "object", "required": ["error", "field"],
                          "properties": {"error": {"type": "string"}, "field": {"type": "string"}}},
            },
            "securitySchemes": {
                "consentToken": {"type": "http", "scheme": "bearer",
                                 "description": "The consent token from POST consent"},
                "adminKey": {"type": "http", "scheme": "bearer",
                             "description": "A site admin key (its sha256 in the config)"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
