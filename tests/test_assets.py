"""/cmp.js and /cmp.css as visitors get them: minified from static/js, banner comment kept."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from cmp.api.assets import (
    BANNER_JS,
    MODULES,
    banner_css,
    banner_js,
    module_js,
    sources,
    static_dir,
    version,
)

# The banner's size budget (issue 11): both files, gzipped as served, on a visitor's first page.
BUDGET = 10_000
# What the core may call on the UI (state.js's interface); anything else would tie them together.
UI_CALLS = {"showBanner", "chosen", "open", "placeholder"}


async def test_banner_files_are_served_minified(client: httpx.AsyncClient) -> None:
    for name, source in (("cmp.js", banner_js()), ("cmp.css", banner_css())):
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
            for kept in (".Consentry=", "data-consent", "consentry:", "cookieStore", "grants:"):
                assert kept in served, kept
            # one classic script: a single function around every module
            assert served.count("(function(w,d){") == 1 and served.rstrip().endswith("})(window,document);")
        # httpx decodes the gzip body: the same bytes either way
        z = await client.get(f"/{name}", headers={"Accept-Encoding": "gzip"})
        assert z.headers["content-encoding"] == "gzip" and z.content == r.content


async def test_banner_fits_the_size_budget(client: httpx.AsyncClient) -> None:
    total = 0
    for name in ("cmp.js", "cmp.css"):
        r = await client.get(f"/{name}", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        total += int(r.headers["content-length"])  # the compressed bytes on the wire
    assert total <= BUDGET, f"/cmp.js + /cmp.css are {total} B gzipped (budget {BUDGET} B)"


def test_served_script_is_every_module_in_order() -> None:
    joined = banner_js()
    at = [joined.index((static_dir() / name).read_text("utf-8")) for name in BANNER_JS]
    assert at == sorted(at)
    # every source the banner is made of exists, and nothing in static/js is left out of it
    assert {p.name for p in sources()} == {p.name for p in static_dir().iterdir()
                                           if p.suffix in (".js", ".css")}


def test_the_core_reaches_the_ui_only_through_its_interface() -> None:
    for name in BANNER_JS:
        if name == "ui.js":
            continue
        text = (static_dir() / name).read_text("utf-8")
        used = set(re.findall(r"\bui\.(?!js\b)(\w+)", text))  # not the file name in a comment
        assert used <= UI_CALLS, f"{name} reaches into the UI: {sorted(used - UI_CALLS)}"
        # the UI's own helpers stay in ui.js
        for helper in ("view.", "FALLBACK", "T(", "btn(", "wrap("):
            assert not re.search(r"(?<![\w.])" + re.escape(helper), text), f"{name}: {helper}"


def test_version_covers_every_module(tmp_path: Path) -> None:
    for p in sources():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    before = version(tmp_path)
    assert before == version()
    for name in dict.fromkeys([*BANNER_JS, *(n for names in MODULES.values() for n in names)]):
        f = tmp_path / name
        f.write_text(f.read_text("utf-8") + "\n// changed\n", "utf-8")
        after = version(tmp_path)
        assert after != before, f"a change to {name} keeps version {before}"
        before = after


async def test_etag_follows_the_served_bytes(client: httpx.AsyncClient) -> None:
    first = await client.get("/cmp.js", headers={"Accept-Encoding": "identity"})
    # a digest of the minified bytes visitors get, so a change to either file changes it
    assert first.headers["etag"] == f'"{hashlib.sha256(first.content).hexdigest()[:20]}"'
    again = await client.get("/cmp.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_optional_modules_are_their_own_scripts(client: httpx.AsyncClient) -> None:
    """The ask modal and the permission prompts never weigh on the base: their code is only in
    /cmp-<name>.js, served minified and cached like the banner."""
    base = (await client.get("/cmp.js")).text
    for name, marker in (("ask", "/asks/answer"), ("permissions", "getUserMedia")):
        assert marker not in base, f"{marker} is in the base script"
        r = await client.get(f"/cmp-{name}.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert r.headers["content-encoding"] == "gzip" and r.headers["x-content-type-options"] == "nosniff"
        assert marker in r.text and r.text.startswith(f"/*! Consentry {name} module")
        assert not re.search(r"/\*(?!!)", r.text) and len(r.text) < len(module_js(name))
        # one classic script handing its factory to the base, nothing else on the page
        assert r.text.count("(function(w,d){") == 1 and f'C._m("{name}"' in r.text
        v = await client.get(f"/cmp-{name}.js?v={version()}")
        assert v.headers["cache-control"] == "public, max-age=31536000, immutable"
