"""Each lint rule fires on a config built to break it, naming the key path; shipped configs pass."""

from __future__ import annotations

import copy
import hashlib
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cmp.adminkeys import PLACEHOLDER_HASH, check_admin_key, generate_admin_key, hash_admin_key
from cmp.config import demo_config_path, load_config, parse_config
from cmp.lint import lint
from cmp.settings import Settings

STARTER = Path(__file__).resolve().parents[1] / "cmp" / "data" / "starter.toml"
_BASE = tomllib.loads(STARTER.read_text("utf-8"))

Site = dict[str, Any]


def lint_with(change: Callable[[Site], None], settings: Settings | None = None,
              regimes: dict[str, Any] | None = None) -> list[str]:
    data = copy.deepcopy(_BASE)
    data.pop("server", None)
    if regimes:
        data["regimes"] = regimes
    change(data["sites"]["example"])
    return lint(parse_config(data), settings)


def only(lines: list[str], prefix: str) -> str:
    """The single line starting with `prefix` (and fail showing all lines otherwise)."""
    hits = [line for line in lines if line.startswith(prefix)]
    assert len(hits) == 1, lines
    return hits[0]


# --- shipped configs -------------------------------------------------------------------------

DEMO_ADMIN_LINE = (
    "sites.demo.admin_key_hashes: none set, so nobody can open the dashboard or the admin API "
    "(make one with cmp.adminkeys.generate_admin_key)"
)


# The shipped assessments are dated 2026-11-20 with a review a year later: judged on a day
# inside that year, so these tests do not start failing when the calendar moves on.
SHIPPED_DAY = date(2026, 12, 2)


def test_demo_lints_clean_but_for_its_runtime_admin_key() -> None:
    # The demo ships without admin hashes on purpose: `consentry demo` generates and prints a
    # key at start-up. So the only line is the admin-key one, and it disappears once added.
    cfg = load_config(demo_config_path())
    assert lint(cfg, today=SHIPPED_DAY) == [DEMO_ADMIN_LINE]
    _, digest = generate_admin_key()
    site = cfg.sites["demo"].model_copy(update={"admin_key_hashes": [digest]})
    assert lint(cfg.model_copy(update={"sites": {"demo": site}}), today=SHIPPED_DAY) == []


def test_starter_lints_clean() -> None:
    assert lint(load_config(STARTER), today=SHIPPED_DAY) == []
    assert lint(load_config(STARTER), Settings(), today=SHIPPED_DAY) == []


def test_clean_base() -> None:
    assert lint_with(lambda s: None) == []


# --- first layer: reject option, required texts ----------------------------------------------


def test_reject_all_missing() -> None:
    lines = lint_with(lambda s: s["texts"].pop("reject_all"))
    assert only(lines, "sites.example.texts.reject_all: missing").endswith(
        "the first layer must offer refusing as plainly as accepting"
    )


def test_reject_all_empty_in_one_language() -> None:
    lines = lint_with(lambda s: s["texts"]["reject_all"].update(fr="  "))
    assert lines == [
        "sites.example.texts.reject_all.fr: empty: the first layer must offer refusing as plainly as accepting"
    ]


def test_required_text_missing() -> None:
    lines = lint_with(lambda s: s["texts"].pop("close"))
    assert lines == ["sites.example.texts.close: missing (a required banner text)"]


# --- every text in every language, and only those --------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["texts"]["title"].pop("fr"), "sites.example.texts.title.fr: missing"),
        (lambda s: s["texts"]["privacy_policy"].pop("en"), "sites.example.texts.privacy_policy.en: missing"),
        (lambda s: s["purposes"]["analytics"]["title"].pop("fr"),
         "sites.example.purposes.analytics.title.fr: missing"),
        (lambda s: s["purposes"]["analytics"].pop("description"),
         "sites.example.purposes.analytics.description: missing in every language (en, fr)"),
        (lambda s: s["vendors"]["meta_pixel"]["description"].update(en=""),
         "sites.example.vendors.meta_pixel.description.en: empty"),
        (lambda s: s["separate"]["overseas_support"]["title"].pop("fr"),
         "sites.example.separate.overseas_support.title.fr: missing"),
        (lambda s: s["separate"]["overseas_support"]["method"].pop("fr"),
         "sites.example.separate.overseas_support.method.fr: missing"),
    ],
)
def test_text_missing_in_a_language(change: Callable[[Site], None], expected: str) -> None:
    assert lint_with(change) == [expected]


