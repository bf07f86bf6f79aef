"""Forged or altered consent tokens, receipts and admin keys are rejected."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.keys import Keyring
from cmp.tokens import TokenService
from cmp.types import Choices

from .conftest import COUNTRY_HEADER, TwoSites, build_services, canonical, path_of, running

CONSENT = "/v1/sites/demo/consent"


def flip(token: str, at: int) -> str:
    """The token with one character changed (a different base64 character, same length)."""
    c = token[at]
    new = "Q" if c != "Q" else "w"
    return token[:at] + new + token[at + 1:]


def b64u_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


async def grant(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post(CONSENT, json={"action": "accept_all", "revision": 1},
                          headers={COUNTRY_HEADER: "DE"})
    assert r.status_code == 201
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_altered_token_is_rejected(client: httpx.AsyncClient, db: Path) -> None:
    g = await grant(client)
    cid, token = g["consent_id"], g["token"]
    assert (await client.get(f"{CONSENT}/{cid}", headers=bearer(token))).status_code == 200
    payload_end = token.rindex(".")
    # one character in the signed body, one in the middle of the signature
    for at in (len(token) // 3, payload_end // 2, payload_end + 10):
        forged = flip(token, at)
        assert forged != token
        r = await client.get(f"{CONSENT}/{cid}", headers=bearer(forged))
        assert r.status_code == 401, at
        assert r.json()["field"] == "token"
        assert (await client.delete(f"{CONSENT}/{cid}", headers=bearer(forged))).status_code == 401
        # POST treats the forged token as no token: a new subject, not an update of cid
        r = await client.post(CONSENT, json={"action": "reject_all", "revision": 1},
                              headers=bearer(forged))
        assert r.status_code == 201
        assert r.json()["consent_id"] != cid and r.json()["kind"] == "grant"
    # the config route ignores it too
    cfg = (await client.get("/v1/sites/demo/config", headers=bearer(flip(token, 20)))).json()
    assert cfg["consent"] is None
    assert (await client.get("/v1/sites/demo/config", headers=bearer(token))).json()[
        "consent"]["consent_id"] == cid


async def test_token_signed_with_another_secret_is_rejected(client: httpx.AsyncClient,
                                                            svc: Services) -> None:
    g = await grant(client)
    cid = g["consent_id"]
    site = svc.config.sites["demo"]
    everything = Choices({p: True for p in site.purposes}, {v: True for v in site.vendors},
                         {s: True for s in site.separate})
    other = TokenService(Keyring(b"another-deployment-secret-" + b"y" * 40))
    forged, _ = other.issue(site="demo", subject=cid, revision=1, regime="gdpr",
                            choices=everything, gpc=False, lifetime_days=30)
    assert (await client.get(f"{CONSENT}/{cid}", headers=bearer(forged))).status_code == 401
    r = await client.post(CONSENT, json={"action": "reject_all", "revision": 1},
                          headers=bearer(forged))
    assert r.status_code == 201 and r.json()["consent_id"] != cid
    # and the same service with the right secret would have accepted the same body
    right, _ = svc.tokens.issue(site="demo", subject=cid, revision=1, regime="gdpr",
                                choices=everything, gpc=False, lifetime_days=30)
    assert (await client.get(f"{CONSENT}/{cid}", headers=bearer(right))).status_code == 200


async def test_expired_token_is_rejected(client: httpx.AsyncClient, svc: Services) -> None:
    cid = (await grant(client))["consent_id"]
    old, expires = svc.tokens.issue(site="demo", subject=cid, revision=1, regime="gdpr",
                                    choices=Choices(), gpc=False, lifetime_days=1,
                                    now=1_000_000_000)
    assert expires < 2_000_000_000
    assert (await client.get(f"{CONSENT}/{cid}", headers=bearer(old))).status_code == 401


async def test_token_of_another_site_is_rejected(two_sites: TwoSites, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "two.db", two_sites.config_path)
    async with running(svc) as c:
        a = (await c.post("/v1/sites/alpha/consent",
                          json={"action": "accept_all", "revision": 3})).json()
        r = await c.get(f"/v1/sites/beta/consent/{a['consent_id']}", headers=bearer(a["token"]))
        assert r.status_code == 401
        r = await c.get(f"/v1/sites/alpha/consent/{a['consent_id']}", headers=bearer(a["token"]))
        assert r.status_code == 200
        cfg = (await c.get("/v1/sites/beta/config", headers=bearer(a["token"]))).json()
        assert cfg["consent"] is None
        r = await c.get(f"/v1/sites/beta/consent/{a['consent_id']}/receipt?"
                        + path_of(a["receipt_url"]).split("?", 1)[1])
        assert r.status_code == 401


async def test_receipt_signature(client: httpx.AsyncClient, svc: Services) -> None:
    g = await grant(client)
    cid = g["consent_id"]
    upd = await client.post(CONSENT, json={"action": "custom", "revision": 1,
                                           "purposes": {"analytics": True}},
                            headers=bearer(g["token"]))
    assert upd.json()["consent_id"] == cid

    r = await client.get(path_of(g["receipt_url"]))
    assert r.status_code == 200
    doc = r.json()
    body = doc["receipt"]
    assert body["site"] == "demo" and body["consent_id"] == cid and doc["alg"] == "Ed25519"
    assert [e["kind"] for e in body["events"]] == ["grant", "update"]
    assert body["current"]["purposes"]["analytics"] is True
    assert body["current"]["purposes"]["marketing"] is False
    ev = body["events"][0]
    assert ev["texts_hash"] == svc.config.sites["demo"].texts_hash("en")
    assert ev["regime"] == "gdpr" and len(ev["hash"]) == 64

    # Independent check with the published public key and `cryptography` alone.
    keydoc = (await client.get("/v1/sites/demo/receipt-key")).json()
    assert keydoc["alg"] == "Ed25519" and keydoc["key_id"] == body["key_id"]
    assert keydoc["jwk"]["x"] == keydoc["public_key"] and keydoc["jwk"]["crv"] == "Ed25519"
    pub = Ed25519PublicKey.from_public_bytes(b64u_decode(keydoc["public_key"]))
    pub.verify(b64u_decode(doc["signature"]), canonical(body))

    verify = "/v1/sites/demo/receipts/verify"
    assert (await client.post(verify, json=doc)).json()["valid"] is True

    def altered(change: Any) -> dict[str, Any]:
        d = copy.deepcopy(doc)
        change(d)
        return d

    forgeries = [
        altered(lambda d: d["receipt"]["current"]["purposes"].update(marketing=True)),
        altered(lambda d: d["receipt"].update(consent_id="c_someone_else")),
        altered(lambda d: d["receipt"]["events"][0].update(kind="withdraw")),
        altered(lambda d: d["receipt"]["events"].pop()),
        altered(lambda d: d.update(signature=d["signature"][:10] + "AAAA" + d["signature"][14:])),
        altered(lambda d: d.update(alg="none")),
        altered(lambda d: d.pop("signature")),
        {"receipt": "not an object"},
        [1, 2, 3],
    ]
    for forged in forgeries:
        r = await client.post(verify, json=forged)
        assert r.status_code == 200
        assert r.json()["valid"] is False, forged
        if isinstance(forged, dict) and isinstance(forged.get("receipt"), dict) \
                and "signature" in forged \
                and (forged["receipt"], forged["signature"]) != (body, doc["signature"]):
            with pytest.raises((InvalidSignature, ValueError)):
                pub.verify(b64u_decode(forged["signature"]), canonical(forged["receipt"]))
    # A receipt of one site does not verify as another's.
    r = await client.post("/v1/sites/nope/receipts/verify", json=doc)
    assert r.status_code == 404


async def test_receipt_needs_its_link_or_the_token(client: httpx.AsyncClient) -> None:
    g = await grant(client)
    cid = g["consent_id"]
    other = await grant(client)
    url = f"{CONSENT}/{cid}/receipt"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, params={"access": "forged"})).status_code == 401
    # the access part of another subject's link does not open this one
    other_access = httpx.URL(other["receipt_url"]).params["access"]
    assert (await client.get(url, params={"access": other_access})).status_code == 401
    assert (await client.get(url, headers=bearer(other["token"]))).status_code == 401
    assert (await client.get(url, headers=bearer(g["token"]))).status_code == 200
    assert (await client.get(path_of(g["receipt_url"]))).status_code == 200


async def test_wrong_admin_key_is_rejected(db: Path) -> None:
    key, key_hash = generate_admin_key()
    svc = build_services(db)
    svc.extra_admin_hashes["demo"] = [key_hash]
    async with running(svc) as c:
        cid = (await grant(c))["consent_id"]
        url = f"/v1/sites/demo/subjects/{cid}"
        assert (await c.get(url, headers=bearer(key))).status_code == 200
        wrong_key, _ = generate_admin_key()
        for headers in ({}, bearer(wrong_key), bearer(key[:-1]), bearer(key + "x"),
                        {"Authorization": f"Basic {key}"}, bearer(key_hash),
                        bearer(key_hash.removeprefix("sha256:"))):
            r = await c.get(url, headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["field"] == "authorization"
            assert (await c.delete(url, headers=headers)).status_code == 401
            assert (await c.get("/v1/sites/demo/ledger/verify",
                                headers=headers)).status_code == 401
        # nothing was erased by the refused attempts
        assert (await c.get(url, headers=bearer(key))).json()["events"][0]["erased"] is False
        # an unknown site answers like a wrong key
        r = await c.get(f"/v1/sites/nope/subjects/{cid}", headers=bearer(key))
        assert r.status_code == 401
