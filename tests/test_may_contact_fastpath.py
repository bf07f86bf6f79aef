"""may-contact's plain-ASGI fast path (cmp/api/fastpath.py) answers byte for byte as the
routed endpoint does, on both backends, for every kind of answer and mistake; and it does
answer on its own (the route removed, the same request still gets its answer)."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from cmp.api.fastpath import MayContactFastPath
from consentry.app import create_app
from tests import test_people
from tests.test_people import World, event, put

world = test_people.world  # the fixture: two sites, their keys, both backends

PATH = "/v1/sites/{site}/may-contact"


def _routed(app: Starlette) -> Starlette:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not MayContactFastPath]
    return app


async def _ask(app: Starlette, path: str, headers: list[tuple[str, str]]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        return await c.get(path, headers=headers)


async def test_fast_path_answers_as_the_route(world: World) -> None:
    await put(world, "M-9", {"phone": ["+8613900000001"], "email": ["m9@example.com"]})
    await event(world, "M-9", {"method": "app_settings", "channels": [
        {"channel": "sms", "list": "promotions", "allowed": True}]})
    await put(world, "M-10", {"phone": ["+8613900000002"]})
    await event(world, "M-10", {"method": "sms_reply", "channels": [
        {"channel": "sms", "allowed": False}]})
    a, b = world.sites["alpha"], world.sites["beta"]
    fast = create_app(world.svc)
    routed = _routed(create_app(world.svc))
    assert any(m.cls is MayContactFastPath for m in fast.user_middleware)

    def auth(key: str) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {key}")]

    base = "/v1/sites/alpha/may-contact"
    cases: list[tuple[str, list[tuple[str, str]]]] = [
        (f"{base}?channel=sms&to=%2B8613900000001&list=promotions", auth(a.read)),  # allowed
        (f"{base}?channel=sms&to=%2B86%20139-0000-0001", auth(a.admin)),  # admin, spaced
        (f"{base}?channel=sms&to=%2B8613900000002&list=promotions", auth(a.write)),  # opted_out
        (f"{base}?channel=sms&to=%2B8613900000003", auth(a.read)),  # unknown
        (f"{base}?channel=push&person=M-9&list=orders", auth(a.read)),  # no_consent
        (f"{base}?channel=email&to=M9@example.com", auth(a.read)),
        (f"{base}?channel=sms&person=%E4%BC%9A%E5%91%98-1", auth(a.read)),  # a non-ASCII ref
        (f"{base}?channel=sms&to=%2B8613900000001", []),  # no key: 401
        (f"{base}?channel=sms&to=%2B8613900000001", auth(b.read)),  # site B's key: 401
        (f"{base}?channel=sms&to=%2B8613900000001", [("Authorization", "Basic eDp5")]),
        (f"{base}?channel=sms&to=%2B8613900000001", [("authorization", f"bearer  {a.read} ")]),
        (f"{base}?channel=sms&to=%2B8613900000001",
         [("Authorization", "Bearer nope"), ("Authorization", f"Bearer {a.read}")]),
        (f"{base}?channel=fax&to=x", auth(a.read)),
        (f"{base}?to=%2B8613900000001", auth(a.read)),  # channel missing
        (f"{base}?channel=sms&channel=email&to=%2B8613900000001", auth(a.read)),
        (f"{base}?channel=sms&to=%2B8613900000001&to=%2B8613900000002", auth(a.read)),
        (f"{base}?channel=sms&to=%2B8613900000001&person=M-9", auth(a.read)),
        (f"{base}?channel=sms&to=%2B8613900000001&list=nope", auth(a.read)),
        (f"{base}?channel=sms&to=12", auth(a.read)),
        (f"{base}?channel=sms&to=", auth(a.read)),
        (f"{base}?channel=sms", auth(a.read)),
        ("/v1/sites/nosuch/may-contact?channel=sms&to=%2B8613900000001", auth(a.read)),
        (f"{base}/?channel=sms&to=%2B8613900000001", auth(a.read)),  # not the route
        ("/v1/sites//may-contact?channel=sms", auth(a.read)),
    ]
    reasons = set()
    for path, headers in cases:
        got, want = await _ask(fast, path, headers), await _ask(routed, path, headers)
        assert (got.status_code, got.content, got.headers.raw) == \
            (want.status_code, want.content, want.headers.raw), path
        if got.status_code == 200 and "reason" in got.text:
            reasons.add(got.json()["reason"])
    assert reasons == {"allowed", "opted_out", "unknown", "no_consent"}
    # Answered by the fast path itself: without the route the same question still gets it.
    def without_route(app: Starlette) -> Starlette:
        app.router.routes = [r for r in app.router.routes
                             if not (isinstance(r, Route) and r.path == PATH)]
        return app

    r = await _ask(without_route(create_app(world.svc)), cases[0][0], cases[0][1])
    assert r.status_code == 200 and r.json()["reason"] == "allowed", r.text
    r = await _ask(without_route(_routed(create_app(world.svc))), cases[0][0], cases[0][1])
    assert r.status_code == 404


async def test_fast_path_refuses_a_foreign_origin_as_before(world: World) -> None:
    # SiteCORS still stands in front: a browser on another origin is refused before any answer.
    fast = create_app(world.svc)
    path = "/v1/sites/alpha/may-contact?channel=sms&to=%2B8613900000001"
    headers = [("Authorization", f"Bearer {world.sites['alpha'].read}"),
               ("Origin", "https://evil.example")]
    got, want = await _ask(fast, path, headers), await _ask(_routed(create_app(world.svc)),
                                                            path, headers)
    assert got.status_code == want.status_code == 403 and got.content == want.content
    ok: Any = await _ask(fast, path, [headers[0], ("Origin", "https://alpha.example")])
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == \
        "https://alpha.example"
