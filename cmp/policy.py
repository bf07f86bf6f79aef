"""The policy engine: which regime applies to this visitor, in which language, with which defaults.

Pure domain code: it sees a `Visitor` (already read from the request by the HTTP layer) and the
site config, never a request object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cmp.config import LANG_TAG_RE, REGION_GROUPS, Config, RegimeDef, SiteConfig
from cmp.geo import CountryLookup
from cmp.grants import Action, choose
from cmp.settings import Settings
from cmp.types import Choices, Model, Visitor

_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_SUBDIVISION_RE = re.compile(r"^[A-Z0-9]{1,3}$")

# Chinese variants differ by script, and browsers often send only a region (zh-TW) or only a
# script (zh-Hant): infer the missing one so zh-Hant finds zh-TW and zh-Hans-CN finds zh-CN.
_IMPLIED_SCRIPT: dict[tuple[str, str], str] = {
    ("zh", "cn"): "hans",
    ("zh", "sg"): "hans",
    ("zh", "tw"): "hant",
    ("zh", "hk"): "hant",
    ("zh", "mo"): "hant",
}


@dataclass(frozen=True, slots=True)
class Decision:
    site: str
    regime: str  # regime id, e.g. "gdpr", "pipl", "us_optout"
    model: Model
    separate_consent: bool
    gpc_binding: bool
    country: str | None  # ISO 3166-1 alpha-2, None if unknown
    subdivision: str | None  # ISO 3166-2 suffix, e.g. "CA" for US-CA, None if unknown
    gpc: bool
    language: str
    defaults: Choices  # choices before the visitor has done anything


class PolicyEngine:
    def __init__(
        self, config: Config, settings: Settings, lookup: CountryLookup | None = None
    ) -> None:
        self.config = config
        self.settings = settings
        self.lookup = lookup if lookup is not None else CountryLookup(settings.geoip_database)
        self._regimes = config.all_regimes  # the property builds a new dict on every access
        self._defaults: dict[tuple[str, str, bool], Choices] = {}

    def close(self) -> None:
        self.lookup.close()

    def locate(self, visitor: Visitor) -> tuple[str | None, str | None]:
        """(country, subdivision). Our own database beats the CDN header when it knows the IP."""
        header_country = _country(visitor.country)
        country = _country(self.lookup.country(visitor.ip)) or header_country
        # The subdivision comes only from the CDN; pairing it with a country the CDN did not
        # report (e.g. our DE with its US + "CA") would invent a place like DE-CA.
        if country is None or header_country not in (None, country):
            return country, None
        return country, _subdivision(visitor.subdivision, country)

    def regime_for(self, site: SiteConfig, country: str | None, subdivision: str | None) -> str:
        if country is None:
            # Unknown place: protect as if the visitor were where the strictest law applies.
            referenced = [rule.regime for rule in site.regions.rules] + [site.regions.default]
            return max(referenced, key=lambda r: self._regimes[r].strictness)
        place = f"{country}-{subdivision}" if subdivision else None
        best_rank, best = 0, site.regions.default
        for rule in site.regions.rules:
            rank = max(_rank(code, country, place) for code in rule.match)
            if rank > best_rank:  # strictly greater: among equals, the first rule wins
                best_rank, best = rank, rule.regime
        return best

    def language_for(
        self, site: SiteConfig, accept_language: str | None, override: str | None = None
    ) -> str:
        # Always one of the site's languages: a requested tag only picks among them, and one
        # that is not a well-formed tag (markup, junk) is not considered at all.
        wanted = [override] if override else []
        for tag in [*wanted, *_accept_language_tags(accept_language or "")]:
            if not LANG_TAG_RE.fullmatch(tag.strip().replace("_", "-")):
                continue
            chosen = _match_language(site.languages, tag)
            if chosen:
                return chosen
        return site.lang_default

    def decide(self, site_id: str, visitor: Visitor, lang_override: str | None = None) -> Decision:
        site = self.config.sites.get(site_id)
        if site is None:
            raise KeyError(site_id)
        country, subdivision = self.locate(visitor)
        regime_id = self.regime_for(site, country, subdivision)
        regime = self._regimes[regime_id]
        return Decision(
            site=site_id,
            regime=regime_id,
            model=regime.model,
            separate_consent=regime.separate_consent,
            gpc_binding=regime.gpc_binding,
            country=country,
            subdivision=subdivision,
            gpc=visitor.gpc,
            language=self.language_for(site, visitor.accept_language, lang_override),
            defaults=self._cached_defaults(site_id, site, regime_id, visitor.gpc),
        )

    def _cached_defaults(self, site_id: str, site: SiteConfig, regime_id: str, gpc: bool) -> Choices:
        # The config is frozen, so defaults depend only on (site, regime, gpc): compute once.
        key = (site_id, regime_id, gpc)
        hit = self._defaults.get(key)
        if hit is None:
            hit = self._defaults[key] = self.defaults(site, self._regimes[regime_id], gpc)
        return hit

    def defaults(self, site: SiteConfig, regime: RegimeDef, gpc: bool) -> Choices:
        """Choices before any action: the grant rule's `defaults` under this regime's model."""
        return choose(site.rule, Action.DEFAULTS, model=regime.model, gpc=gpc)


def _country(raw: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code of a real place, or None.

    CDNs send placeholders for "don't know" (Cloudflare XX, Tor T1; MaxMind's old A1/A2/O1/EU/AP)
    and ISO leaves AA, QM-QZ, XA-XZ and ZZ to private use; treating those as places would pick
    the default regime instead of the strictest one.
    """
    if not raw:
        return None
    code = raw.strip().upper()
    if not _COUNTRY_RE.match(code) or code in ("AA", "ZZ", "EU", "AP"):
        return None
    if code[0] == "X" and code != "XK":  # XK: Kosovo, used by MaxMind and CDNs alike
        return None
    if code[0] == "Q" and code[1] >= "M":
        return None
    return code


