"""[sites.X.permissions]: browser capabilities behind a purpose or a separate item. The config
refuses what cannot work, naming the key; the config answer carries the mapping only for a
site that sets one (the banner loads its permissions module for that key alone)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from cmp.adminkeys import generate_admin_key
from cmp.config import ConfigError, parse_config
from cmp.lint import lint
from tests.conftest import build_services, running, site_toml
from tests.test_asks import ITEM


def text(**permissions: str) -> str:
    _, admin_hash = generate_admin_key()
    _, app_hash = generate_admin_key()
    _, crm_hash = generate_admin_key()
    out = site_toml("alpha", admin_hash, origin="https://alpha.example")
    out += ITEM.format(site="alpha", app=app_hash, crm=crm_hash)
    if permissions:
        out += "\n[sites.alpha.permissions]\n" + "".join(
            f'{k} = "{v}"\n' for k, v in permissions.items())
    return out + site_toml("beta", admin_hash, origin="https://beta.example")


def data(**permissions: str) -> dict[str, Any]:
    return tomllib.loads(text(**permissions))


def problems(d: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(d)
    return exc.value.problems


def test_a_mapping_to_a_purpose_or_a_banner_item_loads() -> None:
    site = parse_config(data(camera="analytics", notifications="abroad")).sites["alpha"]
    assert site.permissions == {"camera": "analytics", "notifications": "abroad"}
    assert not [p for p in lint(parse_config(data(camera="analytics"))) if "permissions" in p]


@pytest.mark.parametrize("permissions,expected", [
    ({"camera": "nope"}, "permissions.camera: unknown purpose or separate item 'nope'"),
    ({"microphone": "buyer_share"}, "permissions.microphone: 'buyer_share' is asked per recipient"),
    ({"bluetooth": "analytics"}, "permissions.bluetooth"),
])
def test_what_cannot_work_is_refused_naming_the_key(permissions: dict[str, str],
                                                    expected: str) -> None:
    found = problems(data(**permissions))
    assert any(expected in p and p.startswith("sites.alpha") for p in found), found


def test_a_necessary_purpose_would_never_ask_and_lint_says_so() -> None:
    found = lint(parse_config(data(geolocation="necessary")))
    assert any(p.startswith("sites.alpha.permissions.geolocation: ") and "never ask" in p
               for p in found), found


async def test_the_config_answer_carries_the_mapping_only_where_set(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text(camera="analytics", microphone="analytics", notifications="abroad"),
                    "utf-8")
    svc = build_services(tmp_path / "p.db", path)
    async with running(svc) as client:
        alpha = (await client.get("/v1/sites/alpha/config?lang=zh-CN")).json()
        beta = (await client.get("/v1/sites/beta/config")).json()
    assert alpha["permissions"] == {"camera": {"purpose": "analytics"},
                                    "microphone": {"purpose": "analytics"},
                                    "notifications": {"separate": "abroad"}}
    # the dialog's texts are the purpose's and the item's, already in the answer
    assert any(p["id"] == "analytics" and p["title"] for p in alpha["purposes"])
    assert any(s["id"] == "abroad" for s in alpha["separate"])
    assert "permissions" not in beta
