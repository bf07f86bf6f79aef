"""Site configuration: one TOML file, one or more sites, validated with pydantic.

Validation (this module) rejects what cannot run; `cmp.lint` then judges what a regulator
would object to. Every error names the dotted key path, e.g. `sites.demo.cookie.accept_days`.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cmp.grants import GrantSite, PurposeRule, TagRule
from cmp.types import GCM_TYPES, Model, SeparateKind

# A text in every language of the site: {"en": "...", "zh-CN": "..."}.
LText = dict[str, str]

# A well-formed BCP 47 (RFC 5646) tag of the parts a site language needs: language, then
# optional script, region and variants (en, zh-CN, zh-Hant-TW, sr-Latn-RS, de-CH-1996).
# Extensions, private use and grandfathered tags are not banner languages.
LANG_TAG_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?"
                         r"(-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*")


def _lang_tag(v: str) -> str:
    if not LANG_TAG_RE.fullmatch(v):
        raise ValueError(f"{v!r} is not a BCP 47 language tag like en, zh-CN or zh-Hant-TW")
    return v


LangTag = Annotated[str, AfterValidator(_lang_tag)]

ID_RE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_RE)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

# Region group names usable in region rules, expanded to ISO country codes.
EU = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
).split()
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "EU": tuple(EU),
    "EEA": tuple(EU + ["IS", "LI", "NO"]),
}

# Banner texts every language must carry (lint checks completeness).
REQUIRED_TEXTS: tuple[str, ...] = (
    "title",
    "description",
    "accept_all",
    "reject_all",
    "customise",
    "save",
    "preferences",
    "close",
)


class ConfigError(Exception):
    """A config that cannot be loaded; `problems` holds one 'key.path: message' per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CookieConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] = "consentry"
    domain: str | None = None  # e.g. ".example.com" to share the choice with subdomains
    path: str = "/"
    same_site: Literal["Lax", "Strict", "None"] = "Lax"
    accept_days: Annotated[int, Field(gt=0)] = 365
    reject_days: Annotated[int, Field(gt=0)] = 180


class Purpose(_Strict):
    title: LText
    description: LText = {}
    necessary: bool = False  # always on, cannot be refused
    # GPC (and US "do not sell/share") turns this purpose off by default.
    gpc: bool = False
    # Pre-ticked even under opt-in regimes (opt-out regimes pre-grant every purpose anyway);
    # `consentry check` refuses it on a site with an opt-in regime.
    default: bool = False
    # Browser storage this purpose uses, so the banner can clean up on withdrawal.
    cookies: list[str] = []
    storage_keys: list[str] = []
    indexeddb: list[str] = []
    caches: list[str] = []


class Vendor(_Strict):
    name: str
    purposes: list[str]
    description: LText = {}
    cookies: list[str] = []  # name patterns, `*` wildcard
    storage_keys: list[str] = []  # localStorage/sessionStorage keys, `*` wildcard
    indexeddb: list[str] = []  # IndexedDB database names, `*` wildcard
    caches: list[str] = []  # Cache Storage cache names, `*` wildcard
    privacy_url: str | None = None
    data_categories: list[str] = []
    recipient: str | None = None  # the legal entity receiving the data
    country: Country | None = None  # where that recipient is

    @field_validator("privacy_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s]+$", v):
            raise ValueError("must be an http(s) URL")
        return v


