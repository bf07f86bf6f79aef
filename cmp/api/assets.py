"""The banner's files: /cmp.js and /cmp.css, joined, minified and gzipped once at startup.

/cmp.js is built from the source modules in static/js (BANNER_JS, in that order) joined inside
one function: one classic script for the page, no build step, and the modules share its scope.
The sources keep their comments (they say why the code is as it is); visitors get them
minified by rjsmin/rcssmin, with the `/*! ... */` banner comment kept. The optional modules
(MODULES: /cmp-ask.js, /cmp-permissions.js) are built the same way, each its own script that
cmp.js fetches only for a page that uses it, so a site without them never downloads them.

A request carrying a version query (`?v=<hash>`) gets a year of immutable caching, because a
new release means a new URL. The bare URL (what most embed snippets use) gets a short max-age
plus an ETag, so a release reaches visitors within minutes and revalidation costs a 304.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import rcssmin  # type: ignore[import-untyped]
import rjsmin  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SHORT_MAX_AGE = 300
IMMUTABLE = "public, max-age=31536000, immutable"

# The banner's source modules, in the order they are joined. signals first: Consent Mode and
# Meta/UET defaults must be queued before anything else runs. grants (the rule) and state are
# the core, gate and api use them, ui registers itself with the core (which calls it only
# through state.js's four-call interface), start boots everything and comes last.
BANNER_JS = ("signals.js", "grants.js", "state.js", "gate.js", "api.js", "ui.js", "start.js")
BANNER_CSS = "cmp.css"
# Optional modules, each its own script (/cmp-<name>.js) that the base fetches only when a
# site uses it: Consentry.ask(token) pulls in the ask modal, a config answer with `permissions`
# the permission prompts. modal.js is their shared dialog; each list is joined like BANNER_JS.
MODULES: dict[str, tuple[str, ...]] = {"ask": ("modal.js", "ask.js"),
                                       "permissions": ("modal.js", "permissions.js")}
# One function around all modules: nothing leaks into the page but window.Consentry. Without a
# currentScript (a module script, an eval) or with a second copy on the page, it does nothing.
_JS_HEAD = ('/*! Consentry banner | no dependencies | <script src=".../cmp.js" data-site="ID"> '
            'first in <head> */\n(function (w, d) {\n"use strict";\nvar me = d.currentScript;\n'
            "if (!me || w.Consentry) return;\n")
_JS_TAIL = "})(window, document);\n"
# A module hands its factory to the base (Consentry._m), which calls it with the few internals
# it shares (`core`) once: a copy of the script loaded twice, or without the base, does nothing.
_MOD_HEAD = ('/*! Consentry {name} module | loaded by /cmp.js when needed */\n'
             '(function (w, d) {{\n"use strict";\nvar C = w.Consentry;\n'
             'if (C && C._m) C._m("{name}", function (core) {{\n')
_MOD_TAIL = "return mod;\n});\n})(window, document);\n"


def static_dir() -> Path:
    """static/js of a checkout, else the `consentry_static` package of an installed wheel."""
    env = os.environ.get("CONSENTRY_STATIC_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "static" / "js"
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("consentry_static")))


def sources(directory: Path | None = None) -> list[Path]:
    """Every file the banner is made of: what the version and the wheel must cover."""
    d = directory or static_dir()
    modules = dict.fromkeys(n for names in MODULES.values() for n in names)
    return [d / name for name in (*BANNER_JS, BANNER_CSS, *modules)]


def banner_js(directory: Path | None = None) -> str:
    """The source of /cmp.js: the modules joined, unminified."""
    d = directory or static_dir()
    return _JS_HEAD + "".join((d / name).read_text("utf-8") for name in BANNER_JS) + _JS_TAIL


def module_js(name: str, directory: Path | None = None) -> str:
    """The source of /cmp-<name>.js: the module's files joined, unminified."""
    d = directory or static_dir()
    return (_MOD_HEAD.format(name=name) + "".join((d / f).read_text("utf-8")
                                                  for f in MODULES[name]) + _MOD_TAIL)


def banner_css(directory: Path | None = None) -> str:
    return ((directory or static_dir()) / BANNER_CSS).read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str

    @classmethod
    def load(cls, source: str, media_type: str, minify: Callable[[str], str]) -> Asset:
        body = minify(source).encode("utf-8")
        # mtime=0: the same bytes give the same gzip output on every worker
        return cls(body, gzip.compress(body, 9, mtime=0),
                   '"' + hashlib.sha256(body).hexdigest()[:20] + '"', media_type)


def minify_js(source: str) -> str:
    return str(rjsmin.jsmin(source, keep_bang_comments=True))


def minify_css(source: str) -> str:
    return str(rcssmin.cssmin(source, keep_bang_comments=True))


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            return not (params and q.replace(".", "", 1).isdigit() and float(q) == 0)
    return False


def _handler(asset: Asset):  # type: ignore[no-untyped-def]
    async def serve(request: Request) -> Response:
        headers = {"ETag": asset.etag, "Vary": "Accept-Encoding",
                   "X-Content-Type-Options": "nosniff",
                   # the site's page loads this from another origin
                   "Cross-Origin-Resource-Policy": "cross-origin",
                   "Cache-Control": IMMUTABLE if request.query_params.get("v")
                   else f"public, max-age={SHORT_MAX_AGE}"}
        inm = request.headers.get("if-none-match", "")
        if asset.etag in (t.strip().removeprefix("W/") for t in inm.split(",")):
            return Response(status_code=304, headers=headers)
        body = asset.body
        if _accepts_gzip(request):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, headers=headers, media_type=asset.media_type)

    return serve


def asset_routes(directory: Path | None = None) -> list[Route]:
    js = Asset.load(banner_js(directory), "text/javascript; charset=utf-8", minify_js)
    css = Asset.load(banner_css(directory), "text/css; charset=utf-8", minify_css)
    mods = [Route(f"/cmp-{name}.js", _handler(Asset.load(
        module_js(name, directory), "text/javascript; charset=utf-8", minify_js)), methods=["GET"])
        for name in MODULES]
    return [Route("/cmp.js", _handler(js), methods=["GET"]),
            Route("/cmp.css", _handler(css), methods=["GET"]), *mods]


def version(directory: Path | None = None) -> str:
    """One version for every file (cmp.js asks for cmp.css and its modules with its own query
    string), over every source module and the way they are joined."""
    text = "\0".join([banner_js(directory), banner_css(directory),
                      *(module_js(name, directory) for name in MODULES)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
