"""Site languages are BCP 47 tags, checked when the config loads (so `consentry check` names
the key), and the config answer only ever names one of the site's languages, whatever ?lang=
or Accept-Language asked for."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmp.config import ConfigError, demo_config_path, load_config

from .conftest import build_services, clean_env, consentry_cmd, running

STARTER = Path(__file__).resolve().parent.parent / "cmp" / "data" / "starter.toml"


def starter_with(tmp_path: Path, old: str, new: str) -> Path:
    text = STARTER.read_text("utf-8")
    assert old in text
    path = tmp_path / "langs.toml"
    path.write_text(text.replace(old, new, 1), "utf-8")
    return path


@pytest.mark.parametrize("tag", ["de", "zh-CN", "zh-Hant-TW", "sr-Latn-RS", "es-419",
                                 "de-CH-1996", "sl-rozaj-biske", "ZH-cn", "yue-HK", "FR-ca"])
def test_well_formed_tags_load(tmp_path: Path, tag: str) -> None:
    cfg = load_config(starter_with(tmp_path, 'languages = ["en", "fr"]',
                                   f'languages = ["en", "fr", "{tag}"]'))
    assert tag in cfg.sites["example"].languages


@pytest.mark.parametrize("tag", ["<script>alert(1)</script>", "en<b>", "", "e", "english",
                                 "en-", "en--US", "en US", "en_US", "zh-CN\n", " en", "x-klingon",
                                 "en-US-x-private", "i-klingon", "12", "en-\u0430\u0431"])
def test_a_language_that_is_not_a_tag_names_its_key(tmp_path: Path, tag: str) -> None:
    path = starter_with(tmp_path, 'languages = ["en", "fr"]',
                        'languages = ["en", "fr", ' + _toml_str(tag) + "]")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(p.startswith("sites.example.languages.2: ") and "BCP 47" in p
               for p in exc.value.problems), exc.value.problems


def test_default_language_must_be_a_tag_too(tmp_path: Path) -> None:
    path = starter_with(tmp_path, 'languages = ["en", "fr"]',
                        'languages = ["en", "fr"]\ndefault_language = "<b>en</b>"')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(p.startswith("sites.example.default_language: ") and "BCP 47" in p
               for p in exc.value.problems), exc.value.problems


def test_a_language_listed_twice_is_refused(tmp_path: Path) -> None:
    path = starter_with(tmp_path, 'languages = ["en", "fr"]', 'languages = ["en", "fr", "EN"]')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(p.startswith("sites.example.languages: ") and "twice" in p
               for p in exc.value.problems), exc.value.problems


def test_consentry_check_names_the_language_key(tmp_path: Path) -> None:
    bad = starter_with(tmp_path, 'languages = ["en", "fr"]',
                       'languages = ["en", "<img src=x onerror=alert(1)>"]')
    r = subprocess.run([*consentry_cmd(), "check", "--config", str(bad)], capture_output=True,
                       text=True, cwd=tmp_path, env=clean_env(), timeout=60)
    assert r.returncode == 1
    assert "sites.example.languages.1: " in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def _toml_str(s: str) -> str:
    import json

    return json.dumps(s)  # a JSON string is a TOML basic string for these


# --- the config answer ------------------------------------------------------------------------

def _demo_languages() -> list[str]:
    return load_config(demo_config_path()).sites["demo"].languages


requested = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["<script>alert(1)</script>", "zh-<script>", "en-<img>", "zh-Hant-<b>",
                     "en_US", "ZH-cn", "en-US-x-<b>", "fr", "zh-Hant-TW", "*", "en;q=0.5",
                     "\"><svg onload=alert(1)>", "zh-CN<script>"]),
)


class Live:
    """The real demo app on an event loop of its own, for a synchronous hypothesis test."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._ctx = running(build_services(tmp_path / "l.db"))
        self.client = self.loop.run_until_complete(self._ctx.__aenter__())

    def config(self, lang: str, accept: str) -> Any:
        h = {"Accept-Language": accept.encode("utf-8", "surrogatepass")}
        r = self.loop.run_until_complete(self.client.get(
            "/v1/sites/demo/config", params={"lang": lang}, headers=h))
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        self.loop.run_until_complete(self._ctx.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    app = Live(tmp_path)
    try:
        yield app
    finally:
        app.close()


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lang=requested, accept=requested)
def test_the_config_answer_only_names_a_site_language(live: Live, lang: str,
                                                      accept: str) -> None:
    site_langs = _demo_languages()
    body = live.config(lang, accept)
    assert body["language"] in site_langs
    assert body["languages"] == site_langs
    text = repr(body)
    for asked in (lang, accept):
        if len(asked) > 5 and asked not in site_langs and asked not in ("*", "en;q=0.5"):
            assert asked not in text, (asked, body["language"])


async def test_a_junk_lang_is_not_matched_by_its_prefix(tmp_path: Path) -> None:
    # "zh-<script>" used to pick zh-CN by its primary subtag; junk is now not a request.
    async with running(build_services(tmp_path / "l.db")) as client:
        for junk in ("zh-<script>", "zh-CN<b>", "zh-Hans-<i>"):
            r = await client.get("/v1/sites/demo/config", params={"lang": junk},
                                 headers={"Accept-Language": "en"})
            assert r.json()["language"] == "en", junk
        r = await client.get("/v1/sites/demo/config", params={"lang": "zh-Hans"},
                             headers={"Accept-Language": "en"})
        assert r.json()["language"] == "zh-CN"
