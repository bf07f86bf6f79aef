"""/cmp.js and /cmp.css as visitors get them: minified from static/js, banner comment kept."""

from __future__ import annotations

import hashlib
import re

import httpx

from cmp.api.assets import static_dir


async def test_banner_files_are_served_minified(client: httpx.AsyncClient) -> None:
    for name in ("cmp.js", "cmp.css"):
        source = (static_dir() / name).read_text("utf-8")
        r = await client.get(f"/{name}", headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200
        served = r.text
        # the explanatory comments stay in the source, not in what every visitor downloads
        assert re.search(r"/\*(?!!)", source)
        assert not re.search(r"/\*(?!!)", served), f"{name} still carries a comment"
        assert len(served) < len(source), f"{name}: {len(served)} of {len(source)} bytes"
        if name == "cmp.js":
            assert served.startswith("/*! Consentry banner")
            # names the page relies on survive (the API and the data attributes)
            for kept in (".Consentry=", "data-consent", "consentry:", "cookieStore"):
                assert kept in served, kept
        # httpx decodes the gzip body: the same bytes either way
        z = await client.get(f"/{name}", headers={"Accept-Encoding": "gzip"})
        assert z.headers["content-encoding"] == "gzip" and z.content == r.content


async def test_etag_follows_the_served_bytes(client: httpx.AsyncClient) -> None:
    first = await client.get("/cmp.js", headers={"Accept-Encoding": "identity"})
    # a digest of the minified bytes visitors get, so a change to either file changes it
    assert first.headers["etag"] == f'"{hashlib.sha256(first.content).hexdigest()[:20]}"'
    again = await client.get("/cmp.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