class SeparateItem(_Strict):
    """A PIPL separate-consent item: shown and answered on its own, never bundled."""

    kind: SeparateKind
    title: LText
    description: LText = {}
    recipient: str | None = None
    recipient_contact: str | None = None
    countries: list[Country] = []
    purpose: LText = {}
    method: LText = {}
    data_categories: list[str] = []
    rights: LText = {}  # how to exercise rights against the recipient (Art. 39)
    # Asked per recipient, in context (cmp/asks.py): the recipient comes with each ask, and the
    # texts name it through RECIPIENT_FIELDS placeholders. Never in the banner.
    per_recipient: bool = False

    @model_validator(mode="after")
    def _placeholders(self) -> SeparateItem:
        problems = []
        for name in ("title", "description", "purpose", "method", "rights"):
            for lang, text in getattr(self, name).items():
                for field in _PLACEHOLDER.findall(text):
                    if not self.per_recipient:
                        problems.append(f"{name}.{lang}: {{{field}}} only works with "
                                        "per_recipient = true")
                    elif field not in RECIPIENT_FIELDS:
                        problems.append(f"{name}.{lang}: unknown placeholder {{{field}}}; one "
                                        f"of {', '.join('{' + f + '}' for f in RECIPIENT_FIELDS)}")
        if self.per_recipient and self.kind not in (SeparateKind.CROSS_BORDER,
                                                    SeparateKind.THIRD_PARTY):
            problems.append("per_recipient: only for cross_border and third_party items (a "
                            "recipient is someone the data goes to)")
        if problems:
            raise ValueError("\n".join(problems))
        return self


# The recipient fields a per-recipient item's texts may name, e.g. "{recipient.name}".
RECIPIENT_FIELDS = ("recipient.name", "recipient.contact", "recipient.country",
                    "recipient.data_categories")
_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")


def fill_recipient(text: str, recipient: dict[str, str]) -> str:
    """A per-recipient text with the recipient's fields put in (plain text: escaping is the
    renderer's job, and a field's own braces are never read as placeholders)."""
    return _PLACEHOLDER.sub(lambda m: recipient.get(m.group(1).removeprefix("recipient."),
                                                    m.group(0)), text)


class RegimeDef(_Strict):
    model: Model
    separate_consent: bool = False  # PIPL: separate items need their own action
    gpc_binding: bool = False  # GPC is a legally binding opt-out here
    strictness: int = 0  # higher wins when the visitor's place is unknown


BUILTIN_REGIMES: dict[str, RegimeDef] = {
    "pipl": RegimeDef(model=Model.OPT_IN, separate_consent=True, strictness=40),
    "gdpr": RegimeDef(model=Model.OPT_IN, strictness=30),
    "us_optout": RegimeDef(model=Model.OPT_OUT, gpc_binding=True, strictness=20),
    "notice": RegimeDef(model=Model.NOTICE, strictness=10),
}


