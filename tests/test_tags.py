"""The tag catalog (config + lint), the tag gate GET /v1/sites/{site}/tags, and the middleware's
allowed_tags/may_track, against the real app over real SQLite with tokens from the real API."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cmp.config import ConfigError, demo_config_path, load_config, parse_config
from cmp.lint import lint
from cmp.middleware import ConsentMiddleware
from tests.conftest import MASTER_SECRET, build_services, running

CATALOG = ["yidun", "sensors", "gtag", "gtag_config", "wechat"]
DE = {"CF-IPCountry": "DE"}
CA = {"CF-IPCountry": "US", "CF-Region-Code": "CA"}


def demo_data() -> dict[str, Any]:
    return tomllib.loads(demo_config_path().read_text("utf-8"))


def with_tags(**tags: dict[str, Any]) -> dict[str, Any]:
    data = demo_data()
    data["sites"]["demo"]["tags"] = tags
    return data


async def consent(client: httpx.AsyncClient, headers: dict[str, str] | None = None,
                  **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/sites/demo/consent", headers=headers or DE,
                          json={"revision": 1, "language": "en", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def gate(client: httpx.AsyncClient, token: str | None = None, *, cookie: bool = False,
               **headers: str) -> dict[str, Any]:
    h = {**DE, **headers}
    if token:
        h["Cookie" if cookie else "Authorization"] = (
            f"consentry={token}" if cookie else f"Bearer {token}")
    client.cookies.clear()
    r = await client.get("/v1/sites/demo/tags", headers=h)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers["cache-control"]
    return dict(r.json())


def ids(doc: dict[str, Any]) -> list[str]:
    return [t["id"] for t in doc["tags"]]


def reasons(doc: dict[str, Any]) -> dict[str, str]:
    return {w["id"]: w["reason"] for w in doc["withheld"]}


# --- config and lint --------------------------------------------------------------------------

def test_demo_catalog_loads_in_declared_order_and_lints_clean() -> None:
    site = load_config(demo_config_path()).sites["demo"]
    assert [tid for tid, _ in site.tag_catalog] == CATALOG
    assert not [ln for ln in lint(load_config(demo_config_path())) if ".tags." in ln]


def test_order_field_sorts_before_declaration_order() -> None:
    cfg = parse_config(with_tags(a={"vendor": "sensors_data", "src": "/a.js", "order": 5},
                                 b={"vendor": "netease_yidun", "src": "/b.js"},
                                 c={"vendor": "wechat", "src": "/c.js", "order": -1}))
    assert [tid for tid, _ in cfg.sites["demo"].tag_catalog] == ["c", "b", "a"]


@pytest.mark.parametrize("tag,key,needle", [
    ({"vendor": "nobody", "src": "/x.js"}, "sites.demo.tags.x.vendor", "unknown vendor"),
    ({"vendor": "wechat"}, "sites.demo.tags.x", "exactly one of src or inline"),
    ({"vendor": "wechat", "src": "/x.js", "inline": "1"}, "sites.demo.tags.x", "exactly one"),
    ({"vendor": "wechat", "src": "//evil.example/x.js"}, "sites.demo.tags.x.src", "http(s) URL"),
    ({"vendor": "wechat", "src": "javascript:alert(1)"}, "sites.demo.tags.x.src", "http(s) URL"),
    ({"vendor": "wechat", "src": "/x.js", "attributes": {"onload": "x()"}},
     "sites.demo.tags.x.attributes", "'onload' is not allowed"),
    ({"vendor": "wechat", "src": "/x.js", "attributes": {"src": "/y.js"}},
     "sites.demo.tags.x.attributes", "'src' is not allowed"),
    ({"vendor": "wechat", "src": "/x.js", "purposes": ["nope"]},
     "sites.demo.tags.x.purposes", "unknown purpose"),
    ({"vendor": "wechat", "src": "/x.js", "consent_mode": ["ad_stuff"]},
     "sites.demo.tags.x.consent_mode", "not a Consent Mode type"),
    ({"vendor": "wechat", "src": "/x.js", "separate": ["nope"]},
     "sites.demo.tags.x.separate", "unknown separate item"),
])
def test_config_errors_name_the_key(tag: dict[str, Any], key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(with_tags(x=tag))
    assert any(p.startswith(key) and needle in p for p in exc.value.problems), exc.value.problems


def test_beacon_purpose_must_exist() -> None:
    data = demo_data()
    data["sites"]["demo"]["beacon"] = {"purpose": "stats"}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert any(p.startswith("sites.demo.beacon.purpose") for p in exc.value.problems)


@pytest.mark.parametrize("tag,key,needle", [
    ({"vendor": "google_ads", "src": "/x.js", "purposes": ["necessary"]},
     "sites.demo.tags.x.purposes", "run without consent"),
    ({"vendor": "google_ads", "src": "/x.js", "purposes": ["marketing", "analytics"]},
     "sites.demo.tags.x.purposes", "analytics not among the purposes of vendor"),
    ({"vendor": "sensors_data", "src": "/x.js", "consent_mode": ["ad_storage"]},
     "sites.demo.tags.x.consent_mode", "always sees 'denied'"),
    ({"vendor": "wechat", "src": "http://res.wx.qq.com/open/js/jweixin-1.6.0.js"},
     "sites.demo.tags.x.src", "plain http"),
    ({"vendor": "wechat", "inline": "a();</script><script>b()"},
     "sites.demo.tags.x.inline", "</script"),
])
def test_lint_flags_misdeclared_tags(tag: dict[str, Any], key: str, needle: str) -> None:
    problems = lint(parse_config(with_tags(x=tag)))
    assert any(p.startswith(key) and needle in p for p in problems), problems


def test_lint_flags_a_duplicate_script_and_a_necessary_beacon() -> None:
    data = with_tags(a={"vendor": "wechat", "src": "/w.js"}, b={"vendor": "wechat", "src": "/w.js"})
    data["sites"]["demo"]["beacon"] = {"purpose": "necessary"}
    problems = lint(parse_config(data))
    assert any(p.startswith("sites.demo.tags.b.src") and "load twice" in p for p in problems)
    assert any(p.startswith("sites.demo.beacon.purpose") for p in problems)


# --- the tag gate -------------------------------------------------------------------------------

async def test_no_choice_under_opt_in_gets_only_necessary_tags(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        doc = await gate(client)
    assert doc["basis"] == "defaults" and doc["regime"] == "gdpr"
    assert ids(doc) == ["yidun"]
    assert reasons(doc) == dict.fromkeys(CATALOG[1:], "no_consent")
    assert doc["tags"][0] == {"id": "yidun", "vendor": "netease_yidun",
                              "src": "/demo/static/yidun.js", "attributes": {},
                              "consent_mode": []}
    # a withheld tag is named, never handed out
    assert all("src" not in w and "inline" not in w for w in doc["withheld"])


async def test_accept_all_gets_every_tag_in_declared_order(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        rec = await consent(client, action="accept_all")
        for cookie in (False, True):
            doc = await gate(client, rec["token"], cookie=cookie)
            assert doc["basis"] == "consent" and doc["consent_id"] == rec["consent_id"]
            assert ids(doc) == CATALOG and doc["withheld"] == []
    inline = doc["tags"][3]
    assert "src" not in inline and inline["inline"].startswith('gtag("config"')


async def test_custom_choice_gets_exactly_its_tags_and_reasons(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        rec = await consent(client, action="custom", purposes={"analytics": True})
        doc = await gate(client, rec["token"])
    assert ids(doc) == ["yidun", "sensors"]
    assert reasons(doc) == {"gtag": "refused", "gtag_config": "refused", "wechat": "refused"}
    missing = {w["id"]: w["missing"] for w in doc["withheld"]}
    assert missing["gtag"] == ["marketing"] and missing["wechat"] == ["functional"]


async def test_vendor_refused_with_its_purpose_granted(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        rec = await consent(client, action="custom", purposes={"functional": True},
                            vendors={"wechat": False})
        doc = await gate(client, rec["token"])
    assert "wechat" not in ids(doc)
    assert {w["id"]: w["missing"] for w in doc["withheld"]}["wechat"] == ["wechat"]


async def test_gpc_withholds_marketing_tags_even_after_accept_all(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        rec = await consent(client, action="accept_all")
        doc = await gate(client, rec["token"], **{"Sec-GPC": "1"})
    assert ids(doc) == ["yidun", "sensors", "wechat"] and doc["gpc"] is True
    assert reasons(doc) == {"gtag": "gpc", "gtag_config": "gpc"}


async def test_forged_and_foreign_tokens_get_only_necessary_tags(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        real = (await consent(client, action="accept_all"))["token"]
    async with running(build_services(tmp_path / "o.db", master_secret=b"o" * 48)) as other:
        foreign = (await consent(other, action="accept_all"))["token"]
    body, _, sig = real.rpartition(".")
    forged = [body + "." + ("A" if sig[0] != "A" else "B") + sig[1:], foreign, "garbage"]
    async with running(build_services(tmp_path / "t.db")) as client:
        for token in forged:
            for cookie in (False, True):
                doc = await gate(client, token, cookie=cookie)
                assert doc["basis"] == "invalid_token" and doc["consent_id"] is None
                assert ids(doc) == ["yidun"]
                assert reasons(doc) == dict.fromkeys(CATALOG[1:], "invalid_token")


async def test_withdrawal_stops_the_listing(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        rec = await consent(client, action="accept_all")
        assert ids(await gate(client, rec["token"])) == CATALOG
        r = await client.delete(f"/v1/sites/demo/consent/{rec['consent_id']}",
                                headers={"Authorization": f"Bearer {rec['token']}"})
        assert r.status_code == 200, r.text
        doc = await gate(client, r.json()["token"])
    assert ids(doc) == ["yidun"] and set(reasons(doc).values()) == {"refused"}


async def test_opt_out_regime_defaults_allow_tags_until_gpc(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        client.cookies.clear()
        doc = await gate(client, **CA)
        assert doc["regime"] == "us_optout" and ids(doc) == CATALOG
        doc = await gate(client, **CA, **{"Sec-GPC": "1"})
    assert ids(doc) == ["yidun", "sensors", "wechat"]


async def test_stale_revision_falls_back_to_the_regime_defaults(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        token = (await consent(client, action="accept_all"))["token"]
    cfg = tmp_path / "rev2.toml"
    cfg.write_text(demo_config_path().read_text("utf-8").replace("revision = 1", "revision = 2",
                                                                 1), "utf-8")
    async with running(build_services(tmp_path / "t.db", cfg)) as client:
        doc = await gate(client, token)
    assert doc["basis"] == "defaults" and ids(doc) == ["yidun"]


async def test_unknown_site_is_a_json_404(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        r = await client.get("/v1/sites/nope/tags")
    assert r.status_code == 404 and r.json()["field"] == "site"


async def test_banner_config_announces_the_gate_and_the_beacon(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        cfg = (await client.get("/v1/sites/demo/config", headers=DE)).json()
    assert cfg["endpoints"]["tags"] == "/v1/sites/demo/tags"
    assert cfg["beacon"] == {"purpose": "analytics"}


# --- the middleware gives a site's backend the same decision -----------------------------------

async def whoami(request: Request) -> JSONResponse:
    c = request.state.consent
    return JSONResponse({"tags": [t["id"] for t in c.allowed_tags], "may_track": c.may_track})


def backend() -> Starlette:
    app = Starlette(routes=[Route("/", whoami)])
    app.add_middleware(ConsentMiddleware.from_config, config_path=demo_config_path(),
                       site="demo", secret=MASTER_SECRET)  # type: ignore[arg-type]
    return app


async def ask_backend(**headers: str) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=backend()),
                                 base_url="http://site") as c:
        return dict((await c.get("/", headers=headers)).json())


async def test_middleware_allowed_tags_and_may_track_match_the_gate(tmp_path: Path) -> None:
    async with running(build_services(tmp_path / "t.db")) as client:
        full = (await consent(client, action="accept_all"))["token"]
        analytics = (await consent(client, action="custom", purposes={"analytics": True}))["token"]
        rejected = (await consent(client, action="reject_all"))["token"]
        for token in (full, analytics, rejected):
            got = await ask_backend(cookie=f"consentry={token}")
            assert got["tags"] == ids(await gate(client, token))
        for token, gpc in ((full, "1"), (full, "0")):
            got = await ask_backend(authorization=f"Bearer {token}", **{"sec-gpc": gpc})
            assert got["tags"] == ids(await gate(client, token, **{"Sec-GPC": gpc}))
    assert await ask_backend(cookie=f"consentry={analytics}") == {
        "tags": ["yidun", "sensors"], "may_track": True}
    assert (await ask_backend(cookie=f"consentry={rejected}"))["may_track"] is False
    assert await ask_backend(cookie="consentry=forged.token") == {"tags": ["yidun"],
                                                                  "may_track": False}
    assert await ask_backend() == {"tags": ["yidun"], "may_track": False}
