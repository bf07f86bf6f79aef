"""Beacon endpoints answer like beacons whatever the path or parameters: a mangled open-pixel
path (no token, a slash in it, no .gif) and a bad GET /b are the same 1×1 GIF, no-store, on the
plain-ASGI fast path and on the routed handler alike; a mangled click, unsubscribe or confirm
link gets its bad-link page (400, never a redirect), never the router's JSON 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pixel.outcomes import GIF

from .conftest import CHROME_UA, build_services
from .test_email_flow import BASE, write_config

MANGLED_PIXELS = ["/e/o/.gif", "/e/o//x.gif", "/e/o/a/b.gif", "/e/o/", "/e/o", "/e/o/abc",
                  "/e/o/x.png", "/e/o/a%2Fb.gif", "/e/o/..gif", "/e/o/x.gif/", "/e/o/x.gif.gif"]


def assert_gif(r: httpx.Response, head: bool = False) -> None:
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:100])
    assert r.headers["content-type"] == "image/gif"
    assert "no-store" in r.headers["cache-control"]
    assert r.content == (b"" if head else GIF)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Any]:
    from consentry.app import create_app

    path, _ = write_config(tmp_path)
    app = create_app(build_services(tmp_path / "p.db", path, public_url=BASE))
    async with app.router.lifespan_context(app):
        yield app


def client_for(asgi: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=asgi, client=("203.0.113.9", 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers={"User-Agent": CHROME_UA})


def routed(app: Any) -> Any:
    """The app's router alone: the routed handlers, without the fast path in front."""
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = app
        await app.router(scope, receive, send)
    return asgi


def bad_tokens(app: Any, kind: str) -> int:
    return int(app.state.email.pipeline.counters.totals().get((kind, "bad_token"), 0))


@pytest.mark.parametrize("path", MANGLED_PIXELS)
async def test_a_mangled_pixel_path_is_the_gif_on_the_fast_path(app: Any, path: str) -> None:
    async with client_for(app) as client:
        assert_gif(await client.get(path))
        assert_gif(await client.head(path), head=True)
    assert bad_tokens(app, "open") == 2  # counted as the drop it is


@pytest.mark.parametrize("path", MANGLED_PIXELS)
async def test_a_mangled_pixel_path_is_the_gif_on_the_routed_handler(app: Any, path: str) -> None:
    async with client_for(routed(app)) as client:
        assert_gif(await client.get(path))
        assert_gif(await client.head(path), head=True)


@pytest.mark.parametrize("path", ["/e/c", "/e/c/", "/e/c//x", "/e/c/a/b", "/e/c/x/"])
@pytest.mark.parametrize("front", ["app", "routed"])
async def test_a_mangled_click_is_the_bad_link_page_never_a_redirect(app: Any, path: str,
                                                                    front: str) -> None:
    async with client_for(app if front == "app" else routed(app)) as client:
        for r in (await client.get(path), await client.head(path)):
            assert r.status_code == 400, (path, r.status_code, r.text[:100])
            assert r.headers["content-type"].startswith("text/html")
            assert "location" not in r.headers and "no-store" in r.headers["cache-control"]
    assert bad_tokens(app, "click") == 2


@pytest.mark.parametrize("path", ["/e/u", "/e/u/", "/e/u//x", "/e/u/a/b", "/e/s", "/e/s/",
                                  "/e/s/a/b"])
async def test_a_mangled_unsubscribe_or_confirm_link_is_the_bad_link_page(app: Any,
                                                                        path: str) -> None:
    async with client_for(app) as client:
        for r in (await client.get(path), await client.post(
                path, content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"})):
            assert r.status_code == 400, (path, r.status_code, r.text[:100])
            assert r.headers["content-type"].startswith("text/html")
            assert "Link" in r.text or "link" in r.text


@pytest.mark.parametrize("params", [{}, {"e": "pageview"}, {"s": "nosuchsite"},
                                    {"s": "Bad Site!"}, {"s": "shop", "e": "bad name"},
                                    {"s": "shop", "u": "javascript:alert(1)"},
                                    {"s": "shop", "u": "x" * 5000}])
async def test_the_gif_form_of_the_beacon_always_answers_the_gif(app: Any,
                                                                params: dict[str, str]) -> None:
    async with client_for(app) as client:
        assert_gif(await client.get("/b", params=params))
        assert_gif(await client.head("/b", params=params), head=True)