class RegionRule(_Strict):
    # ISO country codes ("DE"), subdivisions ("US-CA") or groups ("EU", "EEA").
    match: list[str]
    regime: Ident

    @field_validator("match")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for code in v:
            if code not in REGION_GROUPS and not re.match(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$", code):
                raise ValueError(f"{code!r} is not an ISO 3166 code or a region group")
        return v


class Regions(_Strict):
    # Regime for a known place no rule matches. Unknown place -> the strictest regime.
    default: Ident = "gdpr"
    rules: list[RegionRule] = []


class ConsentModeConfig(_Strict):
    # purpose id -> Google Consent Mode v2 types it grants
    mapping: dict[str, list[str]] = {}
    wait_for_update: Annotated[int, Field(ge=0, le=10_000)] = 500
    ads_data_redaction: bool = True
    url_passthrough: bool = False

    @field_validator("mapping")
    @classmethod
    def _types(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for purpose, types in v.items():
            for t in types:
                if t not in GCM_TYPES:
                    raise ValueError(f"{purpose}: {t!r} is not a Consent Mode type")
        return v


class EmailList(_Strict):
    """A marketing list recipients subscribe to one by one (consent is per list)."""

    title: LText
    description: LText = {}


class EmailConfig(_Strict):
    """E-mail side of a site: lists, sender and where tracking needs no explicit consent."""

    sender: str  # From: of prepared messages, e.g. "News <news@example.com>"
    lists: Annotated[dict[Ident, EmailList], Field(min_length=1)]
    # Base of tracked links and the one-click URI (https); default: the server's public_url.
    base_url: str | None = None
    unsubscribe_mailto: str | None = None  # optional mailto: address after the HTTPS URI
    # Regimes whose recipients may get an open pixel and tracked links without an explicit
    # tracking consent. Default none: tracking needs consent everywhere.
    tracking_without_consent: list[Ident] = []
    tracking_text: LText = {}  # what the signup form says about engagement tracking
    confirm_days: Annotated[int, Field(gt=0, le=30)] = 7  # double opt-in link lifetime
    # A click this soon after sending is a link scanner at delivery, not a person.
    scanner_delay_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    # Distinct links of one message clicked within this window: a scanner's burst.
    burst_window_s: Annotated[float, Field(ge=0, le=60)] = 2.0
    store_machine_opens: bool = True  # False: drop them (reason machine_open) instead

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[^\s]*)?$", v):
            raise ValueError("must be an http(s) URL like https://cmp.example.com")
        return v.rstrip("/") if v else v

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _mailto(cls, v: str | None) -> str | None:
        # Both "x@example.com" and "mailto:x@example.com" are what people write; stored as the
        # bare address, which the List-Unsubscribe header puts after its own "mailto:".
        if v is None:
            return v
        address = v[len("mailto:"):] if v[:7].lower() == "mailto:" else v
        # No ?, &, % or ':' in it: the header appends "?subject=…" and a query of its own (or
        # a second scheme) would be a different URI from the one meant.
        if not re.fullmatch(r"[A-Za-z0-9.!#$'*+/=^_`{|}~\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+",
                            address):
            raise ValueError("must be an address like unsubscribe@example.com "
                             "(or mailto:unsubscribe@example.com), without ?query")
        return address


# Attributes a catalog tag may carry onto its <script>: no event handlers, nothing that
# changes what runs (src, type) or who vouches for it (nonce).
TAG_ATTRIBUTES = frozenset({"async", "defer", "crossorigin", "integrity", "referrerpolicy", "id",
                            "charset", "nomodule"})
_TAG_SRC_RE = re.compile(r"^(https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[^\s\"'<>]*)?|/(?!/)[^\s\"'<>]*)$")


class Tag(_Strict):
    """A third-party SDK tag the tag gate hands to the banner when its consent allows.

    Either `src` (a script URL: https, http or root-relative) or `inline` (a bootstrap snippet).
    The gate lists allowed tags by `order`, then by declaration order."""

    vendor: Ident
    src: str | None = None
    inline: str | None = None
    order: int = 0
    attributes: dict[str, str] = {}
    # Purposes the tag needs (default: all of its vendor's purposes).
    purposes: list[str] = []
    # PIPL separate-consent items the tag also needs (e.g. a cross-border transfer).
    separate: list[str] = []
    # Consent Mode v2 types the tag reads (informational, linted against consent_mode.mapping).
    consent_mode: list[str] = []

    @field_validator("src")
    @classmethod
    def _src(cls, v: str | None) -> str | None:
        if v is not None and not _TAG_SRC_RE.match(v):
            raise ValueError("must be an http(s) URL or a path starting with a single /")
        return v

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if name not in TAG_ATTRIBUTES and not re.match(r"^data-[a-z0-9][a-z0-9-]*$", name):
                raise ValueError(f"{name!r} is not allowed (use one of "
                                 f"{', '.join(sorted(TAG_ATTRIBUTES))} or data-*)")
        return v

    @field_validator("consent_mode")
    @classmethod
    def _gcm(cls, v: list[str]) -> list[str]:
        for t in v:
            if t not in GCM_TYPES:
                raise ValueError(f"{t!r} is not a Consent Mode type")
        return v

    @model_validator(mode="after")
    def _one_body(self) -> Tag:
        if (self.src is None) == (self.inline is None):
            raise ValueError("give exactly one of src or inline")
        return self

    def loaded(self, tid: str) -> dict[str, Any]:
        """This tag as the banner loads it (the tag gate's answer, the middleware's list)."""
        out: dict[str, Any] = {"id": tid, "vendor": self.vendor}
        if self.src is not None:
            out["src"] = self.src
        else:
            out["inline"] = self.inline
        out["attributes"] = self.attributes
        out["consent_mode"] = self.consent_mode
        return out


class BeaconConfig(_Strict):
    """The web beacon (POST /b): which consent lets page events be logged, and their limits."""

    purpose: Ident = "analytics"
    vendor: Ident | None = None  # also require this vendor's consent (the site's analytics)
    max_props: Annotated[int, Field(ge=0, le=50)] = 20
    keep_query: bool = False  # store page URLs with their query string (may hold personal data)


# What a backend API key may do (cmp.people, the people and contact routes).
API_SCOPES = ("people:read", "people:write", "contact:read", "asks:write", "requests:read",
              "requests:write")


class ApiKey(_Strict):
    """A backend's key for one site: its hash (as admin keys: `consentry keys new` prints both)
    and what it may do. An admin key may do everything an API key may."""

    name: Ident
    hash: str
    scopes: Annotated[list[str], Field(min_length=1)]

    @field_validator("hash")
    @classmethod
    def _hash(cls, v: str) -> str:
        if not re.match(r"^sha256:[0-9a-f]{64}$", v):
            raise ValueError("must be 'sha256:' followed by 64 hex digits "
                             "(as printed by `consentry keys new`)")
        return v

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: list[str]) -> list[str]:
        for scope in v:
            if scope not in API_SCOPES:
                raise ValueError(f"unknown scope {scope!r}; one of {', '.join(API_SCOPES)}")
        return v


