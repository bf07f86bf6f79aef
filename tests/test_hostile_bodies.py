"""Hostile request bodies over HTTP on the real app: whatever the shape of a body (deeply nested,
not UTF-8, not JSON, NaN, lone surrogates, arbitrary bytes), every body reader answers a 4xx
JSON error naming the field, never a 500. And the config loader answers a ConfigError naming
a key (or the file) for any TOML-like input, never another exception."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmp.api.http import MAX_JSON_DEPTH, json_depth, parse_json_body
from cmp.config import ConfigError, load_config, parse_config
from cmp.errors import FieldError
from consentry.app import create_app

from .conftest import CHROME_UA, build_services
from .test_email_flow import BASE, write_config

SIGNUP = "/v1/sites/shop/email/signup"
CONSENT = "/v1/sites/shop/consent"
VERIFY = "/v1/sites/shop/receipts/verify"
BEACON = "/b"
JSON_READERS = [CONSENT, BEACON, VERIFY, SIGNUP]


class LiveApp:
    """The real app (lifespan, SQLite file, group-commit writer) on an event loop of its own,
    so synchronous hypothesis tests can drive it request by request."""

    def __init__(self, tmp_path: Path) -> None:
        path, self.key = write_config(tmp_path)
        svc = build_services(tmp_path / "hostile.db", path, public_url=BASE)
        self.loop = asyncio.new_event_loop()
        self.app = create_app(svc)
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app, client=("203.0.113.9", 40000))
        self.client = httpx.AsyncClient(transport=transport, base_url=BASE,
                                        headers={"User-Agent": CHROME_UA})

    def post(self, url: str, content: bytes, content_type: str = "application/json",
             **headers: str) -> httpx.Response:
        h = {"content-type": content_type, **headers}
        if url == SIGNUP:
            h["authorization"] = f"Bearer {self.key}"
        return self.loop.run_until_complete(self.client.post(url, content=content, headers=h))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    app = LiveApp(tmp_path)
    try:
        yield app
    finally:
        app.close()


def assert_answered(r: httpx.Response) -> None:
    """A client's fault is a 4xx JSON error naming the field; nothing is ever a 5xx."""
    assert r.status_code < 500, (r.status_code, r.text[:200])
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.text[:200]
        doc = r.json()
        assert isinstance(doc.get("field"), str) and doc["field"], doc
        assert isinstance(doc.get("error"), str) and doc["error"], doc


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "mixed":
        return b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2)
    return b"[" * depth  # unclosed: the parser recursed before it could fail


# --- the defect: a 4 KB body of nested arrays/objects was a plain-text 500 --------------------

@pytest.mark.parametrize("url", JSON_READERS)
@pytest.mark.parametrize("kind", ["array", "object", "mixed", "unclosed"])
def test_deeply_nested_body_is_a_400_naming_the_body(live: LiveApp, url: str, kind: str) -> None:
    body = nested(4000 if kind != "object" else 800, kind)[:4096]
    r = live.post(url, body, "text/plain" if url == BEACON else "application/json")
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert r.json() == {"error": f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                        "field": "body"}


@pytest.mark.parametrize("url", JSON_READERS)
@pytest.mark.parametrize("body, message", [
    (b'{"action": "accept_all", "revision": NaN}', "body is not valid JSON"),
    (b'{"s": Infinity}', "body is not valid JSON"),
    (b'{"a": "\xff\xfe"}', "body is not UTF-8"),
    (b'{"a": "\xed\xa0\x80"}', "body is not UTF-8"),  # a surrogate encoded as UTF-8
    (b'{"s": "\\ud800"}', "body has an escaped lone surrogate (\\ud800-\\udfff)"),
    (b'\xef\xbb\xbf{"s": "demo"}', "body is not valid JSON"),  # a BOM (RFC 8259: not sent)
    (b'{"s": "' + b"[" * 4000, "body is not valid JSON"),  # an unclosed string
], ids=["nan", "infinity", "latin1", "utf8-surrogate", "escaped-surrogate", "bom", "unclosed"])
def test_not_quite_json_is_a_400_naming_the_body(live: LiveApp, url: str, body: bytes,
                                                 message: str) -> None:
    r = live.post(url, body)
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert r.json() == {"error": message, "field": "body"}


def test_more_digits_than_int_takes_is_a_400(live: LiveApp) -> None:
    r = live.post(CONSENT, b'{"revision": ' + b"9" * 5000 + b"}")
    assert r.status_code == 400 and r.json() == {"error": "body is not valid JSON",
                                                 "field": "body"}


