"""Only the canonical encoding of a signed value is accepted: a consent token, a receipt
signature and an e-mail link (click, open, unsubscribe, confirm) with `==` or other junk
appended, or with the unused bits of their last character changed, are refused, over HTTP on
the real app. A repeated security parameter (`?access=x&access=<genuine>`) is a 400 naming it."""

from __future__ import annotations

import string
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmp.app_state import Services
from cmp.keys import b64u, b64u_decode, signed_parts
from consentry.app import create_app

from .conftest import COUNTRY_HEADER, path_of
from .test_email_flow import CHROME, HTML, Env, build, links, path

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
JUNK = ["=", "==", "!!", "=A", "*", "%3D", "~", "\u00e9"]


def twin(value: str) -> str:
    """The same bytes in another spelling: the last character's unused low bits flipped."""
    return value[:-1] + ALPHABET[ALPHABET.index(value[-1]) ^ 1]


def variants(value: str) -> list[str]:
    return [value + j for j in JUNK] + [twin(value)]


# --- the decoder ------------------------------------------------------------------------------

@given(st.binary(max_size=80))
def test_canonical_form_round_trips(data: bytes) -> None:
    assert b64u_decode(b64u(data)) == data


@given(st.text(alphabet=ALPHABET + "=+/ .!\n", max_size=60))
def test_only_the_canonical_spelling_decodes(text: str) -> None:
    try:
        data = b64u_decode(text)
    except ValueError:
        return
    assert b64u(data) == text


def test_non_canonical_spellings_are_refused() -> None:
    sig = b64u(bytes(range(32)))
    assert b64u_decode(sig) == bytes(range(32))
    for bad in variants(sig) + ["", sig[:-1], sig + "\n", sig.replace("A", "+")]:
        if bad == "":
            assert b64u_decode(bad) == b""  # nothing is canonical for nothing
            continue
        with pytest.raises(ValueError):
            b64u_decode(bad)
    assert signed_parts("p." + sig) == ("p", bytes(range(32)))
    assert signed_parts("p." + sig + "==") is None and signed_parts(sig) is None
    assert signed_parts("p." + b64u(b"short")) is None


# --- over HTTP --------------------------------------------------------------------------------

@pytest.fixture
async def mail(tmp_path: Path) -> AsyncIterator[Env]:
    svc, key, db = build(tmp_path)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://cmp.example",
                                     headers={"User-Agent": CHROME}) as client:
            yield Env(client, svc, app.state.email, key, db)


