"""ConsentMiddleware mounted on a plain Starlette app, fed tokens from the real consent API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cmp.app_state import Services
from cmp.config import demo_config_path, load_config
from cmp.middleware import ConsentMiddleware
from cmp.settings import Settings
from consentry.app import create_app

SECRET = "m" * 48


async def whoami(request: Request) -> JSONResponse:
    c = request.state.consent
    return JSONResponse({
        "consent_id": c.consent_id, "gpc": c.gpc, "error": c.error,
        "analytics": c.allows("analytics"), "marketing": c.allows("marketing"),
        "necessary": c.allows("necessary"), "google_ads": c.allows_vendor("google_ads"),
        "sensors_data": c.allows_vendor("sensors_data"),
    })


def site_backend(secret: str = SECRET) -> Starlette:
    app = Starlette(routes=[Route("/", whoami)])
    app.add_middleware(ConsentMiddleware.from_config, config_path=demo_config_path(),
                       site="demo", secret=secret)  # type: ignore[arg-type]
    return app


@pytest.fixture
async def token_for(tmp_path: Path):
    """Record a real consent through the Consentry API and hand back its token."""
    settings = Settings.load(database=f"sqlite:///{tmp_path / 'c.db'}",
                             secret_file=str(tmp_path / "unused"))
    svc = Services.build(load_config(demo_config_path()), settings, master_secret=SECRET.encode())
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://cmp") as client:
            async def record(body: dict) -> str:
                r = await client.post("/v1/sites/demo/consent",
                                      json={"revision": 1, "language": "en", **body})
                assert r.status_code == 201, r.text
                return str(r.json()["token"])
            yield record


async def call(app: Starlette, **headers: str) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://site") as c:
        r = await c.get("/", headers=headers)
        assert r.status_code == 200
        return dict(r.json())


async def test_cookie_token_grants_what_was_chosen(token_for) -> None:
    token = await token_for({"action": "custom", "purposes": {"analytics": True}})
    got = await call(site_backend(), cookie=f"consentry={token}")
    assert got["consent_id"] and got["analytics"] and got["sensors_data"]
    assert not got["marketing"] and not got["google_ads"]


async def test_bearer_token_and_gpc_turns_marketing_off(token_for) -> None:
    token = await token_for({"action": "custom", "purposes": {"analytics": True, "marketing": True}})
    got = await call(site_backend(), authorization=f"Bearer {token}")
    assert got["marketing"] and got["google_ads"]
    got = await call(site_backend(), authorization=f"Bearer {token}", **{"sec-gpc": "1"})
    assert got["gpc"] and not got["marketing"] and not got["google_ads"]
    assert got["analytics"] and got["sensors_data"]  # GPC leaves analytics alone


async def test_no_forged_or_foreign_token_counts(token_for) -> None:
    token = await token_for({"action": "accept_all"})
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for headers in ({}, {"cookie": f"consentry={tampered}"}, {"cookie": "consentry=garbage"}):
        got = await call(site_backend(), **headers)
        assert got["consent_id"] is None and not got["analytics"] and not got["marketing"]
        assert got["necessary"]  # necessary purposes need no consent
    got = await call(site_backend(secret="x" * 48), cookie=f"consentry={token}")
    assert got["consent_id"] is None and got["error"]
    assert (await call(site_backend(), cookie=f"consentry={token}"))["marketing"]