class Period(_Strict):
    """A deadline: `n` working days (of the regime's calendar), calendar days or months."""

    n: Annotated[int, Field(gt=0, le=366)]
    unit: Literal["working_days", "days", "months"]


class RegimeDeadlines(_Strict):
    """How long a controller has under one regime (cmp/cases.py computes due dates)."""

    reply: Period
    cancel_account: Period | None = None  # a different deadline for closing an account
    extension: Period | None = None  # how much a recorded extension adds (none: no extension)
    calendar: Country | None = None  # holidays of working-day deadlines; None: the site's


# The customer's policy (shared/seed/customer-privacy-policy.txt): a reply within 7 working
# days, an account closed within 15; GDPR Art. 12(3): one month, two more with reasons given;
# CCPA § 1798.130: 45 days, 45 more once.
DEFAULT_DEADLINES: dict[str, RegimeDeadlines] = {
    "pipl": RegimeDeadlines(reply=Period(n=7, unit="working_days"),
                            cancel_account=Period(n=15, unit="working_days"), calendar="CN"),
    "gdpr": RegimeDeadlines(reply=Period(n=1, unit="months"),
                            extension=Period(n=2, unit="months"), calendar="DE"),
    "us_optout": RegimeDeadlines(reply=Period(n=45, unit="days"),
                                 extension=Period(n=45, unit="days"), calendar="US"),
}
# When a request may be refused, from the customer's policy ("We will not be able to respond
# to your request in the following situations" and "We may refuse requests that ..."), plus
# GDPR Art. 12(5)'s manifestly unfounded or excessive.
DEFAULT_REFUSAL_GROUNDS = [
    "national_security", "public_interest", "criminal_investigation", "abuse_of_rights",
    "harm_to_others", "trade_secrets", "not_own_information", "repetitive",
    "excessive_technical_means", "unrealistic", "manifestly_unfounded", "excessive",
    "identity_not_verified",
]


class RequestsConfig(_Strict):
    """[sites.X.requests]: data-subject request cases (cmp/cases.py)."""

    # Per regime; a regime listed here replaces the default entry, others keep theirs.
    deadlines: dict[Ident, RegimeDeadlines] = {}
    # Working-day calendar of every regime without its own `calendar` (ISO country); None:
    # the regime's default (pipl CN, gdpr DE, us_optout US).
    calendar: Country | None = None
    extra_holidays: list[date] = []  # days the controller does not count (a closure)
    extra_workdays: list[date] = []  # days it does (a make-up day the package lacks)
    refusal_grounds: list[Ident] = DEFAULT_REFUSAL_GROUNDS
    # Regime of a request that names none; None: the site's regions.default.
    default_regime: Ident | None = None

    def deadlines_for(self, regime: str) -> RegimeDeadlines:
        own = self.deadlines.get(regime) or DEFAULT_DEADLINES.get(regime)
        return own or self.deadlines.get("gdpr") or DEFAULT_DEADLINES["gdpr"]

    def calendar_for(self, regime: str) -> str:
        """The regime's own calendar if configured, else the site's `calendar`, else the
        regime's default (gdpr's DE for any other regime)."""
        own = self.deadlines.get(regime)
        if own is not None and own.calendar:
            return own.calendar
        default = DEFAULT_DEADLINES.get(regime) or DEFAULT_DEADLINES["gdpr"]
        return self.calendar or default.calendar or "DE"

    @model_validator(mode="after")
    def _calendars(self) -> RequestsConfig:
        from cmp.workdays import known_country
        for c in {self.calendar, *(d.calendar for d in self.deadlines.values())}:
            if c is not None and not known_country(c):
                raise ValueError(f"no holiday calendar for {c!r} (an ISO country code)")
        return self