def _subdivision(raw: str | None, country: str) -> str | None:
    """The ISO 3166-2 suffix ("CA"); accepts the full form ("US-CA") if its country agrees."""
    if not raw:
        return None
    code = raw.strip().upper()
    if "-" in code:
        prefix, _, code = code.partition("-")
        if prefix != country:
            return None
    return code if _SUBDIVISION_RE.match(code) else None


def _rank(code: str, country: str, place: str | None) -> int:
    """How specifically a rule code names the visitor's place (0: not at all)."""
    if place is not None and code == place:
        return 3
    if code == country:
        return 2
    if country in REGION_GROUPS.get(code, ()):
        return 1
    return 0


def _accept_language_tags(header: str) -> list[str]:
    """Language tags of an Accept-Language header, most preferred first (RFC 9110 12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for i, item in enumerate(header.split(",")):
        tag, *params = (s.strip() for s in item.split(";"))
        if not tag or tag == "*":
            continue  # "*" adds nothing: the site default is what is left anyway
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if 0.0 < q <= 1.0:  # q=0 means "not this one"; also drops nan and out-of-range junk
            weighted.append((-q, i, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _subtags(tag: str) -> tuple[str, str | None, str | None]:
    """(language, script, region) in lower case, with an implied script for Chinese."""
    parts = tag.replace("_", "-").lower().split("-")
    script = next((p for p in parts[1:] if len(p) == 4 and p.isalpha()), None)
    region = next(
        (p for p in parts[1:] if (len(p) == 2 and p.isalpha()) or (len(p) == 3 and p.isdigit())),
        None,
    )
    if script is None and region is not None:
        script = _IMPLIED_SCRIPT.get((parts[0], region))
    return parts[0], script, region


def _match_language(languages: list[str], tag: str) -> str | None:
    """The site language closest to one requested tag: exact, else the same primary language
    with the same script (worth more: it decides whether the text can be read) or region."""
    wanted = tag.strip().replace("_", "-").lower()
    for lang in languages:
        if lang.lower() == wanted:
            return lang
    primary, script, region = _subtags(wanted)
    best: str | None = None
    best_score = -1
    for lang in languages:
        l_primary, l_script, l_region = _subtags(lang)
        if l_primary != primary:
            continue
        score = 2 * (script is not None and script == l_script) + (
            region is not None and region == l_region
        )
        if score > best_score:  # among equals, the site's own order decides
            best, best_score = lang, score
    return best
