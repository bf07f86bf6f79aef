"""Server-side consent for any ASGI app (Starlette, FastAPI …): plain ASGI middleware.

    app.add_middleware(ConsentMiddleware, site="demo", secret=os.environ["CONSENTRY_SECRET"])
    ...
    if request.state.consent.allows("analytics"): record_server_side_event(...)
    if request.state.consent.may_track: ...         # the web beacon's own decision
    for tag in request.state.consent.allowed_tags:  # the tag gate's, to render server-side
        ...

It verifies the banner's signed first-party cookie (or an `Authorization: Bearer` token) with
the site's key derived from the deployment's master secret, applies `Sec-GPC: 1`, and puts a
`RequestConsent` on `scope["state"]["consent"]` (Starlette's `request.state.consent`). No
database read and no network call: the token carries the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from cmp.config import SiteConfig, load_config
from cmp.keys import Keyring
from cmp.tokens import ConsentState, TokenError, TokenService
from pixel.tags import Grants, decide_tags, grants, tag_doc

ASGIApp = Any  # (scope, receive, send) -> awaitable; no framework import needed


@dataclass(frozen=True, slots=True)
class RequestConsent:
    """The consent a request carries, as a site's own backend should read it."""

    state: ConsentState | None  # None: no choice yet, or a forged/expired/foreign token
    gpc: bool  # Sec-GPC: 1 on this request
    gpc_purposes: frozenset[str]  # purposes GPC switches off (sale/sharing/targeted ads)
    necessary: frozenset[str]  # purposes that need no consent
    vendor_purposes: dict[str, frozenset[str]]  # vendor -> its purposes (for GPC decisions)
    error: str | None = None  # why a presented token was refused
    # The site's config (set by `from_config`): enables allowed_tags and the beacon's purpose.
    site_config: SiteConfig | None = None
    track_purpose: str = "analytics"

    @property
    def consent_id(self) -> str | None:
        return self.state.subject if self.state else None

    def allows(self, purpose: str) -> bool:
        if purpose in self.necessary:
            return True
        if self.state is None:
            return False
        if self.gpc and purpose in self.gpc_purposes:
            return False  # the browser's signal wins over an older choice
        return purpose in self.state.purposes

    def allows_vendor(self, vendor: str) -> bool:
        if self.state is None or vendor not in self.state.vendors:
            return False
        if self.gpc:
            # Under GPC a vendor runs only if none of its purposes is GPC-governed; a vendor
            # whose purposes we were not told is refused rather than guessed.
            purposes = self.vendor_purposes.get(vendor)
            return purposes is not None and purposes.isdisjoint(self.gpc_purposes)
        return True

    def _grants(self) -> Grants:
        assert self.site_config is not None
        # No policy engine here: without a current choice only necessary purposes count
        # (the opt-in reading; the tag gate also knows opt-out regimes' defaults).
        return grants(self.site_config, self.state,
                      token_presented=self.state is not None or self.error is not None,
                      gpc=self.gpc, defaults=None)

    @property
    def allowed_tags(self) -> list[dict[str, Any]]:
        """The catalog tags the tag gate would hand out for this request, in load order
        (id, vendor, src or inline, attributes); [] without a site config."""
        if self.site_config is None:
            return []
        return [tag_doc(tid, t) for tid, t in decide_tags(self.site_config, self._grants()).allowed]

    @property
    def may_track(self) -> bool:
        """Whether the web beacon would log a page event carrying this consent."""
        site = self.site_config
        if site is None:
            return self.allows(self.track_purpose)
        b = site.beacon_config
        if b is None:
            return False
        g = self._grants()
        return bool(g.allows(b.purpose) and (b.vendor is None or b.vendor in g.vendors))


class ConsentMiddleware:
    def __init__(self, app: ASGIApp, *, site: str, secret: str | bytes,
                 cookie_name: str = "consentry",
                 gpc_purposes: frozenset[str] | set[str] = frozenset({"marketing"}),
                 necessary: frozenset[str] | set[str] = frozenset({"necessary"}),
                 vendor_purposes: dict[str, frozenset[str]] | None = None,
                 site_config: SiteConfig | None = None) -> None:
        self.app = app
        self.site = site
        self.cookie_name = cookie_name
        self.tokens = TokenService(Keyring(secret.encode() if isinstance(secret, str) else secret))
        self.gpc_purposes = frozenset(gpc_purposes)
        self.necessary = frozenset(necessary)
        self.vendor_purposes = dict(vendor_purposes or {})
        self.site_config = site_config

    @classmethod
    def from_config(cls, app: ASGIApp, *, config_path: str | Path, site: str,
                    secret: str | bytes) -> ConsentMiddleware:
        """Take the cookie name and the GPC/necessary purposes from a Consentry config."""
        cfg = load_config(config_path).sites[site]
        return cls(app, site=site, secret=secret, cookie_name=cfg.cookie.name,
                   gpc_purposes={p for p, d in cfg.purposes.items() if d.gpc},
                   necessary={p for p, d in cfg.purposes.items() if d.necessary},
                   vendor_purposes={v: frozenset(d.purposes) for v, d in cfg.vendors.items()},
                   site_config=cfg)

    def consent_for(self, headers: list[tuple[bytes, bytes]]) -> RequestConsent:
        token = None
        gpc = False
        for k, v in headers:
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                token = v[7:].decode("latin-1").strip()
            elif k == b"cookie" and token is None:
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(v.decode("latin-1"))
                except Exception:  # a malformed Cookie header is just "no cookie"
                    continue
                if self.cookie_name in jar:
                    token = jar[self.cookie_name].value
            elif k == b"sec-gpc" and v.strip() == b"1":
                gpc = True
        state, error = None, None
        if token:
            try:
                state = self.tokens.verify(self.site, token)
            except TokenError as exc:
                error = str(exc)
        return RequestConsent(state, gpc, self.gpc_purposes, self.necessary,
                              self.vendor_purposes, error, self.site_config)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault("state", {})["consent"] = self.consent_for(scope["headers"])
        await self.app(scope, receive, send)
