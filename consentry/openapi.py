"""The OpenAPI 3.1 document, built from the route table and the pydantic request models, and
the route that serves it. It lives in the assembly because it describes cmp/ and pixel/ routes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cmp import __version__
from cmp.asks import AnswerIn, AskIn, NoticeIn, WithdrawIn
from cmp.cases import IntakeIn, OpenIn, TransitionIn
from cmp.consent import ConsentIn
from cmp.identify import IdentifyIn
from cmp.people import LinkIn, PersonEventIn
from pixel.email.recipients import SignupIn
from pixel.sms.compose import ComposeIn
from pixel.sms.inbound import InboundIn

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
    ("post", "/v1/sites/{site}/identify",
     "A signed-in page's person hint: links this browser's consent id (token, if sent) to the "
     "member and answers the consent to apply, with a new token when the member's choice was "
     "recorded for this browser; a bad hint is answered like none",
     [SITE], "IdentifyIn", None, "200"),
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
    # The banner's optional modules: /cmp.js fetches them itself, only for sites that use them.
    ("get", "/cmp-ask.js", "The ask modal module for Consentry.ask(token) (loaded by /cmp.js)",
     [{"name": "v", "in": "query", "schema": {"type": "string"},
       "description": "the banner's version: immutable caching"}], None, None, "200"),
    ("get", "/cmp-permissions.js", "The permission prompts module (loaded by /cmp.js for a site "
     "with [permissions])", [{"name": "v", "in": "query", "schema": {"type": "string"}}],
     None, None, "200"),
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
     [], "Beacon", None, "204"),
    ("get", "/b", "Web beacon for pages without JavaScript (s, e, u, r): the 1x1 GIF, no-store",
     [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("s", "e", "u", "r")],
     None, None, "200"),
]

# People and contact (cmp/api/people.py): the customer's backends, with scoped API keys.
_REF = {"name": "ref", "in": "path", "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^/]+$"},
        "description": "the customer's own account reference (stored only as a keyed pseudonym)"}
API_KEY: list[Any] = [{"apiKey": []}, {"adminKey": []}]
OPERATIONS += [
    ("put", "/v1/sites/{site}/people/{ref}",
     "Link identifiers (e-mail, phone, push, browser consent ids) to a person (people:write)",
     [SITE, _REF], "LinkIn", API_KEY, "200"),
    ("get", "/v1/sites/{site}/people/{ref}",
     "A person's current purposes, vendors, separate items and channel permissions, each with "
     "the event that set it (people:read)", [SITE, _REF], None, API_KEY, "200"),
    ("post", "/v1/sites/{site}/people/{ref}/events",
     "Record a choice made elsewhere (form, app, operator, SMS reply, import), or a lifecycle "
     "fact (account closed, minor, guardian consent); durable before it answers (people:write)", [SITE, _REF], "PersonEventIn", API_KEY, "201"),
    ("get", "/v1/sites/{site}/people/{ref}/export",
     "Export a person and every linked identifier (admin key)", [SITE, _REF], None, ADMIN, "200"),
    ("delete", "/v1/sites/{site}/people/{ref}",
     "Erase a person and every linked identifier; opt-outs are kept (admin key)",
     [SITE, _REF], None, ADMIN, "200"),
    ("get", "/v1/sites/{site}/may-contact",
     "May this message be sent? {allowed, reason: allowed|no_consent|opted_out|suppressed|"
     "unknown} (contact:read)",
     [SITE, {"name": "channel", "in": "query", "required": True,
             "schema": {"enum": ["email", "sms", "push", "phone"]}},
      *({"name": n, "in": "query", "schema": {"type": "string"}, "description": d}
        for n, d in (("to", "an address, E.164 number or push id (or give person)"),
                     ("person", "an account reference (or give to)"),
                     ("list", "a list or topic id; omitted: the channel as a whole")))],
     None, API_KEY, "200"),
]

# Data-subject request cases (cmp/api/requests.py): public intake, then the controller's keys.
_CASE = {"name": "case", "in": "path", "required": True,
         "schema": {"type": "string", "maxLength": 64}, "description": "a case id (q_…)"}
OPERATIONS += [
    ("post", "/v1/sites/{site}/requests",
     "A data-subject request from the site's form (access, copy, correct, delete, withdraw, "
     "cancel_account, explain_decision, complaint): {case_id, due}; rate limited per network",
     [SITE], "IntakeIn", None, "201"),
    ("post", "/v1/sites/{site}/cases",
     "Open a case for a request taken by phone, letter or in person (requests:write)",
     [SITE], "OpenIn", API_KEY, "201"),
    ("get", "/v1/sites/{site}/cases",
     "Cases by due date, overdue first: open ones (state=open) or all; overdue=true: only "
     "those past due (requests:read)",
     [SITE, {"name": "state", "in": "query", "schema": {"enum": ["open", "all"]}},
      {"name": "overdue", "in": "query", "schema": {"enum": ["true", "false", "1", "0"]}}],
     None, API_KEY, "200"),
    ("get", "/v1/sites/{site}/cases/{case}",
     "A case: state, due date and every transition with its actor (requests:read)",
     [SITE, _CASE], None, API_KEY, "200"),
    ("post", "/v1/sites/{site}/cases/{case}/transitions",
     "Move a case: verify, start, complete, refuse (a ground and a note) or extend (where the "
     "regime allows, once, with a note); a ledger event each (requests:write)",
     [SITE, _CASE], "TransitionIn", API_KEY, "201"),
]

# Per-recipient separate consent, asked in context (cmp/api/asks.py).
def _Q(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required,
            "schema": {"type": "string", "minLength": 1}, "description": description}



OPERATIONS += [
    ("post", "/v1/sites/{site}/asks",
     "Ask a person for one per-recipient item for one recipient: an ask id and a short-lived "
     "signed token for Consentry.ask(token) (asks:write)", [SITE], "AskIn", API_KEY, "201"),
    ("get", "/v1/sites/{site}/asks/notice",
     "The notice an ask shows, in the page's language, with the recipient's fields, and its hash",
     [SITE, _Q("token", "the ask token", True), _Q("lang", "the page's language")],
     None, None, "200"),
    ("post", "/v1/sites/{site}/asks/notice",
     "The same notice for the signed-in member only: the page's person hint in the body "
     "(never in a URL); an ask made for another person is refused (403)",
     [SITE], "NoticeIn", None, "200"),
    ("post", "/v1/sites/{site}/asks/answer",
     "Record the person's answer to an ask (a ledger event naming the recipient and the hash "
     "of the notice shown)", [SITE], "AnswerIn", None, "201"),
    ("get", "/v1/sites/{site}/asks/counts",
     "Distinct people per per-recipient item this calendar year, against the filing thresholds "
     "(admin key)", [SITE, _Q("year", "e.g. 2026; default this year")], None, ADMIN, "200"),
    ("get", "/v1/sites/{site}/people/{ref}/grants",
     "May the person's data go to this recipient? {agreed, event_id, at, receipt_url} "
     "(people:read)", [SITE, _REF, _Q("item", "the per-recipient item", True),
                       _Q("recipient", "the recipient id", True)], None, API_KEY, "200"),
    ("post", "/v1/sites/{site}/people/{ref}/grants/withdraw",
     "Withdraw one recipient's grant (people:write)", [SITE, _REF], "WithdrawIn", API_KEY, "200"),
    ("post", "/v1/sites/{site}/people/{ref}/self-service",
     "A signed link to the person's page of recipients they agreed to (people:write)",
     [SITE, _REF], None, API_KEY, "201"),
    ("get", "/p/{site}/me/{token}",
     "The person's self-service page: every recipient they agreed to, each with Withdraw "
     "(en, zh-CN)", [SITE, {"name": "token", "in": "path", "required": True,
                            "schema": {"type": "string"}}], None, None, "200"),
    ("post", "/p/{site}/me/{token}", "Withdraw one recipient from the self-service page",
     [SITE, {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
     None, None, "200"),
]
_PAGE_OR_ERROR = {"200": {"description": "The page", "content": {"text/html": {"schema": {
    "type": "string"}}}}, "400": {"description": "Bad link: a page", "content": {
        "text/html": {"schema": {"type": "string"}}}},
    "410": {"description": "Expired link: a page", "content": {"text/html": {"schema": {
        "type": "string"}}}}}

# SMS (pixel/sms/routes.py): the provider's inbound webhook and the sender's compose helper.
WEBHOOK: list[Any] = [{"webhookSignature": []}]
OPERATIONS += [
    ("post", "/v1/sites/{site}/sms/inbound",
     "Inbound SMS webhook, signed with the site's webhook secret: an opt-out reply (TD, 退订, "
     "STOP …) is recorded for the number's person or the number, durable before the 200",
     [SITE, {"name": "X-Consentry-Timestamp", "in": "header", "required": True,
             "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
             "description": "unix seconds the call was signed at (older than 5 minutes: 401)"}],
     "InboundIn", WEBHOOK, "200"),
    ("post", "/v1/sites/{site}/sms/compose",
     "Compose a marketing SMS: the text with the opt-out instruction appended, or 409 with "
     "the may-contact reason (contact:read)", [SITE], "ComposeIn", API_KEY, "200"),
]

# The hosted request page (cmp/api/requestpage.py): HTML, a form that posts to itself.
OPERATIONS += [
    ("get", "/p/{site}/request", "The hosted request page (en, zh-CN): see, copy, correct or "
     "delete my information, withdraw, close my account, explain, complain",
     [SITE, {"name": "lang", "in": "query", "schema": {"type": "string"}}], None, None, "200"),
    ("post", "/p/{site}/request", "The request page's form (urlencoded type, email, message): "
     "a page with the case id and due date", [SITE], None, None, "201"),
]
_REQUEST_PAGE = {s: {"description": d, "content": {"text/html": {"schema": {"type": "string"}}}}
                 for s, d in (("200", "The form"), ("201", "Request received: case id, due date"),
                              ("400", "The form again, saying what to fix"),
                              ("404", "No such site"), ("413", "Form too large"),
                              ("429", "Rate limited"))}

# What an operation answers when it is not JSON (beacons, pages, redirects, metrics), so the
# document says what a client really gets; the schemathesis pass checks every answer.
_JSON_ERROR = {"description": "Bad request; `field` names the culprit",
               "content": {"application/json": {"schema": ERROR}}}
_GIF = {"image/gif": {"schema": {"type": "string", "format": "binary"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_GIF_ANSWERS = {"200": {"description": "The 43-byte GIF, no-store, whatever happened",
                        "content": _GIF},
                "503": {"description": "Storage could not commit (retry)", "content": _GIF}}
_PAGE_ANSWERS = {"200": {"description": "A page", "content": _HTML},
                 "400": {"description": "Bad or mangled link: the bad-link page",
                         "content": _HTML},
                 "410": {"description": "Expired link", "content": _HTML},
                 "4XX": _JSON_ERROR}
_JS_ANSWERS = {"200": {"description": "The module, minified (gzip when accepted)",
                       "content": {"text/javascript": {"schema": {"type": "string"}}}},
               "304": {"description": "Not modified (If-None-Match)"}}
RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/e/o/{token}.gif"): _GIF_ANSWERS,
    ("get", "/b"): _GIF_ANSWERS,
    ("post", "/b"): {"204": {"description": "Taken (logged or dropped: the same answer)"},
                     "4XX": _JSON_ERROR},
    ("get", "/e/c/{token}"): {
        "302": {"description": "Redirect to the signed destination"},
        "400": {"description": "Bad or mangled link: a page, never a redirect",
                "content": _HTML}},
    ("get", "/e/u/{token}"): _PAGE_ANSWERS,
    ("post", "/e/u/{token}"): _PAGE_ANSWERS,
    ("get", "/e/s/{token}"): _PAGE_ANSWERS,
    ("post", "/e/s/{token}"): _PAGE_ANSWERS,
    ("get", "/p/{site}/me/{token}"): _PAGE_OR_ERROR,
    ("post", "/p/{site}/me/{token}"): {**_PAGE_OR_ERROR, "4XX": _JSON_ERROR},
    ("get", "/cmp-ask.js"): _JS_ANSWERS,
    ("get", "/cmp-permissions.js"): _JS_ANSWERS,
    ("get", "/p/{site}/request"): _REQUEST_PAGE,
    ("post", "/p/{site}/request"): _REQUEST_PAGE,
    ("get", "/metrics"): {"200": {"description": "Prometheus text format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
}


def _beacon_schema() -> dict[str, Any]:
    """The body pixel.web.beacon.parse accepts (also sent as text/plain by sendBeacon)."""
    from pixel.web import beacon as b

    name = {"type": "string", "pattern": b.NAME_RE.pattern}
    return {
        "type": "object", "required": ["s"],
        "properties": {
            "s": {"type": "string", "pattern": b.SITE_RE.pattern, "description": "Site id"},
            "e": {"anyOf": [name, {"const": ""}, {"type": "null"}],
                  "description": "Event name (default pageview)"},
            "u": {"anyOf": [{"type": "string", "maxLength": b.MAX_URL,
                             "pattern": "^(https?://|$)"}, {"type": "null"}],
                  "description": "Page URL (http or https)"},
            "r": {"anyOf": [{"type": "string", "maxLength": b.MAX_URL}, {"type": "null"}],
                  "description": "Referrer"},
            "p": {"anyOf": [{"type": "object", "maxProperties": 50,
                             "propertyNames": {"pattern": b.NAME_RE.pattern,
                                               "maxLength": b.MAX_KEY},
                             "additionalProperties": {"anyOf": [
                                 {"type": "string", "maxLength": b.MAX_VALUE},
                                 {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}},
                            {"type": "null"}],
                  "description": "Properties (at most the site's beacon.max_props)"},
            "k": {"anyOf": [{"type": "string", "maxLength": 4096}, {"type": "null"}],
                  "description": "Consent token (sendBeacon sets no headers)"},
        },
    }


@lru_cache(maxsize=1)
def _with_defs(*models: type[BaseModel]) -> dict[str, Any]:
    """Schemas of models with nested models: the nested ones hoisted into components."""
    out: dict[str, Any] = {}
    for m in models:
        schema = m.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[m.__name__] = schema
    return out


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, params, body, security, ok in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": params,
            "responses": RESPONSES.get((method, path)) or {
                ok: {"description": "OK", "content": {"application/json": {}}},
                "4XX": _JSON_ERROR,
            },
        }
        if body:
            schema: dict[str, Any] = {"$ref": f"#/components/schemas/{body}"}
            if body == "Receipt":
                # Any JSON is answered: whatever is not a genuine receipt is {"valid": false}.
                schema = {"anyOf": [schema, {}]}
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": schema}}}
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
                "IdentifyIn": IdentifyIn.model_json_schema(),
                "SignupIn": SignupIn.model_json_schema(),
                **_with_defs(LinkIn, PersonEventIn, AskIn, AnswerIn, NoticeIn, WithdrawIn),
                **_with_defs(IntakeIn, OpenIn, TransitionIn),
                "InboundIn": InboundIn.model_json_schema(),
                "ComposeIn": ComposeIn.model_json_schema(),
                "Beacon": _beacon_schema(),
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
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "A site API key with the operation's scope "
                                          "(`consentry keys new`)"},
                "adminKey": {"type": "http", "scheme": "bearer",
                             "description": "A site admin key (its sha256 in the config)"},
                "webhookSignature": {
                    "type": "apiKey", "in": "header", "name": "X-Consentry-Signature",
                    "description": "sha256=<hex HMAC-SHA256 of '<X-Consentry-Timestamp>.<raw "
                                   "body>' keyed with the site's webhook secret>"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
