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
from cmp.grants import Grants, GrantSite, PurposeRule, beacon_verdict, decide_tags, effective
from cmp.keys import Keyring
from cmp.tokens import ConsentState, TokenError, TokenService

ASGIApp = Any  # (scope, receive, send) -> awaitable; no framework import needed


@dataclass(frozen=True, slots=True)
class RequestConsent:
    """The consent a request carries, as a site's own backend should read it. Every answer is
    the one grant rule's (cmp.grants), the same the tag gate and the beacon give."""

    state: ConsentState | None  # None: no choice yet, or a forged/expired/foreign token
    gpc: bool  # Sec-GPC: 1 on this request
    grants: Grants  # what may run for this request
    error: str | None = None  # why a presented token was refused
    # The site's config (set by `from_config`): enables allowed_tags and the beacon's purpose.
    site_config: SiteConfig | None = None
    track_purpose: str = "analytics"

    @property
    def consent_id(self) -> str | None:
        return self.state.subject if self.state else None

    def allows(self, purpose: str) -> bool:
        return self.grants.allows(purpose)

    def allows_vendor(self, vendor: str) -> bool:
        return self.grants.allows_vendor(vendor)

    @property
    def allowed_tags(self) -> list[dict[str, Any]]:
        """The catalog tags the tag gate would hand out for this request, in load order
        (id, vendor, src or inline, attributes); [] without a site config."""
        site = self.site_config
        if site is None:
            return []
        return [site.tags[tid].loaded(tid) for tid in decide_tags(site.rule, self.grants).allowed]

    @property
    def may_track(self) -> bool:
        """Whether the web beacon would log a page event carrying this consent."""
        if self.site_config is None:
            return self.allows(self.track_purpose)
        return beacon_verdict(self.site_config.rule, self.grants) is None


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
        self.site_config = site_config
        if site_config is not None:
            self.rule = site_config.rule
        else:
            # Without a config the rule sees only what was passed: a vendor whose purposes were
            # not named cannot be shown to be allowed, so it is refused (as the tag gate would).
            vendors = {v: tuple(sorted(ps)) for v, ps in (vendor_purposes or {}).items()}
            names = set(necessary) | set(gpc_purposes) | {p for ps in vendors.values() for p in ps}
            self.rule = GrantSite(
                purposes={p: PurposeRule(necessary=p in necessary, gpc=p in gpc_purposes)
                          for p in sorted(names)}, vendors=vendors)

    def _rule_for(self, state: ConsentState | None) -> GrantSite:
        # Without a config, purposes only the token names are still the site's own (the token
        # is signed by its Consentry): let the rule know them as ordinary optional purposes.
        if self.site_config is not None or state is None or state.purposes <= self.rule.purposes.keys():
            return self.rule
        extra = {p: PurposeRule() for p in state.purposes if p not in self.rule.purposes}
        return GrantSite({**self.rule.purposes, **extra}, self.rule.vendors)

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
        grants = effective(self._rule_for(state), state,
                           token_presented=state is not None or error is not None, gpc=gpc)
        return RequestConsent(state, gpc, grants, error, self.site_config)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault("state", {})["consent"] = self.consent_for(scope["headers"])
        await self.app(scope, receive, send)
