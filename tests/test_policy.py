"""Policy engine: where the visitor is, which regime and language apply, and the defaults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from cmp.config import BUILTIN_REGIMES, ConfigError, SiteConfig, parse_config
from cmp.geo import CountryLookup, truncate_ip
from cmp.policy import Decision, PolicyEngine
from cmp.settings import Settings
from cmp.types import Model, Visitor

# Documentation and shared address ranges, each assigned to a country in the test database only.
NETWORKS: dict[str, list[str]] = {
    "DE": ["192.0.2.0/24", "2001:db8:de::/48"],
    "CN": ["198.51.100.0/24", "2001:db8:c0::/48"],
    "US": ["203.0.113.0/24"],
    "BR": ["100.64.0.0/16"],
}
CONTINENTS = {"DE": "EU", "CN": "AS", "US": "NA", "BR": "SA"}
EU_MEMBERS = {"DE"}


def _record(iso: str) -> dict[str, Any]:
    return {
        "country": {
            "iso_code": iso,
            "names": {"en": iso},
            "is_in_european_union": iso in EU_MEMBERS,
        },
        "continent": {"code": CONTINENTS[iso], "names": {"en": CONTINENTS[iso]}},
    }


@pytest.fixture(scope="module")
def mmdb(tmp_path_factory: pytest.TempPathFactory) -> str:
    # An IPv6 database holding IPv4 too, as MaxMind ships them; mmdb-writer files IPv4 under
    # ::/96, so a mapped ::ffff:a.b.c.d lookup only succeeds if it is converted first.
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-Country",
        languages=["en"],
        description="Consentry test countries",
    )
    for iso, nets in NETWORKS.items():
        writer.insert_network(IPSet(nets), _record(iso))
    path = tmp_path_factory.mktemp("geo") / "countries.mmdb"
    writer.to_db_file(str(path))
    return str(path)


def _purpose(title: str, **flags: bool) -> dict[str, Any]:
    return {"title": {"en": title, "zh-CN": title}, **flags}


SITE: dict[str, Any] = {
    "name": "Shop",
    "languages": ["en", "zh-CN", "de"],
    "texts": {"title": {"en": "Privacy", "zh-CN": "隐私", "de": "Datenschutz"}},
    "purposes": {
        "necessary": _purpose("Necessary", necessary=True),
        "analytics": _purpose("Analytics"),
        "marketing": _purpose("Marketing", gpc=True),
    },
    "vendors": {
        "cdn": {"name": "CDN", "purposes": ["necessary"]},
        "stats": {"name": "Stats", "purposes": ["analytics"]},
        "ads": {"name": "Ads", "purposes": ["analytics", "marketing"]},
    },
    "separate": {
        "xborder": {
            "kind": "cross_border",
            "title": {"en": "Transfer abroad"},
            "countries": ["US"],
        },
    },
    "regions": {
        "default": "notice",
        "rules": [
            {"match": ["EU"], "regime": "gdpr"},
            {"match": ["CN"], "regime": "pipl"},
            {"match": ["US"], "regime": "notice"},
            {"match": ["US-CA", "US-CO"], "regime": "us_optout"},
            {"match": ["DE"], "regime": "strict_de"},
        ],
    },
}


@pytest.fixture(scope="module")
def config_data() -> dict[str, Any]:
    return {
        "regimes": {"strict_de": {"model": "opt_in", "strictness": 35}},
        "sites": {
            "shop": SITE,
            "plain": {
                **SITE,
                "separate": {},
                "regions": {
                    "default": "us_optout",
                    "rules": [
                        {"match": ["EEA"], "regime": "gdpr"},
                    ],
                },
            },
        },
    }


@pytest.fixture()
def engine(config_data: dict[str, Any], mmdb: str) -> Iterator[PolicyEngine]:
    eng = PolicyEngine(parse_config(config_data), Settings(geoip_database=mmdb))
    yield eng
    eng.close()


@pytest.fixture()
def no_db(config_data: dict[str, Any]) -> PolicyEngine:
    return PolicyEngine(parse_config(config_data), Settings())


def site(engine: PolicyEngine, sid: str = "shop") -> SiteConfig:
    return engine.config.sites[sid]


# --- country lookup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("192.0.2.77", "DE"),
        ("198.51.100.1", "CN"),
        ("203.0.113.9", "US"),
        ("100.64.200.1", "BR"),
        ("2001:db8:de:1::5", "DE"),
        ("2001:db8:c0::1", "CN"),
        ("::ffff:198.51.100.1", "CN"),  # IPv4-mapped
        ("::FFFF:192.0.2.1", "DE"),
        (" 192.0.2.77 ", "DE"),
        ("10.0.0.1", None),  # not in the database
        ("2001:db8:ffff::1", None),
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_country_lookup(mmdb: str, ip: str | None, country: str | None) -> None:
    lookup = CountryLookup(mmdb)
    try:
        assert lookup.country(ip) == country
    finally:
        lookup.close()


def test_lookup_without_database_knows_nothing() -> None:
    for path in (None, ""):
        assert CountryLookup(path).country("192.0.2.1") is None


def test_missing_database_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^server\.geoip_database: cannot open"):
        CountryLookup(str(tmp_path / "nope.mmdb"))
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    with pytest.raises(ConfigError, match=r"server\.geoip_database"):
        CountryLookup(str(junk))


def test_engine_reports_missing_database(config_data: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="geoip_database"):
        PolicyEngine(parse_config(config_data), Settings(geoip_database=str(tmp_path / "x.mmdb")))


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:1234:5678::1", "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
        ("fe80::1%eth0", "fe80::"),
        ("nonsense", None),
        (None, None),
    ],
)
def test_truncate_ip(ip: str | None, truncated: str | None) -> None:
    assert truncate_ip(ip) == truncated


# --- locate -------------------------------------------------------------------------------------


def test_database_wins_over_header(engine: PolicyEngine) -> None:
    assert engine.locate(Visitor(ip="198.51.100.1", country="US", subdivision="CA")) == ("CN", None)


def test_header_used_when_database_does_not_know(engine: PolicyEngine, no_db: PolicyEngine) -> None:
    assert engine.locate(Visitor(ip="10.0.0.1", country="us", subdivision="ca")) == ("US", "CA")
    assert no_db.locate(Visitor(ip="192.0.2.1", country="BR")) == ("BR", None)
    assert no_db.locate(Visitor(country="US", subdivision="US-CA")) == ("US", "CA")
    assert no_db.locate(Visitor(country="US", subdivision="MX-CA")) == ("US", None)


def test_database_and_matching_header_keep_subdivision(engine: PolicyEngine) -> None:
    assert engine.locate(Visitor(ip="203.0.113.5", country="US", subdivision="CO")) == ("US", "CO")


@pytest.mark.parametrize("header", ["XX", "T1", "ZZ", "EU", "A1", "D", "DEU", "", None])
def test_non_countries_are_unknown(no_db: PolicyEngine, header: str | None) -> None:
    assert no_db.locate(Visitor(country=header, subdivision="CA")) == (None, None)


def test_kosovo_is_a_place(no_db: PolicyEngine) -> None:
    assert no_db.locate(Visitor(country="XK")) == ("XK", None)


# --- regime -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "subdivision", "regime"),
    [
        ("US", "CA", "us_optout"),  # subdivision beats country
        ("US", "CO", "us_optout"),
        ("US", "NY", "notice"),  # country rule
        ("US", None, "notice"),
        ("FR", None, "gdpr"),  # group
        ("DE", None, "strict_de"),  # country beats group, though listed after it
        ("CN", None, "pipl"),
        ("BR", None, "notice"),  # known, no rule: the default
        ("NO", None, "notice"),  # EEA but not EU
        (None, None, "pipl"),  # unknown: strictest referenced
        (None, "CA", "pipl"),
    ],
)
def test_regime_precedence(
    engine: PolicyEngine, country: str | None, subdivision: str | None, regime: str
) -> None:
    assert engine.regime_for(site(engine), country, subdivision) == regime


def test_unknown_place_uses_strictest_regime_the_site_references(engine: PolicyEngine) -> None:
    # "plain" never mentions pipl, so gdpr is the strictest it could mean.
    assert engine.regime_for(site(engine, "plain"), None, None) == "gdpr"
    assert engine.regime_for(site(engine, "plain"), "NO", None) == "gdpr"
    assert engine.regime_for(site(engine, "plain"), "US", "CA") == "us_optout"


def test_no_database_no_header_is_strictest(no_db: PolicyEngine) -> None:
    d = no_db.decide("shop", Visitor(ip="192.0.2.1"))
    assert (d.regime, d.country, d.model, d.separate_consent) == ("pipl", None, Model.OPT_IN, True)


# --- language -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "override", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh-CN"),
        ("zh", None, "zh-CN"),
        ("zh-Hans-CN", None, "zh-CN"),
        ("ZH-cn", None, "zh-CN"),
        ("zh_CN", None, "zh-CN"),
        ("fr;q=1, en;q=0.5, de;q=0.8", None, "de"),  # q-values, not position
        ("en;q=0.2, de", None, "de"),
        ("de;q=0, en;q=0.1", None, "en"),  # q=0 means not acceptable
        ("en-US,en;q=0.9", None, "en"),
        ("de-AT;q=0.9, en;q=0.8", None, "de"),
        ("fr, ja", None, "en"),  # nothing matches: site default
        ("*", None, "en"),
        ("", None, "en"),
        (None, None, "en"),
        ("de;q=abc, garbage;;;, zh;q=0.3", None, "zh-CN"),
        ("zh-CN", "de", "de"),  # override wins
        ("zh-CN", "zh", "zh-CN"),
        ("de", "fr", "de"),  # unsupported override ignored
    ],
)
def test_language(
    engine: PolicyEngine, header: str | None, override: str | None, lang: str
) -> None:
    assert engine.language_for(site(engine), header, override) == lang


def test_chinese_script_picks_the_variant() -> None:
    data = {"sites": {"s": {**SITE, "languages": ["zh-CN", "zh-TW", "en"], "regions": {}}}}
    eng = PolicyEngine(parse_config(data), Settings())
    s = eng.config.sites["s"]
    assert eng.language_for(s, "zh-Hant") == "zh-TW"
    assert eng.language_for(s, "zh-HK") == "zh-TW"
    assert eng.language_for(s, "zh-Hans-SG") == "zh-CN"
    assert eng.language_for(s, "zh") == "zh-CN"


def test_default_language_setting() -> None:
    data = {"sites": {"s": {**SITE, "default_language": "de", "regions": {}}}}
    eng = PolicyEngine(parse_config(data), Settings())
    assert eng.language_for(eng.config.sites["s"], "fr") == "de"


# --- defaults -----------------------------------------------------------------------------------


def test_opt_in_grants_only_necessary(engine: PolicyEngine) -> None:
    for regime in ("gdpr", "pipl"):
        c = engine.defaults(site(engine), BUILTIN_REGIMES[regime], gpc=False)
        assert c.purposes == {"necessary": True, "analytics": False, "marketing": False}
        # A vendor serving only necessary purposes runs; the others wait for consent.
        assert c.vendors == {"cdn": True, "stats": False, "ads": False}
        assert c.separate == {"xborder": False}


def test_opt_out_and_notice_grant_until_refused(engine: PolicyEngine) -> None:
    for regime in ("us_optout", "notice"):
        c = engine.defaults(site(engine), BUILTIN_REGIMES[regime], gpc=False)
        assert c.purposes == {"necessary": True, "analytics": True, "marketing": True}
        assert c.vendors == {"cdn": True, "stats": True, "ads": True}
        assert c.separate == {"xborder": False}  # separate items always need their own action


def test_gpc_turns_marketing_off_in_every_regime(engine: PolicyEngine) -> None:
    c = engine.defaults(site(engine), BUILTIN_REGIMES["us_optout"], gpc=True)
    assert c.purposes == {"necessary": True, "analytics": True, "marketing": False}
    assert c.vendors == {"cdn": True, "stats": True, "ads": False}
    c = engine.defaults(site(engine), BUILTIN_REGIMES["gdpr"], gpc=True)
    assert c.purposes == {"necessary": True, "analytics": False, "marketing": False}
    assert c.vendors["ads"] is False


def test_vendor_without_purposes_is_not_granted() -> None:
    data = {
        "sites": {"s": {**SITE, "vendors": {"odd": {"name": "Odd", "purposes": []}}, "regions": {}}}
    }
    eng = PolicyEngine(parse_config(data), Settings())
    c = eng.defaults(eng.config.sites["s"], BUILTIN_REGIMES["notice"], gpc=False)
    assert c.vendors == {"odd": False}


# --- decide -------------------------------------------------------------------------------------


def test_decide_california_with_gpc(engine: PolicyEngine) -> None:
    v = Visitor(
        ip="203.0.113.10",
        country="US",
        subdivision="CA",
        gpc=True,
        accept_language="en-US,en;q=0.9",
    )
    assert engine.decide("shop", v) == Decision(
        site="shop",
        regime="us_optout",
        model=Model.OPT_OUT,
        separate_consent=False,
        gpc_binding=True,
        country="US",
        subdivision="CA",
        gpc=True,
        language="en",
        defaults=engine.defaults(site(engine), BUILTIN_REGIMES["us_optout"], gpc=True),
    )
    assert engine.decide("shop", v).defaults.purposes["marketing"] is False


def test_decide_china_over_mapped_ipv6(engine: PolicyEngine) -> None:
    d = engine.decide(
        "shop", Visitor(ip="::ffff:198.51.100.20", accept_language="zh-CN,zh;q=0.9,en;q=0.8")
    )
    assert (d.regime, d.country, d.language, d.separate_consent) == ("pipl", "CN", "zh-CN", True)
    assert d.defaults.separate == {"xborder": False}
    assert (
        engine.decide("shop", Visitor(ip="2001:db8:de::1"), lang_override="de").regime
        == "strict_de"
    )


def test_decide_unknown_site(engine: PolicyEngine) -> None:
    with pytest.raises(KeyError, match="nope"):
        engine.decide("nope", Visitor())
