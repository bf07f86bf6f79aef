"""Per-recipient separate consent over HTTP on both backends: the backend's ask, the page's
notice and answer, the check before sharing, withdrawal (API and self-service page), scopes,
refused tokens, and the yearly counts of people."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.config import ConfigError, load_config, parse_config
from cmp.hints import make_hint
from cmp.ledger import verify_site
from cmp.lint import lint
from tests.conftest import build_services, running, site_toml

ITEM = """
[sites.{site}.separate.buyer_share]
kind = "cross_border"
per_recipient = true
title.en = "Give {{recipient.name}} my e-mail and IP address"
title.zh-CN = "向{{recipient.name}}提供我的邮箱和IP地址"
description.en = "{{recipient.name}} ({{recipient.contact}}, {{recipient.country}}) will receive: {{recipient.data_categories}}."
description.zh-CN = "{{recipient.name}}（{{recipient.contact}}，{{recipient.country}}）将获得：{{recipient.data_categories}}。"
purpose.en = "So the buyer can answer your reply to its inquiry."
purpose.zh-CN = "以便买家回复您对其询盘的答复。"
method.en = "Sent once by e-mail to the buyer."
method.zh-CN = "通过电子邮件一次性发送给买家。"
rights.en = "Write to the buyer's contact to access or delete your data."
rights.zh-CN = "您可通过买家的联系方式查阅或删除您的信息。"
data_categories = ["e-mail address", "IP address"]

[[sites.{site}.api_keys]]
name = "app"
hash = "{app}"
scopes = ["asks:write", "people:read", "people:write"]

