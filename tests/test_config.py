"""The shipped configs load and say what the customer's policy says; bad configs name the key."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cmp.config import (
    REQUIRED_TEXTS,
    Config,
    ConfigError,
    LText,
    SiteConfig,
    demo_config_path,
    load_config,
)
from cmp.settings import Settings
from cmp.types import SeparateKind

DATA = Path(__file__).resolve().parents[1] / "cmp" / "data"
STARTER = DATA / "starter.toml"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def demo() -> SiteConfig:
    return load_config(demo_config_path()).sites["demo"]


def all_ltexts(site: SiteConfig) -> dict[str, LText]:
    """Every translatable text of a site by key path."""
    out: dict[str, LText] = {f"texts.{k}": v for k, v in site.texts.items()}
    for pid, p in site.purposes.items():
        out[f"purposes.{pid}.title"] = p.title
        out[f"purposes.{pid}.description"] = p.description
    for vid, v in site.vendors.items():
        out[f"vendors.{vid}.description"] = v.description
    for sid, s in site.separate.items():
        for name in ("title", "description", "purpose", "method", "rights"):
            if getattr(s, name):
                out[f"separate.{sid}.{name}"] = getattr(s, name)
    return out


# --- the demo config -------------------------------------------------------------------------


def test_demo_site_basics(demo: SiteConfig) -> None:
    assert "Tuiqiqi" in demo.name
    assert demo.origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert demo.languages == ["en", "zh-CN"]
    assert (demo.cookie.accept_days, demo.cookie.reject_days) == (365, 180)
    assert set(REQUIRED_TEXTS) <= set(demo.texts)


def test_demo_purposes(demo: SiteConfig) -> None:
    p = demo.purposes
    assert {"necessary", "functional", "analytics", "marketing", "personalisation"} <= set(p)
    assert p["necessary"].necessary
    assert not any(x.necessary for k, x in p.items() if k in ("functional", "analytics", "marketing"))
    assert p["marketing"].gpc
    assert not any(x.default for x in p.values())


def test_demo_has_the_policys_vendors(demo: SiteConfig) -> None:
    required = {
        "netease_yidun", "tencent_cloud", "google_ads", "wechat", "sensors_data", "stripe",
        "alipay", "baidu_translate", "sdl", "transn", "ups", "4px", "youku", "microsoft", "eset",
        "tenpay", "cmb", "unionpay", "bestsign", "fadada", "fuiou",
    }
    assert required <= set(demo.vendors)
    for vid, v in demo.vendors.items():
        assert v.recipient and v.country and v.data_categories, vid
        assert v.purposes, vid
    for vid in required:
        assert demo.vendors[vid].privacy_url, vid
    assert "_gcl_*" in demo.vendors["google_ads"].cookies
    assert "IDE" in demo.vendors["google_ads"].cookies
    assert "sensorsdata2015jssdkcross" in demo.vendors["sensors_data"].cookies
    assert demo.vendors["google_ads"].purposes == ["marketing"]
    assert demo.vendors["sensors_data"].purposes == ["analytics"]
    assert demo.vendors["tencent_cloud"].recipient == "Tencent Technology (Shenzhen) Co., Ltd."


def test_demo_separate_items(demo: SiteConfig) -> None:
    s = demo.separate
    kinds = {sid: item.kind for sid, item in s.items()}
    assert kinds == {
        "overseas_buyers": SeparateKind.CROSS_BORDER,
        "overseas_storage": SeparateKind.CROSS_BORDER,
        "overseas_buyer_reply": SeparateKind.CROSS_BORDER,
        "facial_biometrics": SeparateKind.SENSITIVE,
        "buyer_contact": SeparateKind.THIRD_PARTY,
        "public_profile": SeparateKind.PUBLIC_DISCLOSURE,
    }
    buyers = s["overseas_buyers"]
    assert buyers.recipient == "Overseas buyers"
    assert buyers.recipient_contact and buyers.countries
    assert buyers.data_categories == ["email address", "IP address"]
    assert buyers.purpose and buyers.method and buyers.rights
    assert s["overseas_storage"].countries == ["DE", "US"]
    assert s["overseas_storage"].recipient
    assert "facial biometric information" in s["facial_biometrics"].data_categories
    assert s["buyer_contact"].recipient and "email address" in s["buyer_contact"].data_categories
    assert {"name", "gender", "position"} <= set(s["public_profile"].data_categories)


def test_demo_every_text_in_both_languages(demo: SiteConfig) -> None:
    texts = all_ltexts(demo)
    assert len(texts) > 60
    for path, t in texts.items():
        assert set(t) == {"en", "zh-CN"}, path
        assert t["en"].strip() and t["zh-CN"].strip(), path
        assert not CJK.search(t["en"]), f"{path}.en holds Chinese"
    # Chinese texts are Chinese (short labels such as "Cookie" may stay Latin).
    long_zh = [t["zh-CN"] for t in texts.values() if len(t["en"]) > 20]
    assert all(CJK.search(z) for z in long_zh)


def test_demo_regions_and_consent_mode(demo: SiteConfig) -> None:
    rules = {code: r.regime for r in demo.regions.rules for code in r.match}
    assert rules["CN"] == "pipl"
    assert all(rules[c] == "gdpr" for c in ("EU", "EEA", "GB", "CH"))
    assert all(rules[c] == "us_optout" for c in ("US", "US-CA", "US-CO", "US-VA", "US-CT", "US-TX", "US-OR"))
    assert demo.regions.default == "gdpr"
    assert demo.consent_mode.mapping == {
        "necessary": ["security_storage"],
        "functional": ["functionality_storage", "personalization_storage"],
        "analytics": ["analytics_storage"],
        "marketing": ["ad_storage", "ad_user_data", "ad_personalization"],
    }


def test_demo_texts_hash_differs_per_language(demo: SiteConfig) -> None:
    assert demo.texts_hash("en") != demo.texts_hash("zh-CN")


# --- the starter config ----------------------------------------------------------------------


def test_starter_loads() -> None:
    cfg = load_config(STARTER)
    site = next(iter(cfg.sites.values()))
    assert len(site.languages) == 2 and site.languages[0] == "en"
    assert len(site.vendors) == 2 and len(site.separate) == 1
    assert site.regions.rules and site.admin_key_hashes
    for path, t in all_ltexts(site).items():
        assert set(t) == set(site.languages) and all(v.strip() for v in t.values()), path


def test_starter_is_heavily_commented() -> None:
    lines = STARTER.read_text("utf-8").splitlines()
    assert sum(1 for line in lines if line.lstrip().startswith("#")) >= 40


@pytest.mark.parametrize("path", [demo_config_path(), STARTER])
def test_server_settings_load(path: Path) -> None:
    assert Settings.load(path).max_lifetime_days == 395


# --- load_config errors name the key path ----------------------------------------------------


def starter_data() -> dict[str, Any]:
    return tomllib.loads(STARTER.read_text("utf-8"))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    """Serialise a dict back to TOML (enough of TOML for these configs)."""
    import json

    def val(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {val(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, date):
            return v.isoformat()  # a TOML local date
        return json.dumps(v, ensure_ascii=False)

    lines = []
    for sid, site in data["sites"].items():
        lines.append(f"[sites.{sid}]")
        lines += [f"{json.dumps(k)} = {val(v)}" for k, v in site.items()]
    for rid, regime in data.get("regimes", {}).items():
        lines.append(f"[regimes.{rid}]")
        lines += [f"{json.dumps(k)} = {val(v)}" for k, v in regime.items()]
    p = tmp_path / "c.toml"
    p.write_text("\n".join(lines) + "\n", "utf-8")
    return p


def problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, data))
    return exc.value.problems


def test_roundtrip_helper_loads(tmp_path: Path) -> None:
    assert isinstance(load_config(write(tmp_path, starter_data())), Config)


def test_bad_type_names_key(tmp_path: Path) -> None:
    d = starter_data()
    d["sites"]["example"]["cookie"]["accept_days"] = "a year"
    assert problems(tmp_path, d)[0].startswith("sites.example.cookie.accept_days: ")


def test_unknown_key_names_key(tmp_path: Path) -> None:
    d = starter_data()
    d["sites"]["example"]["purposes"]["analytics"]["colour"] = "red"
    assert problems(tmp_path, d) == ["sites.example.purposes.analytics.colour: Extra inputs are not permitted"]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(STARTER.read_text("utf-8") + '\n[sitez.x]\nname = "x"\n', "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.problems == ["sitez: Extra inputs are not permitted"]


@pytest.mark.parametrize("origin", ["https://www.example.com/path", "www.example.com", "http://a: b"])
def test_bad_origin_names_key(tmp_path: Path, origin: str) -> None:
    d = starter_data()
    d["sites"]["example"]["origins"] = [origin]
    assert problems(tmp_path, d) == [
        f"sites.example.origins: {origin!r} is not an origin like https://www.example.com"
    ]


def test_unknown_vendor_purpose_names_key(tmp_path: Path) -> None:
    d = starter_data()
    d["sites"]["example"]["vendors"]["meta_pixel"]["purposes"] = ["ads"]
    assert problems(tmp_path, d) == ["sites.example.vendors.meta_pixel.purposes: unknown purpose 'ads'"]


def test_unknown_regime_names_key(tmp_path: Path) -> None:
    d = starter_data()
    d["sites"]["example"]["regions"]["rules"][1]["regime"] = "ccpa"
    d["sites"]["example"]["regions"]["default"] = "lgpd"
    assert sorted(problems(tmp_path, d)) == [
        "sites.example.regions.default: unknown regime 'lgpd'",
        "sites.example.regions.rules.1.regime: unknown regime 'ccpa'",
    ]


def test_custom_regime_is_known(tmp_path: Path) -> None:
    d = starter_data()
    d["regimes"] = {"lgpd": {"model": "opt_in", "strictness": 25}}
    d["sites"]["example"]["regions"]["rules"].append({"match": ["BR"], "regime": "lgpd"})
    assert "lgpd" in load_config(write(tmp_path, d)).all_regimes


def test_bad_consent_mode_type_names_key(tmp_path: Path) -> None:
    d = starter_data()
    d["sites"]["example"]["consent_mode"]["mapping"]["marketing"] = ["ads_storage"]
    assert problems(tmp_path, d) == [
        "sites.example.consent_mode.mapping.marketing: 'ads_storage' is not a Consent Mode type"
    ]


def test_missing_necessary_purpose(tmp_path: Path) -> None:
    d = starter_data()
    d["sites"]["example"]["purposes"]["necessary"]["necessary"] = False
    assert problems(tmp_path, d) == ["sites.example.purposes: a purpose with necessary = true is required"]


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text('[sites.x]\nname = "unterminated\n', "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    (line,) = exc.value.problems
    assert line.startswith(f"{p}: not valid TOML") and "line 2" in line


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "missing.toml")
    assert exc.value.problems[0].startswith(str(tmp_path / "missing.toml") + ": cannot read")


def test_server_table_is_not_site_config(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[server]\nmax_lifetime_days = 200\n' + STARTER.read_text("utf-8"), "utf-8")
    assert load_config(p).sites["example"]
    assert Settings.load(p).max_lifetime_days == 200