async def consent(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post("/v1/sites/shop/consent", headers={COUNTRY_HEADER: "DE"},
                          json={"action": "accept_all", "revision": 1, "language": "en"})
    assert r.status_code == 201, r.text
    client.cookies.clear()
    out: dict[str, Any] = r.json()
    return out


async def test_a_consent_token_with_junk_or_a_twin_signature_is_refused(mail: Env) -> None:
    out = await consent(mail.client)
    token, cid = out["token"], out["consent_id"]
    own = f"/v1/sites/shop/consent/{cid}"

    def bearer(t: str) -> dict[str, Any]:
        return {"Authorization": f"Bearer {t}".encode()}  # UTF-8 bytes: junk may be non-ASCII

    r = await mail.client.get(own, headers=bearer(token))
    assert r.status_code == 200
    cfg = await mail.client.get("/v1/sites/shop/config", headers=bearer(token))
    assert cfg.json()["consent"]["consent_id"] == cid
    for bad in variants(token):
        r = await mail.client.get(own, headers=bearer(bad))
        assert r.status_code == 401 and r.json()["field"] == "token", bad
        cfg = await mail.client.get("/v1/sites/shop/config", headers=bearer(bad))
        assert cfg.json()["consent"] is None, bad
        # a withdrawal is refused too, and so no event is recorded
        r = await mail.client.delete(own, headers=bearer(bad))
        assert r.status_code == 401, bad
    assert mail.rows("SELECT COUNT(*) FROM consent_events")[0][0] == 1


def test_the_consent_token_check_itself(mail: Env) -> None:
    from cmp.tokens import TokenError
    from cmp.types import Choices

    svc: Services = mail.svc
    token, _ = svc.tokens.issue(site="shop", subject="s1", revision=1, regime="gdpr",
                                choices=Choices({"necessary": True}), gpc=False, lifetime_days=1)
    assert svc.tokens.verify("shop", token).subject == "s1"
    for bad in variants(token) + ["." + token, token.replace(".", "..", 1), " " + token]:
        with pytest.raises(TokenError):
            svc.tokens.verify("shop", bad)


async def test_a_receipt_signature_with_junk_or_a_twin_is_not_valid(mail: Env) -> None:
    out = await consent(mail.client)
    doc = (await mail.client.get(path_of(out["receipt_url"]))).json()
    verify = "/v1/sites/shop/receipts/verify"
    assert (await mail.client.post(verify, json=doc)).json()["valid"] is True
    for bad in variants(doc["signature"]):
        r = await mail.client.post(verify, json={**doc, "signature": bad})
        assert r.status_code == 200 and r.json()["valid"] is False, bad


async def test_a_repeated_access_parameter_is_a_400_naming_it(mail: Env) -> None:
    out = await consent(mail.client)
    url = httpx.URL(out["receipt_url"])
    genuine = url.params["access"]
    base = url.path
    assert (await mail.client.get(base, params={"access": genuine})).status_code == 200
    for params in ([("access", "x"), ("access", genuine)], [("access", genuine), ("access", "x")],
                   [("access", genuine), ("access", genuine)], [("access", ""), ("access", genuine)]):
        r = await mail.client.get(base, params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json() == {"error": "access given more than once", "field": "access"}
    for bad in variants(genuine):
        r = await mail.client.get(base, params={"access": bad})
        assert r.status_code == 401 and r.json()["field"] == "access", bad


async def test_e_mail_links_with_junk_or_a_twin_signature_are_refused(mail: Env) -> None:
    await mail.subscribe("ann@example.com", ["news"], tracking=True)
    prep = await mail.prepare("ann@example.com", HTML)
    click = path(links(prep.html, "c")[0])
    pixel = path(links(prep.html, "o")[0])
    unsub = path(prep.unsubscribe_url)
    for bad in variants(click.removeprefix("/e/c/")):
        r = await mail.client.get("/e/c/" + bad)
        assert r.status_code == 400 and "location" not in r.headers, bad
    token = pixel.removeprefix("/e/o/").removesuffix(".gif")
    for bad in variants(token):
        r = await mail.client.get(f"/e/o/{bad}.gif")
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    assert mail.engagement("open") == [] and mail.engagement("click") == []
    for bad in variants(unsub.removeprefix("/e/u/")):
        r = await mail.client.post("/e/u/" + bad, content=b"List-Unsubscribe=One-Click",
                                   headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400, bad
    assert mail.engagement("unsubscribe") == []
    # the genuine links still work
    assert (await mail.client.get(click)).status_code == 302
    assert len(mail.engagement("open")) == 0 and len(mail.engagement("click")) == 1


async def test_a_confirm_link_with_junk_or_a_twin_signature_is_refused(mail: Env) -> None:
    r = await mail.client.post("/v1/sites/shop/email/signup", json={
        "email": "bo@example.com", "lists": ["news"], "tracking": False, "country": "DE"},
        headers={"Authorization": f"Bearer {mail.key}"})
    confirm = path(r.json()["confirm_url"])
    for bad in variants(confirm.removeprefix("/e/s/")):
        r = await mail.client.post("/e/s/" + bad)
        assert r.status_code == 400, bad
    assert mail.rows("SELECT COUNT(*) FROM consent_events")[0][0] == 0
    assert (await mail.client.post(confirm)).status_code == 200