def test_text_in_a_language_the_site_lacks() -> None:
    lines = lint_with(lambda s: s["purposes"]["marketing"]["title"].update(de="Werbung"))
    assert lines == [
        "sites.example.purposes.marketing.title.de: 'de' is not one of the site's languages (en, fr)"
    ]


# --- nothing pre-granted under opt-in --------------------------------------------------------


def test_default_granted_under_opt_in() -> None:
    line = only(lint_with(lambda s: s["purposes"]["analytics"].update(default=True)),
                "sites.example.purposes.analytics.default: ")
    assert "gdpr, pipl" in line  # names the opt-in regimes in play


def test_default_granted_under_custom_opt_in_regime_names_it() -> None:
    def change(s: Site) -> None:
        s["regions"] = {"default": "lgpd", "rules": []}
        s["purposes"]["analytics"]["default"] = True

    line = only(lint_with(change, regimes={"lgpd": {"model": "opt_in"}}),
                "sites.example.purposes.analytics.default: ")
    assert "lgpd" in line


def test_default_granted_is_fine_on_an_opt_out_only_site() -> None:
    def change(s: Site) -> None:
        s["regions"] = {"default": "us_optout", "rules": []}
        s["purposes"]["analytics"]["default"] = True

    assert lint_with(change) == []


# --- cookie lifetimes ------------------------------------------------------------------------


def test_accept_days_over_maximum() -> None:
    lines = lint_with(lambda s: s["cookie"].update(accept_days=500))
    assert lines == ["sites.example.cookie.accept_days: 500 days exceeds the 395-day maximum"]


def test_reject_days_over_maximum_and_over_accept() -> None:
    lines = lint_with(lambda s: s["cookie"].update(reject_days=400))
    assert lines == [
        "sites.example.cookie.reject_days: 400 days exceeds the 395-day maximum",
        "sites.example.cookie.reject_days: 400 days exceeds accept_days (365); "
        "a refusal must not be held longer than a consent",
    ]


def test_maximum_comes_from_settings() -> None:
    lines = lint_with(lambda s: None, Settings(max_lifetime_days=200))
    assert lines == ["sites.example.cookie.accept_days: 365 days exceeds the 200-day maximum"]


def test_reject_longer_than_accept() -> None:
    lines = lint_with(lambda s: s["cookie"].update(accept_days=90))
    assert only(lines, "sites.example.cookie.reject_days: 180 days exceeds accept_days (90)")


# --- necessary purposes and GPC --------------------------------------------------------------


def test_necessary_purpose_with_gpc() -> None:
    lines = lint_with(lambda s: s["purposes"]["necessary"].update(gpc=True))
    assert lines == [
        "sites.example.purposes.necessary.gpc: a necessary purpose cannot be switched off, "
        "so GPC cannot apply to it"
    ]


def test_necessary_purpose_granting_ads_in_consent_mode() -> None:
    lines = lint_with(lambda s: s["consent_mode"]["mapping"].update(necessary=["security_storage", "ad_storage"]))
    assert only(lines, "sites.example.consent_mode.mapping.necessary: ").count("ad_storage") == 1


def test_ad_purpose_without_gpc_where_gpc_binds() -> None:
    lines = lint_with(lambda s: s["purposes"]["marketing"].update(gpc=False))
    line = only(lines, "sites.example.purposes.marketing.gpc: ")
    assert "us_optout" in line and "ad_storage" in line


def test_ad_purpose_without_gpc_is_not_flagged_where_gpc_does_not_bind() -> None:
    def change(s: Site) -> None:
        s["purposes"]["marketing"]["gpc"] = False
        s["regions"]["rules"] = [r for r in s["regions"]["rules"] if r["regime"] != "us_optout"]

    assert lint_with(change) == []


# --- vendors ---------------------------------------------------------------------------------