[[sites.{site}.api_keys]]
name = "crm"
hash = "{crm}"
scopes = ["people:read"]
"""
BUYER = {"id": "B-77", "name": "Acme <b>Trading</b> GmbH", "contact": "buy@acme.example",
         "country": "DE", "data_categories": ["e-mail address", "IP address"]}


@dataclass
class World:
    client: httpx.AsyncClient
    svc: Any
    admin: str
    app: str
    crm: str

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def hint(self, ref: str, site: str = "alpha", ttl: int = 600) -> str:
        return make_hint(self.svc.keyring.site(site).hint_key, site, ref, ttl=ttl)

    async def ask(self, person: str = "M-1", recipient: dict[str, Any] | None = None,
                  key: str | None = None) -> httpx.Response:
        return await self.client.post("/v1/sites/alpha/asks", headers=self.auth(key or self.app),
                                      json={"item": "buyer_share", "person": person,
                                            "recipient": recipient or BUYER})

    async def notice(self, token: str, lang: str = "en") -> dict[str, Any]:
        r = await self.client.get("/v1/sites/alpha/asks/notice",
                                  params={"token": token, "lang": lang})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def answer(self, token: str, agreed: bool, *, lang: str = "en",
                     hint: str | None = None, texts_hash: str | None = None) -> httpx.Response:
        h = texts_hash or (await self.notice(token, lang))["texts_hash"]
        body = {"token": token, "agreed": agreed, "texts_hash": h, "language": lang}
        if hint:
            body["hint"] = hint
        return await self.client.post("/v1/sites/alpha/asks/answer", json=body)

    async def check(self, person: str = "M-1", recipient: str = "B-77") -> dict[str, Any]:
        r = await self.client.get(f"/v1/sites/alpha/people/{person}/grants",
                                  params={"item": "buyer_share", "recipient": recipient},
                                  headers=self.auth(self.crm))
        assert r.status_code == 200, r.text
        return dict(r.json())


def config_text() -> tuple[str, str, str, str]:
    admin, admin_hash = generate_admin_key()
    app, app_hash = generate_admin_key()
    crm, crm_hash = generate_admin_key()
    text = site_toml("alpha", admin_hash, origin="https://alpha.example")
    text += ITEM.format(site="alpha", app=app_hash, crm=crm_hash)
    return text, admin, app, crm


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    text, admin, app, crm = config_text()
    path = tmp_path / "asks.toml"
    path.write_text(text, "utf-8")
    svc = build_services(tmp_path / "asks.db", path, database=database_url,
                         public_url="https://cmp.example")
    async with running(svc) as client:
        yield World(client, svc, admin, app, crm)


async def test_ask_shows_the_recipient_and_records_the_answer(world: World) -> None:
    r = await world.ask()
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert r.json()["ask_id"].startswith("a_")
    en, zh = await world.notice(token, "en"), await world.notice(token, "zh-CN")
    assert en["notice"]["title"] == "Give Acme <b>Trading</b> GmbH my e-mail and IP address"
    assert "buy@acme.example" in en["notice"]["description"]
    assert "DE" in en["notice"]["description"] and "IP address" in en["notice"]["description"]
    assert zh["notice"]["title"] == "向Acme <b>Trading</b> GmbH提供我的邮箱和IP地址"
    assert zh["notice"]["buttons"] == {"agree": "我同意", "disagree": "我不同意"}
    assert en["texts_hash"] != zh["texts_hash"]
    # before any answer the check says no
    assert (await world.check())["agreed"] is False
    r = await world.answer(token, True, lang="zh-CN", hint=world.hint("M-1"))
    assert r.status_code == 201, r.text
    event_id = r.json()["event_id"]
    got = await world.check()
    assert got["agreed"] is True and got["event_id"] == event_id
    # the event names the recipient and the hash of the exact notice shown; the notice is kept
    person = world.svc.people.person_id("alpha", "M-1")
    ev = [e for e in await world.svc.storage.events_for_subject("alpha", person)
          if e.event_id == event_id][0]
    assert ev.payload["recipient"]["id"] == "B-77" and ev.payload["method"] == "in_context"
    assert ev.payload["texts_hash"] == zh["texts_hash"]
    assert (await world.svc.storage.notice(zh["texts_hash"])).texts == zh["notice"]
    # the receipt link of the check opens the person's receipt, with the event in it
    receipt = await world.client.get(httpx.URL(got["receipt_url"]).raw_path.decode())
    assert receipt.status_code == 200 and event_id in receipt.text
    # another recipient was never agreed to
    assert (await world.check(recipient="B-99"))["agreed"] is False
    # a second answer to the same ask is refused
    again = await world.answer(token, False)
    assert again.status_code == 409 and again.json()["field"] == "token"
    assert (await verify_site(world.svc.storage, "alpha")).ok


async def test_disagree_is_recorded_and_grants_nothing(world: World) -> None:
    token = (await world.ask(person="M-2")).json()["token"]
    r = await world.answer(token, False)
    assert r.status_code == 201 and r.json()["agreed"] is False
    got = await world.check("M-2")
    assert got["agreed"] is False and got["event_id"] == r.json()["event_id"]


async def test_refused_tokens_and_answers(world: World) -> None:
    token = (await world.ask(person="M-3")).json()["token"]
    # another member's page: the hint names someone else
    r = await world.answer(token, True, hint=world.hint("M-4"))
    assert r.status_code == 403 and r.json()["field"] == "token"
    # a forged hint
    r = await world.answer(token, True, hint=world.hint("M-3")[:-2] + "xx")
    assert r.status_code == 403 and r.json()["field"] == "hint"
    # forged or altered token
    for bad in (token[:-3] + "abc", token + "==", "v1.nope"):
        r = await world.client.get("/v1/sites/alpha/asks/notice", params={"token": bad})
        assert r.status_code == 400 and r.json()["field"] == "token", bad
    # expired: made with the same key, an expiry in the past
    ser = world.svc.asks._ser("alpha", "ask")
    old = ser.dumps({"s": "alpha", "a": "a_x", "i": "buyer_share", "p": "p_x", "r": BUYER,
                     "e": int(time.time()) - 1})
    r = await world.client.get("/v1/sites/alpha/asks/notice", params={"token": old})
    assert r.status_code == 410 and r.json()["field"] == "token"
    # a notice hash that is not what this ask shows
    r = await world.answer(token, True, texts_hash="0" * 64)
    assert r.status_code == 409 and r.json()["field"] == "texts_hash"
    r = await world.answer(token, True, lang="fr")
    assert r.status_code in (400, 409)
    # bad asks
    for body, field in (({"item": "abroad", "person": "M-3", "recipient": BUYER}, "item"),
                        ({"item": "buyer_share", "person": "M-3",
                          "recipient": {**BUYER, "country": "Germany"}}, "recipient.country"),
                        ({"item": "buyer_share", "person": "M-3",
                          "recipient": {**BUYER, "data_categories": ["passport"]}},
                         "recipient.data_categories")):
        r = await world.client.post("/v1/sites/alpha/asks", json=body,
                                    headers=world.auth(world.app))
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    # scopes: a key without asks:write may not ask; no key at all is 401
    assert (await world.ask(key=world.crm)).status_code == 403
    r = await world.client.post("/v1/sites/alpha/asks", json={})
    assert r.status_code == 401
    # nothing was granted by any of it
    assert (await world.check("M-3"))["agreed"] is False


async def test_withdraw_by_api_and_from_the_self_service_page(world: World) -> None:
    for rec in (BUYER, {**BUYER, "id": "B-88", "name": "Zenith Ltd", "country": "GB"}):
        token = (await world.ask(person="M-5", recipient=rec)).json()["token"]
        assert (await world.answer(token, True)).status_code == 201
    assert (await world.check("M-5"))["agreed"] is True
    # the API withdraws one recipient; the next check says no
    r = await world.client.post("/v1/sites/alpha/people/M-5/grants/withdraw",
                                json={"item": "buyer_share", "recipient": "B-77"},
                                headers=world.auth(world.app))
    assert r.status_code == 200 and r.json()["withdrawn"] is True
    assert (await world.check("M-5"))["agreed"] is False
    assert (await world.check("M-5", "B-88"))["agreed"] is True
    # the person's own page lists what is left, in both languages, and withdraws it
    r = await world.client.post("/v1/sites/alpha/people/M-5/self-service",
                                headers=world.auth(world.app))
    assert r.status_code == 201
    path = httpx.URL(r.json()["url"]).raw_path.decode()
    page = await world.client.get(path, params={"lang": "zh-CN"})
    assert page.status_code == 200 and "撤回" in page.text and "Zenith Ltd" in page.text
    assert "Acme" not in page.text  # withdrawn already
    assert "default-src 'none'" in page.headers["content-security-policy"]
    page = await world.client.get(path, headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Withdraw" in page.text
    done = await world.client.post(path, data={"item": "buyer_share", "recipient": "B-88"})
    assert done.status_code == 200 and "Zenith Ltd will receive nothing more" in done.text
    assert (await world.check("M-5", "B-88"))["agreed"] is False
    # a forged link shows the bad-link page, changes nothing
    bad = await world.client.get(path[:-4] + "abcd")
    assert bad.status_code == 400 and "not valid" in bad.text


async def test_markup_in_recipient_fields_is_escaped_on_the_page(world: World) -> None:
    rec = {**BUYER, "id": "B-X", "name": '<script>alert(1)</script>"'}
    token = (await world.ask(person="M-6", recipient=rec)).json()["token"]
    await world.answer(token, True)
    r = await world.client.post("/v1/sites/alpha/people/M-6/self-service",
                                headers=world.auth(world.app))
    page = await world.client.get(httpx.URL(r.json()["url"]).raw_path.decode())
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text


async def test_yearly_counts_of_people_per_item(world: World) -> None:
    for person in ("M-10", "M-11", "M-11"):
        token = (await world.ask(person=person, recipient={**BUYER, "id": f"B-{person}"})
                 ).json()["token"]
        await world.answer(token, True)
    token = (await world.ask(person="M-12")).json()["token"]
    await world.answer(token, False)  # a "no" is not counted
    r = await world.client.get("/v1/sites/alpha/asks/counts", headers=world.auth(world.admin))
    assert r.status_code == 200, r.text
    item = r.json()["items"]["buyer_share"]
    assert item["people"] == 2 and item["thresholds"] == [100000, 1000000]
    assert item["warning"] is None and item["reached"] == []
    assert (await world.client.get("/v1/sites/alpha/asks/counts",
                                   headers=world.auth(world.app))).status_code == 401
    r = await world.client.get("/v1/sites/alpha/asks/counts", params={"year": "x"},
                               headers=world.auth(world.admin))
    assert r.status_code == 400 and r.json()["field"] == "year"


async def test_the_banner_never_asks_per_recipient_items(world: World) -> None:
    cfg = (await world.client.get("/v1/sites/alpha/config")).json()
    assert [s["id"] for s in cfg["separate"]] == ["abroad"]
    r = await world.client.post("/v1/sites/alpha/consent", json={
        "action": "custom", "revision": 3, "separate": {"buyer_share": True}})
    assert r.status_code == 400 and r.json()["field"] == "separate.buyer_share"


def test_placeholders_and_lint(tmp_path: Path) -> None:
    text, *_ = config_text()
    path = tmp_path / "c.toml"
    path.write_text(text, "utf-8")
    config = load_config(path)
    # (its impact assessment is another check's business: tests/test_assessments.py)
    assert not [p for p in lint(config) if "buyer_share" in p and "impact assessment" not in p]
    # a notice that never names the recipient's contact is what Art. 39 forbids
    path.write_text(text.replace(" ({recipient.contact}, ", " (").replace(
        "（{recipient.contact}，", "（"), "utf-8")
    problems = [p for p in lint(load_config(path)) if "buyer_share" in p]
    assert any("recipient.contact" in p and ".en" in p for p in problems), problems
    assert any("recipient.contact" in p and ".zh-CN" in p for p in problems), problems
    # placeholders outside a per-recipient item, or unknown ones, do not load
    import tomllib

    data = tomllib.loads(text)
    data["sites"]["alpha"]["separate"]["abroad"]["title"]["en"] = "To {recipient.name}"
    with pytest.raises(ConfigError, match="abroad.title.en.*per_recipient"):
        parse_config(data)
    data = tomllib.loads(text)
    data["sites"]["alpha"]["separate"]["buyer_share"]["title"]["en"] = "To {recipient.iban}"
    with pytest.raises(ConfigError, match="unknown placeholder"):
        parse_config(data)


async def test_export_receipt_and_state_show_per_recipient_grants(world: World) -> None:
    token = (await world.ask(person="M-20")).json()["token"]
    event_id = (await world.answer(token, True)).json()["event_id"]
    state = (await world.client.get("/v1/sites/alpha/people/M-20",
                                    headers=world.auth(world.crm))).json()
    assert state["recipients"]["buyer_share"]["B-77"]["agreed"] is True
    receipt_url = (await world.check("M-20"))["receipt_url"]
    doc = (await world.client.get(httpx.URL(receipt_url).raw_path.decode())).json()["receipt"]
    assert doc["recipients"] == [{"item": "buyer_share", "recipient": {
        "id": "B-77", "name": BUYER["name"], "contact": BUYER["contact"], "country": "DE",
        "data_categories": BUYER["data_categories"]}, "agreed": True, "event_id": event_id,
        "at": doc["events"][-1]["ts"]}]
    assert doc["events"][-1]["method"] == "in_context"
    export = (await world.client.get("/v1/sites/alpha/people/M-20/export",
                                     headers=world.auth(world.admin))).json()
    assert export["state"]["recipients"]["buyer_share"]["B-77"]["event_id"] == event_id


async def test_the_notice_for_the_signed_in_member_only(world: World) -> None:
    """POST notice: the page's person hint in the body; another member's ask shows nothing."""
    token = (await world.ask(person="M-30")).json()["token"]
    got = await world.notice(token, "zh-CN")
    # the modal's row labels are part of what is shown, so of the notice kept
    assert got["notice"]["labels"]["recipient_contact"] == "接收方联系方式"
    r = await world.client.post("/v1/sites/alpha/asks/notice", json={
        "token": token, "lang": "zh-CN", "hint": world.hint("M-30")})
    assert r.status_code == 200 and r.json()["texts_hash"] == got["texts_hash"]
    r = await world.client.post("/v1/sites/alpha/asks/notice", json={
        "token": token, "lang": "en", "hint": world.hint("M-31")})
    assert r.status_code == 403 and r.json()["field"] == "token"
    assert "another person" in r.json()["error"]
    r = await world.client.post("/v1/sites/alpha/asks/notice", json={
        "token": token, "hint": world.hint("M-30")[:-2] + "xx"})
    assert r.status_code == 403 and r.json()["field"] == "hint"
    r = await world.client.post("/v1/sites/alpha/asks/notice", json={"token": token, "x": 1})
    assert r.status_code == 400 and r.json()["field"] == "x"
    # nothing was answered by any of it
    assert (await world.check("M-30"))["event_id"] is None
