"""The web beacon's ingest pipeline: parse → site → rate → origin → bot → consent → store.

Each named step passes the event on or drops it with a typed reason; every outcome is counted.
Parsing problems are the client's to fix (the route answers 4xx naming the field); every
later drop is answered exactly like a logged event, so the answer says nothing about consent.
`store` awaits the group commit: an event reported as stored is on disk.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cmp.config import Config, SiteConfig, canonical_json
from cmp.errors import ErrorKind, FieldError
from cmp.grants import Basis, Withheld, basis, beacon_verdict, effective
from cmp.ledger import iso
from cmp.policy import PolicyEngine
from cmp.ratelimit import BEACON, RateLimits
from cmp.storage.base import BeaconRow, BeaconStore
from cmp.tokens import TokenError, TokenService
from cmp.types import Visitor
from cmp.uaclass import ua_class
from pixel.outcomes import BEACON_KIND, STORED, Counters, Drop

MAX_BODY = 4096  # bytes of a POST body
MAX_NAME = 64
MAX_URL = 2048
MAX_KEY = 40
MAX_VALUE = 256
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
SITE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class BeaconInputError(FieldError):
    """Bad input naming `field`; `reason` is the drop it is counted as."""

    def __init__(self, field: str, message: str, kind: ErrorKind = ErrorKind.INVALID,
                 reason: Drop = Drop.MALFORMED) -> None:
        super().__init__(field, message, kind)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BeaconEvent:
    site: str
    name: str
    url: str | None
    referrer: str | None
    props: dict[str, Any]
    token: str | None


@dataclass(frozen=True, slots=True)
class Context:
    """What the route read from the request (no framework types)."""

    visitor: Visitor
    origin: str | None
    header_token: str | None  # Authorization: Bearer
    cookie: Callable[[str], str | None]  # cookie value by name


# --- step 1: parse ------------------------------------------------------------------------------

def _text(body: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    v = body.get(key)
    if v is None or v == "":
        if required:
            raise BeaconInputError(key, f"{key} is required")
        return None
    if not isinstance(v, str):
        raise BeaconInputError(key, f"{key} must be a string")
    if len(v) > limit:
        raise BeaconInputError(key, f"{key} is longer than {limit} characters")
    return v


def _props(raw: Any, max_props: int) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BeaconInputError("p", "p must be an object of name → string/number/boolean")
    if len(raw) > max_props:
        raise BeaconInputError("p", f"more than {max_props} properties")
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if not NAME_RE.match(k) or len(k) > MAX_KEY:
            raise BeaconInputError(f"p.{k[:MAX_KEY]}", "property names are 1-40 characters of "
                                   "letters, digits and _ . : -")
        if isinstance(v, str):
            if len(v) > MAX_VALUE:
                raise BeaconInputError(f"p.{k}", f"longer than {MAX_VALUE} characters")
        elif isinstance(v, bool) or v is None:
            pass
        elif isinstance(v, int | float):
            if v != v or v in (float("inf"), float("-inf")):
                raise BeaconInputError(f"p.{k}", "not a finite number")
        else:
            raise BeaconInputError(f"p.{k}", "values are strings, numbers, booleans or null")
        out[k] = v
    return out


def parse(body: Any, max_props: int = 50) -> BeaconEvent:
    """A beacon body (JSON object, or the GIF form's query parameters) into an event.

    Fields: s (site), e (event name), u (page URL), r (referrer), p (properties), k (token)."""
    if not isinstance(body, Mapping):
        raise BeaconInputError("body", "body must be a JSON object")
    site = _text(body, "s", 64, required=True)
    assert site is not None
    if not SITE_RE.match(site):
        raise BeaconInputError("s", "not a site id")
    name = _text(body, "e", MAX_NAME) or "pageview"
    if not NAME_RE.match(name):
        raise BeaconInputError("e", "event names are 1-64 characters of letters, digits and "
                               "_ . : -")
    url = _text(body, "u", MAX_URL)
    if url is not None and not url.startswith(("https://", "http://")):
        raise BeaconInputError("u", "must be an http(s) URL")
    return BeaconEvent(site, name, url, _text(body, "r", MAX_URL), _props(body.get("p"), max_props),
                       _text(body, "k", 4096))


# --- the pipeline -------------------------------------------------------------------------------

def _page(url: str | None, keep_query: bool) -> str | None:
    # Query strings and fragments carry e-mail addresses, tokens and search terms: by default
    # only scheme, host and path are stored.
    if url is None:
        return None
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return base + (f"?{parts.query}" if keep_query and parts.query else "")


def _referrer_origin(ref: str | None) -> str | None:
    if not ref:
        return None
    parts = urlsplit(ref)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else None


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class BeaconPipeline:
    def __init__(self, config: Config, tokens: TokenService, policy: PolicyEngine,
                 storage: BeaconStore, limits: RateLimits | None = None) -> None:
        self.config = config
        self.limits = limits
        self.tokens = tokens
        self.policy = policy
        self.storage = storage
        self.counters = Counters()

    def reject(self, exc: BeaconInputError, site: Any = "") -> None:
        """Count a body refused before the pipeline (the route answers 4xx). `site` is what
        the body said, of any JSON type: only a known site's id is counted under it."""
        known = isinstance(site, str) and site in self.config.sites
        self.counters.add(site if known else "", BEACON_KIND, exc.reason)

    def parse(self, body: Any) -> BeaconEvent:
        try:
            ev = parse(body)
            site = self._site(ev)
            b = site.beacon_config
            if b is not None and len(ev.props) > b.max_props:
                raise BeaconInputError("p", f"more than {b.max_props} properties")
        except BeaconInputError as exc:
            self.reject(exc, body.get("s", "") if isinstance(body, Mapping) else "")
            raise
        return ev

    def _site(self, ev: BeaconEvent) -> SiteConfig:
        site = self.config.sites.get(ev.site)
        if site is None:
            # INVALID, not UNKNOWN_SITE: the site is a field of the body here, not the resource.
            raise BeaconInputError("s", f"unknown site {ev.site!r}", reason=Drop.UNKNOWN_SITE)
        return site

    async def ingest(self, ev: BeaconEvent, ctx: Context, now: float | None = None) -> str:
        """Run the steps after parsing; the outcome is STORED or a Drop (counted either way)."""
        outcome = await self._run(ev, ctx, now)
        self.counters.add(ev.site, BEACON_KIND, outcome)
        return outcome

    async def _run(self, ev: BeaconEvent, ctx: Context, now: float | None) -> str:
        site = self.config.sites[ev.site]
        b = site.beacon_config
        if b is None:
            return Drop.DISABLED
        # Rate before the costlier steps (token, policy, commit): a flood is refused cheaply.
        # Answered like any other drop, so the sender learns nothing from it.
        if self.limits is not None and not (
                await self.limits.check(BEACON, ev.site, ctx.visitor.ip, now)).allowed:
            return Drop.RATE_LIMITED
        if not self._origin_ok(site, ev, ctx):
            return Drop.BAD_ORIGIN
        cls = ua_class(ctx.visitor.user_agent)
        if cls in ("bot", "none"):
            return Drop.BOT
        # consent: the token in the body (sendBeacon sets no headers), else Bearer, else cookie
        token = ev.token or ctx.header_token or ctx.cookie(site.cookie.name)
        state = None
        if token:
            try:
                state = self.tokens.verify(ev.site, token)
            except TokenError:
                return Drop.BAD_TOKEN
        defaults = None
        if basis(site.rule, state, token_presented=False) is Basis.DEFAULTS:
            defaults = self.policy.decide(ev.site, ctx.visitor).defaults
        g = effective(site.rule, state, token_presented=False, gpc=ctx.visitor.gpc,
                      defaults=defaults)
        why = beacon_verdict(site.rule, g)
        if why is not None:
            return Drop.GPC if why is Withheld.GPC else Drop.NO_CONSENT
        return await self._store(site, ev, b.keep_query, cls,
                                 g.consent_id if g.basis is Basis.CONSENT else None, now)

    def _origin_ok(self, site: SiteConfig, ev: BeaconEvent, ctx: Context) -> bool:
        # A browser names the page's origin on every POST; only the site's own pages may log.
        # The GIF form carries no Origin, so there the page URL, if given, must match instead.
        if not site.origins:
            return True
        if ctx.origin is not None:
            return ctx.origin in site.origins
        return ev.url is None or _origin_of(ev.url) in site.origins

    async def _store(self, site: SiteConfig, ev: BeaconEvent, keep_query: bool, cls: str,
                     subject: str | None, now: float | None) -> str:
        t = now if now is not None else time.time()
        await self.storage.append_beacon(BeaconRow(
            site=ev.site, name=ev.name, url=_page(ev.url, keep_query),
            referrer=_referrer_origin(ev.referrer),
            props=canonical_json(ev.props).decode() if ev.props else None,
            subject=subject, ua_class=cls, ts=iso(datetime.fromtimestamp(t, UTC)),
            ts_ms=int(t * 1000)))
        return STORED


__all__ = ["BeaconEvent", "BeaconInputError", "BeaconPipeline", "Context", "parse"]