def test_a_paired_surrogate_escape_is_fine(live: LiveApp) -> None:
    r = live.post(BEACON, json.dumps({"s": "shop", "e": "x", "p": {"a": "\U0001F600"}},
                                     ensure_ascii=True).encode(), "text/plain")
    assert r.status_code == 204, r.text


def test_nesting_up_to_the_limit_reaches_validation(live: LiveApp) -> None:
    # At the limit the body is parsed and refused by the route's own validation instead.
    r = live.post(CONSENT, nested(MAX_JSON_DEPTH, "array"))
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert "nested" not in r.json()["error"]


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": ["\\"[[["]}') == 2
    assert json_depth(b"[]") == 1 and json_depth(b"1") == 0
    raw = json.dumps({"s": "[" * 5000}).encode()
    assert parse_json_body(raw) == {"s": "[" * 5000}
    with pytest.raises(FieldError) as exc:
        parse_json_body(b"[" * 100_000)
    assert exc.value.field == "body"


# --- properties: every body reader, any body -------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=30)
# Objects with the fields the routes read, holding anything: past the top-level checks.
KNOWN_FIELDS = ["action", "revision", "language", "purposes", "vendors", "separate", "gpc",
                "tc_string", "s", "e", "u", "r", "p", "k", "receipt", "signature", "alg",
                "email", "lists", "tracking", "country", "ip", "user_agent", "site", "events"]
shaped = st.dictionaries(st.sampled_from(KNOWN_FIELDS), json_values, max_size=6)
deep = st.builds(nested, st.integers(1, 3000), st.sampled_from(["array", "object", "mixed",
                                                                "unclosed"]))


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


bodies = st.one_of(st.binary(max_size=600), json_values.map(_encode), shaped.map(_encode), deep)
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.mark.parametrize("url", JSON_READERS)
@FUZZ
@given(body=bodies, ctype=st.sampled_from(["application/json", "text/plain", ""]))
def test_any_body_gets_an_answer_not_a_500(live: LiveApp, url: str, body: bytes,
                                           ctype: str) -> None:
    assert_answered(live.post(url, body, ctype))


@FUZZ
@given(body=st.binary(max_size=600) | st.text(max_size=300).map(str.encode),
       ctype=st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data",
                              "multipart/form-data; boundary=x", "text/plain", ""]))
def test_any_unsubscribe_form_gets_an_answer_not_a_500(live: LiveApp, body: bytes,
                                                       ctype: str) -> None:
    # A genuine one-click URI: the form reader runs (the bad-token page would answer first).
    token = live.app.state.email.tokens.unsub_token("shop", "r" * 16, "news", "c1", "m1")
    r = live.post(f"/e/u/{token}", body, ctype)
    assert r.status_code < 500, (r.status_code, r.text[:200])


# --- property: the config loader -------------------------------------------------------------

toml_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                | st.text(max_size=12))
SITE_KEYS = ["name", "origins", "languages", "default_language", "revision", "texts",
             "purposes", "vendors", "separate", "regions", "cookie", "email", "tags", "beacon",
             "consent_mode", "users", "admin_key_hashes", "retention_days"]
toml_like = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(SITE_KEYS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=25)
configs = st.fixed_dictionaries({"sites": st.dictionaries(
    st.sampled_from(["demo", "x", "Bad Id"]), st.dictionaries(st.sampled_from(SITE_KEYS),
                                                              toml_like, max_size=8),
    max_size=2)}, optional={"regimes": toml_like})
KEY_LINE = re.compile(r"^\S[^\n]*?: \S")


def assert_config_error(exc: ConfigError) -> None:
    assert exc.problems, "a ConfigError with no problem"
    for line in exc.problems:
        assert KEY_LINE.match(line), f"a problem that names no key: {line!r}"


@settings(max_examples=150, deadline=None, database=None)
@given(data=configs)
def test_config_parse_answers_a_config_error_or_a_config(data: dict[str, Any]) -> None:
    try:
        parse_config(data)
    except ConfigError as exc:
        assert_config_error(exc)


toml_texts = st.one_of(
    st.text(max_size=300),
    st.builds(lambda d: "a = " + "[" * d + "]" * d, st.integers(1, 3000)),
    st.builds(lambda d: "a = " + "{b = " * d + "1" + "}" * d, st.integers(1, 3000)),
    st.builds(lambda k, v: f"[sites.demo]\n{k} = {v}\n", st.sampled_from(SITE_KEYS),
              st.sampled_from(['"x"', "1", "[]", "{}", '["<b>"]', "true", "1979-05-27"])),
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=toml_texts | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_config_load_answers_a_config_error_or_a_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_config(path)
    except ConfigError as exc:
        assert_config_error(exc)


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000, "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.problems == [f"{path}: not valid TOML (nested too deeply)"]