def test_vendor_without_recipient_or_country() -> None:
    def change(s: Site) -> None:
        del s["vendors"]["google_analytics"]["recipient"]
        del s["vendors"]["google_analytics"]["country"]

    lines = lint_with(change)
    assert [line.split(":")[0] for line in lines] == [
        "sites.example.vendors.google_analytics.recipient",
        "sites.example.vendors.google_analytics.country",
    ]


def test_vendor_without_purposes_is_refused() -> None:
    lines = lint_with(lambda s: s["vendors"]["google_analytics"].update(purposes=[]))
    assert only(lines, "sites.example.vendors.google_analytics.purposes: ").endswith(
        "(list 'necessary' if it needs no consent)")


# --- PIPL separate-consent items -------------------------------------------------------------


def test_cross_border_without_recipient_or_country() -> None:
    def change(s: Site) -> None:
        del s["separate"]["overseas_support"]["recipient"]
        s["separate"]["overseas_support"]["countries"] = []

    lines = lint_with(change)
    assert lines == [
        "sites.example.separate.overseas_support.recipient: missing; PIPL Art. 39 requires it for a cross_border item",
        "sites.example.separate.overseas_support.countries: missing; PIPL Art. 39 requires it for a cross_border item",
    ]


def test_cross_border_without_rights() -> None:
    lines = lint_with(lambda s: s["separate"]["overseas_support"].pop("rights"))
    assert lines == [
        "sites.example.separate.overseas_support.rights: missing; PIPL Art. 39 requires it for a cross_border item"
    ]


def test_cross_border_to_china() -> None:
    lines = lint_with(lambda s: s["separate"]["overseas_support"].update(countries=["IE", "CN"]))
    assert lines == ["sites.example.separate.overseas_support.countries: CN is not a cross-border destination"]


def test_third_party_without_contact() -> None:
    def change(s: Site) -> None:
        item = s["separate"]["overseas_support"]
        item["kind"] = "third_party"
        del item["recipient_contact"]

    assert lint_with(change) == [
        "sites.example.separate.overseas_support.recipient_contact: missing; "
        "PIPL Art. 23 requires it for a third_party item"
    ]


def test_sensitive_item_needs_purpose_and_categories() -> None:
    def change(s: Site) -> None:
        item = s["separate"]["overseas_support"]
        item["kind"] = "sensitive"
        del item["purpose"], item["data_categories"]

    assert [line.split(":")[0] for line in lint_with(change)] == [
        "sites.example.separate.overseas_support.purpose",
        "sites.example.separate.overseas_support.data_categories",
    ]


# --- admin keys ------------------------------------------------------------------------------


def test_no_admin_key() -> None:
    lines = lint_with(lambda s: s.update(admin_key_hashes=[]))
    assert [line.split(":")[0] for line in lines] == ["sites.example.admin_key_hashes"]


# --- cmp.adminkeys ---------------------------------------------------------------------------


def test_hash_format() -> None:
    assert hash_admin_key("abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


def test_generate_and_check_roundtrip() -> None:
    key, digest = generate_admin_key()
    assert len(key) >= 43 and digest == hash_admin_key(key)
    other_key, other = generate_admin_key()
    assert key != other_key
    assert check_admin_key(key, [digest])
    assert check_admin_key(key, [other, digest])  # any listed hash may match
    assert not check_admin_key(key, [other])
    assert not check_admin_key(key + "x", [digest])
    assert not check_admin_key(key, [])


def test_empty_key_never_matches() -> None:
    assert not check_admin_key("", [hash_admin_key("")])
    assert not check_admin_key(None, [hash_admin_key("")])


def test_malformed_stored_hash_does_not_raise() -> None:
    key, digest = generate_admin_key()
    assert check_admin_key(key, ["sha256:ünïcode", digest])
    assert not check_admin_key(key, ["sha256:ünïcode"])


def test_starter_carries_the_placeholder_init_replaces() -> None:
    site = load_config(STARTER).sites["example"]
    assert site.admin_key_hashes == [PLACEHOLDER_HASH]
    assert STARTER.read_text("utf-8").count(PLACEHOLDER_HASH) == 1