# Opt-out words an SMS reply may be (the whole message, case- and width-insensitive).
DEFAULT_SMS_OPT_OUT = ["TD", "T", "退订", "STOP", "UNSUBSCRIBE"]


class ChannelList(_Strict):
    """A list (SMS, phone) or topic (push) a person opts in to or out of on one channel."""

    title: LText
    description: LText = {}


class ChannelConfig(_Strict):
    """One contact channel besides e-mail: its lists or topics, and for SMS the opt-out words
    and the instruction every message carries."""

    lists: dict[Ident, ChannelList] = {}
    opt_out_keywords: list[Annotated[str, Field(min_length=1, max_length=32)]] = DEFAULT_SMS_OPT_OUT
    opt_out_text: LText = {}  # appended to every message, e.g. {"zh-CN": "回复TD退订"}


Channel = Literal["email", "sms", "push", "phone"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "push", "phone")


# Browser capabilities a site may put behind consent (`[sites.X.permissions]`); notifications
# covers push subscriptions too.
Capability = Literal["camera", "microphone", "notifications", "geolocation"]


def _iso_date(v: Any) -> Any:
    # A TOML date (2026-11-20) or the same as a string; not a date-time, nor a number that
    # pydantic would read as a timestamp.
    if isinstance(v, datetime):
        raise ValueError("give a date like 2026-11-20, without a time")
    if isinstance(v, date):
        return v
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise ValueError(f"{v!r} is not an ISO date like 2026-11-20")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class AssessmentScope(_Strict):
    """What an assessment covers: separate items of the site and/or recipient ids (those a
    per-recipient item's asks name, or any recipient the report is about)."""

    separate: list[Ident] = []
    recipients: list[Annotated[str, Field(min_length=1, max_length=64)]] = []


