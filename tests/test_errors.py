"""Domain errors carry a kind; only the HTTP edge maps kinds to status codes; every route under
/v1/sites/{site} opens the same way (an unknown site: the same 404 JSON naming `site`)."""

from __future__ import annotations

import ast
from pathlib import Path

from starlette.routing import Route

from cmp.api.http import STATUS, field_error
from cmp.app_state import Services
from cmp.errors import DomainError, ErrorKind, FieldError
from consentry.app import create_app

from .conftest import running

ROOT = Path(__file__).resolve().parent.parent


def test_every_kind_has_one_status() -> None:
    assert set(STATUS) == set(ErrorKind)
    assert all(400 <= code < 500 for code in STATUS.values())


def test_the_json_shape_stays() -> None:
    r = field_error(FieldError("revision", "stale", ErrorKind.STALE_REVISION))
    assert (r.status_code, r.body, r.headers["cache-control"]) == (
        409, b'{"error":"stale","field":"revision"}', "no-store")
    assert field_error(DomainError(ErrorKind.GONE, "token", "expired")).status_code == 410


def test_domain_code_names_kinds_not_statuses() -> None:
    """No FieldError/DomainError (or subclass) is built with an HTTP status (an int) anywhere:
    the kind says why, cmp.api.http.STATUS says which code."""
    bad = []
    for top in ("cmp", "pixel", "dashboards", "consentry"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id.endswith(("Error", "Refused"))):
                    continue
                args = [*node.args, *(k.value for k in node.keywords)]
                if any(isinstance(a, ast.Constant) and type(a.value) is int for a in args) or any(
                        k.arg == "status" for k in node.keywords):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, "errors built with a status code instead of a kind: " + ", ".join(bad)


async def test_unknown_site_answers_the_same_404(svc: Services) -> None:
    """Every route under /v1/sites/{site} the app serves, but those behind a key or a webhook
    signature (they answer an unknown site like a wrong key, on purpose: see test_tokens)."""
    from cmp.api import admin, asks, people
    from pixel.email import routes as email
    from pixel.sms import routes as sms

    behind_key = {r.path for r in [*admin.routes, *email.routes, *people.routes, *asks.routes,
                                   *sms.routes]
                  if not r.path.startswith("/v1/sites/{site}/asks/")} | {
        "/v1/sites/{site}/asks", "/v1/sites/{site}/asks/counts", "/v1/sites/{site}/cases",
        "/v1/sites/{site}/cases/{case}", "/v1/sites/{site}/cases/{case}/transitions"}
    app = create_app(svc)
    seen = []
    async with running(svc) as client:
        for route in app.routes:
            path = getattr(route, "path", "")
            if not path.startswith("/v1/sites/{site}") or path in behind_key:
                continue
            assert isinstance(route, Route)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                url = path.replace("{site}", "nope").replace("{cid}", "c_x")
                r = await client.request(method, url, content=b"{}",
                                         headers={"content-type": "application/json"})
                assert r.status_code == 404, (method, path, r.text)
                assert r.json() == {"error": "unknown site 'nope'", "field": "site"}
                assert r.headers["cache-control"] == "no-store"
                seen.append((method, path))
    # config, consent (POST; GET, DELETE of an id), receipt, receipt key, receipt verify, tags,
    # checkpoints (latest, consistency), an ask's notice (GET, and POST with a person hint) and
    # answer (the page's calls), identify, a data-subject request's intake
    assert len(seen) == 15, seen