class Assessment(_Strict):
    """A personal-information protection impact assessment (PIPL Art. 55-56): the report is
    kept outside Consentry, its sha256 here, so the record proves which report was meant."""

    title: LText
    date: IsoDate  # when the assessment was completed
    scope: AssessmentScope
    report_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    review_by: IsoDate
    report: str | None = None  # where the report is kept (a path or URL; informational)

    @field_validator("title")
    @classmethod
    def _title(cls, v: LText) -> LText:
        if not any(t.strip() for t in v.values()):
            raise ValueError("give the title in at least one language")
        return v

    @model_validator(mode="after")
    def _dates(self) -> Assessment:
        problems = []
        if not self.scope.separate and not self.scope.recipients:
            problems.append("scope: empty; name the separate items and/or recipients it covers")
        if self.review_by < self.date:
            problems.append(f"review_by: {self.review_by} is before the assessment's date "
                            f"{self.date}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class SiteConfig(_Strict):
    name: str
    origins: list[str] = []
    languages: Annotated[list[LangTag], Field(min_length=1)]
    default_language: LangTag | None = None
    revision: Annotated[int, Field(ge=1)] = 1
    admin_key_hashes: list[str] = []  # "sha256:<hex>" of each admin key
    # Dashboard users of this site: name -> "scrypt$N$r$p$<salt>$<key>" (dashboards/passwords.py)
    users: dict[Ident, str] = {}
    # Customer-service operators (dashboards, role operator): name -> scrypt hash, like users.
    operators: dict[Ident, str] = {}
    api_keys: list[ApiKey] = []
    # SMS, push and phone lists of the site (e-mail lists are in [email]).
    channels: dict[Literal["sms", "push", "phone"], ChannelConfig] = {}
    # China's cross-border filing thresholds (people per calendar year whose information went
    # abroad), per separate-item kind; the dashboards warn from `filing_warn_at` of each.
    filing_thresholds: dict[Literal["cross_border", "sensitive", "third_party"],
                            list[Annotated[int, Field(gt=0)]]] = {
        "cross_border": [100_000, 1_000_000], "sensitive": [10_000]}
    filing_warn_at: Annotated[float, Field(gt=0, le=1)] = 0.8
    retention_days: Annotated[int, Field(gt=0)] = 1095
    # Days after a person's account closure each category of their events is kept, then
    # anonymised by `consentry purge` (cmp/people.py RETENTION_CATEGORIES says which events
    # are which); a category not given is kept `default` days (0: at the next purge).
    retention_after_closure: dict[Literal["cross_border", "browsers", "marketing", "default"],
                                  Annotated[int, Field(ge=0, le=36500)]] = {}
    cookie: CookieConfig = CookieConfig()
    texts: dict[str, LText]
    purposes: dict[Ident, Purpose]
    vendors: dict[Ident, Vendor] = {}
    separate: dict[Ident, SeparateItem] = {}
    regions: Regions = Regions()
    consent_mode: ConsentModeConfig = ConsentModeConfig()
    email: EmailConfig | None = None
    tags: dict[Ident, Tag] = {}
    beacon: BeaconConfig | None = None
    # Browser capabilities behind consent: the banner's permissions module asks just in time,
    # before the browser's own prompt (static/js/permissions.js). Each names a purpose or a
    # (banner) separate item.
    permissions: dict[Capability, Ident] = {}
    requests: RequestsConfig = RequestsConfig()  # data-subject request cases (cmp/cases.py)
    # Impact assessments (PIPL Art. 55-56) of the cross-border and sensitive items
    # (`consentry check` warns when one is missing, older than 3 years or past its review).
    assessments: dict[Ident, Assessment] = {}

    @field_validator("languages")
    @classmethod
    def _distinct_languages(cls, v: list[str]) -> list[str]:
        # Tags are case-insensitive: "en" and "EN" would be one language with two texts.
        seen: set[str] = set()
        for lang in v:
            if lang.lower() in seen:
                raise ValueError(f"{lang!r} is listed twice (tags are case-insensitive)")
            seen.add(lang.lower())
        return v

    @field_validator("origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if not re.match(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$", o):
                raise ValueError(f"{o!r} is not an origin like https://www.example.com")
        return v

    @field_validator("admin_key_hashes")
    @classmethod
    def _hashes(cls, v: list[str]) -> list[str]:
        for h in v:
            if not re.match(r"^sha256:[0-9a-f]{64}$", h):
                raise ValueError("each entry must be 'sha256:' followed by 64 hex digits")
        return v

    @field_validator("users", "operators")
    @classmethod
    def _users(cls, v: dict[str, str]) -> dict[str, str]:
        for name, h in v.items():
            if not re.match(r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$", h):
                raise ValueError(f"{name}: must be 'scrypt$N$r$p$salt$key' as printed by "
                                 "`python -m dashboards.passwords` (never the password itself)")
        return v

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        problems: list[str] = []
        if self.default_language and self.default_language not in self.languages:
            problems.append(f"default_language: {self.default_language!r} is not in languages")
        if not any(p.necessary for p in self.purposes.values()):
            problems.append("purposes: a purpose with necessary = true is required")
        for vid, v in self.vendors.items():
            for p in v.purposes:
                if p not in self.purposes:
                    problems.append(f"vendors.{vid}.purposes: unknown purpose {p!r}")
        for p in self.consent_mode.mapping:
            if p not in self.purposes:
                problems.append(f"consent_mode.mapping.{p}: unknown purpose")
        for tid, t in self.tags.items():
            if t.vendor not in self.vendors:
                problems.append(f"tags.{tid}.vendor: unknown vendor {t.vendor!r}")
            for p in t.purposes:
                if p not in self.purposes:
                    problems.append(f"tags.{tid}.purposes: unknown purpose {p!r}")
            for x in t.separate:
                if x not in self.separate:
                    problems.append(f"tags.{tid}.separate: unknown separate item {x!r}")
                elif self.separate[x].per_recipient:
                    problems.append(f"tags.{tid}.separate: {x!r} is asked per recipient, in "
                                    "context; a tag cannot wait for it")
        if self.beacon is not None:
            if self.beacon.purpose not in self.purposes:
                problems.append(f"beacon.purpose: unknown purpose {self.beacon.purpose!r}")
            if self.beacon.vendor is not None and self.beacon.vendor not in self.vendors:
                problems.append(f"beacon.vendor: unknown vendor {self.beacon.vendor!r}")
        for cap, target in self.permissions.items():
            if target in self.purposes and target in self.separate:
                problems.append(f"permissions.{cap}: {target!r} is both a purpose and a separate "
                                "item; rename one")
            elif target in self.separate and self.separate[target].per_recipient:
                problems.append(f"permissions.{cap}: {target!r} is asked per recipient, in "
                                "context; a permission needs a purpose or a banner item")
            elif target not in self.purposes and target not in self.separate:
                problems.append(f"permissions.{cap}: unknown purpose or separate item {target!r}")
        for aid, a in self.assessments.items():
            for x in a.scope.separate:
                if x not in self.separate:
                    problems.append(f"assessments.{aid}.scope.separate: unknown separate item "
                                    f"{x!r}")
        names = [k.name for k in self.api_keys]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"api_keys: the name {name!r} is used twice")
        for name in sorted(set(self.users) & set(self.operators)):
            problems.append(f"operators.{name}: also a user; a person has one role")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def channel_lists(self, channel: str) -> dict[str, str]:
        """The list (topic) ids of a channel -> their title in the default language."""
        if channel == "email":
            lists = {k: v.title for k, v in self.email.lists.items()} if self.email else {}
        else:
            c = self.channels.get(channel)  # type: ignore[call-overload]
            lists = {k: v.title for k, v in c.lists.items()} if c else {}
        return {k: t.get(self.lang_default, k) for k, t in lists.items()}

    @cached_property
    def banner_separate(self) -> dict[str, SeparateItem]:
        """The separate items the banner asks; per-recipient ones are asked in context only."""
        return {sid: s for sid, s in self.separate.items() if not s.per_recipient}

    @property
    def lang_default(self) -> str:
        return self.default_language or self.languages[0]

    @cached_property
    def tag_catalog(self) -> list[tuple[str, Tag]]:
        """Tags in load order: by `order`, then as declared."""
        return [(tid, t) for _, _, tid, t in sorted(
            (t.order, i, tid, t) for i, (tid, t) in enumerate(self.tags.items()))]

    def tag_purposes(self, tag: Tag) -> list[str]:
        return tag.purposes or self.vendors[tag.vendor].purposes

    @cached_property
    def rule(self) -> GrantSite:
        """This site as the grant rule (cmp.grants) sees it, built once per config."""
        b = self.beacon_config
        return GrantSite(
            purposes={pid: PurposeRule(p.necessary, p.gpc, p.default)
                      for pid, p in self.purposes.items()},
            vendors={vid: tuple(v.purposes) for vid, v in self.vendors.items()},
            separate=tuple(self.banner_separate), revision=self.revision,
            tags=tuple(TagRule(tid, t.vendor, tuple(self.tag_purposes(t)), tuple(t.separate))
                       for tid, t in self.tag_catalog),
            beacon=(b.purpose, b.vendor) if b else None)

    @property
    def beacon_config(self) -> BeaconConfig | None:
        """The beacon settings; None when the site has no such purpose (beacon off)."""
        b = self.beacon or BeaconConfig()
        return b if b.purpose in self.purposes else None

    @cached_property
    def _shown(self) -> dict[str, tuple[dict[str, Any], str]]:
        # The config is frozen, so each language's texts and hash are computed once, not on
        # every consent (hashing every vendor text per request cost ~0.2 ms).
        out = {}
        for lang in self.languages:
            texts = self._texts_for(lang)
            out[lang] = (texts, hashlib.sha256(canonical_json(texts)).hexdigest())
        return out

    def texts_for(self, lang: str) -> dict[str, Any]:
        """Everything shown to a visitor in one language: what the texts hash proves.

        Shared and cached: treat the result as read-only."""
        cached = self._shown.get(lang)
        return cached[0] if cached else self._texts_for(lang)

    def texts_hash(self, lang: str) -> str:
        cached = self._shown.get(lang)
        return cached[1] if cached else hashlib.sha256(canonical_json(self._texts_for(lang))).hexdigest()

    def _texts_for(self, lang: str) -> dict[str, Any]:

        def pick(t: LText) -> str:
            return t.get(lang, "")

        return {
            "revision": self.revision,
            "language": lang,
            "banner": {k: pick(v) for k, v in sorted(self.texts.items())},
            "purposes": {
                pid: {"title": pick(p.title), "description": pick(p.description)}
                for pid, p in self.purposes.items()
            },
            "vendors": {
                vid: {
                    "name": v.name,
                    "description": pick(v.description),
                    "purposes": v.purposes,
                    "recipient": v.recipient,
                    "country": v.country,
                    "privacy_url": v.privacy_url,
                    "data_categories": v.data_categories,
                }
                for vid, v in self.vendors.items()
            },
            "separate": {
                sid: {
                    "kind": str(s.kind),
                    "title": pick(s.title),
                    "description": pick(s.description),
                    "recipient": s.recipient,
                    "countries": s.countries,
                    "recipient_contact": s.recipient_contact,
                    "purpose": pick(s.purpose),
                    "method": pick(s.method),
                    "data_categories": s.data_categories,
                    "rights": pick(s.rights),
                }
                for sid, s in self.banner_separate.items()
            },
        }


class Config(_Strict):
    regimes: dict[Ident, RegimeDef] = {}
    sites: Annotated[dict[Ident, SiteConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _regimes_known(self) -> Config:
        known = self.all_regimes
        problems = []
        for sid, site in self.sites.items():
            if site.regions.default not in known:
                problems.append(f"sites.{sid}.regions.default: unknown regime {site.regions.default!r}")
            for i, rule in enumerate(site.regions.rules):
                if rule.regime not in known:
                    problems.append(f"sites.{sid}.regions.rules.{i}.regime: unknown regime {rule.regime!r}")
            req = site.requests
            for r in [*([req.default_regime] if req.default_regime else []), *req.deadlines]:
                if r not in known:
                    problems.append(f"sites.{sid}.requests: unknown regime {r!r}")
            for r in site.email.tracking_without_consent if site.email else ():
                if r not in known:
                    problems.append(f"sites.{sid}.email.tracking_without_consent: unknown regime {r!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def all_regimes(self) -> dict[str, RegimeDef]:
        return {**BUILTIN_REGIMES, **self.regimes}


def canonical_json(obj: Any) -> bytes:
    """The one serialisation hashed anywhere in Consentry (sorted keys, no spaces, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# "sub.key: problem" from a cross-reference check, not a message that merely quotes a ": ".
_SUBKEY_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*: ")


_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$|^\[key\]$")


def _key(part: str | int) -> str:
    # A key that is not a bare TOML key (a dot, a space, a newline, markup) is shown quoted,
    # as TOML writes it, so the path stays one line and says exactly which key is meant.
    text = str(part)
    return text if _BARE_KEY_RE.match(text) else json.dumps(text, ensure_ascii=False)


def _format_errors(exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for err in exc.errors():
        path = ".".join(_key(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        # Cross-reference checks report several "sub.key: problem" lines at once.
        for line in msg.split("\n"):
            sub = _SUBKEY_RE.match(line) and err["type"] == "value_error"
            full = f"{path}.{line}" if path and sub else (
                f"{path}: {line}" if path else line
            )
            out.append(prefix + full)
    return out


def parse_config(data: dict[str, Any], *, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: not valid TOML ({exc})"]) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays/tables
        raise ConfigError([f"{p}: not valid TOML (nested too deeply)"]) from None
    data.pop("server", None)  # server settings are read by cmp.settings
    return parse_config(data, source=str(p))


def demo_config_path() -> Path:
    return Path(__file__).parent / "data" / "demo.toml"
