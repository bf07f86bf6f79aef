"""SMS and push over HTTP on both backends: the signed inbound webhook records opt-out replies
in Chinese and English (and nothing else), refuses forged, stale and unsigned calls; the
compose helper appends the instruction and refuses a number that may not be texted; an
opt-out is not undone by a later import of an older grant; push topics answer per topic."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.config import parse_config
from cmp.errors import DomainError, ErrorKind
from cmp.keys import b64u
from cmp.ledger import verify_site
from cmp.lint import lint
from consentry.cli import main
from pixel.sms.compose import ContactRefused, compose_sms
from pixel.sms.keywords import matched_keyword, normalise_reply
from pixel.sms.signature import sign
from tests.conftest import MASTER_SECRET, build_services, running, site_toml
from tests.test_people import dump_tables

EXTRA = """
[[sites.{site}.api_keys]]
name = "crm"
hash = "{write}"
scopes = ["people:read", "people:write", "contact:read"]

[[sites.{site}.api_keys]]
name = "backend"
hash = "{other}"
scopes = ["people:read"]

[sites.{site}.channels.sms]
opt_out_text.en = "Reply STOP to opt out"
opt_out_text.zh-CN = "回复TD退订"

[sites.{site}.channels.sms.lists.promotions]
title.en = "Promotions by SMS"
title.zh-CN = "短信促销"

[sites.{site}.channels.push.lists.orders]
title.en = "Order updates"
title.zh-CN = "订单通知"

[sites.{site}.channels.push.lists.deals]
title.en = "Deals"
title.zh-CN = "优惠推送"

[sites.{site}.channels.push.lists.news]
title.en = "News"
title.zh-CN = "新闻推送"
"""
SHORT_CODE = "106900001234"


@dataclass
class World:
    client: httpx.AsyncClient
    svc: Any
    config: Path
    keys: dict[str, tuple[str, str]]  # site -> (people+contact key, people:read-only key)
    secrets: dict[str, str]  # site -> webhook secret as `consentry keys secrets` prints it

    def auth(self, site: str = "alpha", which: int = 0) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[site][which]}"}


def printed_webhook_secret(config: Path, site: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The secret a customer copies from `consentry keys secrets --site S`."""
    monkeypatch.setenv("CONSENTRY_SECRET", MASTER_SECRET.decode())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["keys", "secrets", "--config", str(config), "--site", site]) == 0
    line = next(ln for ln in out.getvalue().splitlines() if ln.startswith("webhook_secret"))
    return line.split()[1]


@pytest.fixture
async def world(tmp_path: Path, database_url: str,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    text, keys = "", {}
    for site in ("alpha", "beta"):
        _, admin_hash = generate_admin_key()
        write, write_hash = generate_admin_key()
        other, other_hash = generate_admin_key()
        keys[site] = (write, other)
        text += site_toml(site, admin_hash, origin=f"https://{site}.example")
        text += EXTRA.format(site=site, write=write_hash, other=other_hash)
    path = tmp_path / "sms.toml"
    path.write_text(text, "utf-8")
    secrets = {s: printed_webhook_secret(path, s, monkeypatch) for s in keys}
    svc = build_services(tmp_path / "sms.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, svc, path, keys, secrets)


def signed(secret: str, raw: bytes, ts: int | None = None) -> dict[str, str]:
    """The headers as the README tells a relay to make them (by hand, not with our helper)."""
    stamp = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return {"X-Consentry-Timestamp": stamp, "X-Consentry-Signature": f"sha256={mac}",
            "Content-Type": "application/json"}


async def inbound(w: World, body: Any, site: str = "alpha", *, secret: str | None = None,
                  ts: int | None = None, headers: dict[str, str] | None = None,
                  raw: bytes | None = None) -> httpx.Response:
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    h = signed(secret or w.secrets[site], data, ts) if headers is None else headers
    return await w.client.post(f"/v1/sites/{site}/sms/inbound", content=data, headers=h)


async def may(w: World, site: str = "alpha", **q: str) -> dict[str, Any]:
    r = await w.client.get(f"/v1/sites/{site}/may-contact", params=q, headers=w.auth(site))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def event(w: World, ref: str, body: dict[str, Any]) -> httpx.Response:
    r = await w.client.post(f"/v1/sites/alpha/people/{ref}/events", json=body,
                            headers=w.auth())
    assert r.status_code == 201, r.text
    return r


async def link(w: World, ref: str, body: dict[str, Any]) -> None:
    r = await w.client.put(f"/v1/sites/alpha/people/{ref}", json=body, headers=w.auth())
    assert r.status_code == 200, r.text


async def compose(w: World, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return await w.client.post("/v1/sites/alpha/sms/compose", json=body,
                               headers=kw.get("headers", w.auth()))


async def ledger_size(w: World, site: str = "alpha") -> int:
    report = await verify_site(w.svc.storage, site)
    assert report.ok, report.problem
    return report.checked


# --- inbound ------------------------------------------------------------------------------------

REPLIES = ["退订", "TD", "ＴＤ", "td", "退订。", "STOP", "stop.", " Stop ", "UNSUBSCRIBE!",
           "T", "\u3000退订\u3000", "ｓｔｏｐ！"]


async def test_opt_out_replies_in_chinese_and_english(world: World) -> None:
    for i, text in enumerate(REPLIES):
        number = f"+86139000010{i:02d}"
        assert (await may(world, channel="sms", to=number))["reason"] == "unknown"
        r = await inbound(world, {"from": number, "to": SHORT_CODE, "text": text,
                                  "id": f"msg-{i}"})
        assert r.status_code == 200, (text, r.text)
        doc = r.json()
        assert doc["opt_out"] is True and doc["recorded_for"] == "number", (text, doc)
        # committed before the 200: the next may-contact refuses, naming that event
        got = await may(world, channel="sms", to=number)
        assert got["reason"] == "opted_out" and got["event_id"] == doc["event_id"], text
        assert (await may(world, channel="sms", to=number, list="promotions"))[
            "reason"] == "opted_out"
    # each is a ledger event of the number's pseudonym: sms_reply, sms, every list, no
    subject = world.svc.people.identifier("alpha", "phone", "+8613900001000", "to")
    assert subject.startswith("t_")
    [ev] = await world.svc.storage.events_for_subject("alpha", subject)
    assert ev.payload["method"] == "sms_reply" and ev.kind == "withdraw"
    assert ev.payload["contact"] == [{"channel": "sms", "list": "*", "allowed": False}]
    assert ev.payload["reference"] == "sms:msg-0"
    assert await ledger_size(world) == len(REPLIES)
    # the numbers and the texts are nowhere in storage (the short code neither)
    dump = await dump_tables(world)
    for raw in ("13900001000", "13900001011", "退订", "UNSUBSCRIBE", SHORT_CODE):
        assert raw not in dump
    # another site's numbers are untouched: the same number is unknown there
    assert (await may(world, "beta", channel="sms", to="+8613900001000"))["reason"] == "unknown"


async def test_an_opt_out_from_a_linked_number_is_the_persons(world: World) -> None:
    await link(world, "M-1", {"phone": ["+86 139-0000-2000"], "email": ["m1@example.com"]})
    opted_in = await event(world, "M-1", {"method": "signup_form", "channels": [
        {"channel": "sms", "list": "promotions", "allowed": True}]})
    assert (await may(world, channel="sms", person="M-1", list="promotions"))["allowed"]
    r = await inbound(world, {"from": "+8613900002000", "to": SHORT_CODE, "text": "退订"})
    assert r.status_code == 200 and r.json()["recorded_for"] == "person", r.text
    opt_out = r.json()["event_id"]
    assert opt_out != opted_in.json()["event_id"]
    for q in ({"person": "M-1"}, {"to": "+8613900002000"}):
        got = await may(world, channel="sms", list="promotions", **q)
        assert got["reason"] == "opted_out" and got["event_id"] == opt_out, q
    # the person's state shows it, with the event; e-mail is another channel, untouched
    st = (await world.client.get("/v1/sites/alpha/people/M-1", headers=world.auth())).json()
    assert st["channels"]["sms"]["*"] == {"allowed": False, "event_id": opt_out,
                                          "at": st["channels"]["sms"]["*"]["at"]}
    assert (await may(world, channel="email", person="M-1"))["reason"] == "no_consent"
    events = await world.svc.storage.events_for_subject("alpha", st["person"])
    assert [e.payload.get("method") for e in events] == ["api", "signup_form", "sms_reply"]


async def test_a_retried_call_records_once(world: World) -> None:
    body = {"from": "+8613900003000", "to": SHORT_CODE, "text": "TD", "id": "abc-1"}
    first = (await inbound(world, body)).json()
    again = await inbound(world, body)
    assert again.status_code == 200
    assert again.json() == {**first, "retry": True}
    assert await ledger_size(world) == 1
    # another message id is another reply
    r = await inbound(world, {**body, "id": "abc-2"})
    assert r.json()["retry"] is False and await ledger_size(world) == 2


async def test_other_messages_store_nothing(world: World) -> None:
    for text in ("Hello", "TD是什么", "don't stop", "stop sending me offers", "S TOP", "",
                 "退订 谢谢", "TDD", "?"):
        r = await inbound(world, {"from": "+8613900004000", "to": SHORT_CODE, "text": text})
        assert r.status_code == 200 and r.json() == {"opt_out": False}, (text, r.text)
    assert await ledger_size(world) == 0
    assert (await may(world, channel="sms", to="+8613900004000"))["reason"] == "unknown"
    assert "13900004000" not in await dump_tables(world)


async def test_forged_stale_and_unsigned_calls_are_refused(world: World) -> None:
    body = {"from": "+8613900005000", "to": SHORT_CODE, "text": "退订"}
    raw = json.dumps(body, ensure_ascii=False).encode()
    now = int(time.time())
    good = signed(world.secrets["alpha"], raw, now)
    tampered = json.dumps({**body, "from": "+8613900005001"}).encode()
    cases: list[tuple[dict[str, str], bytes, str]] = [
        ({"Content-Type": "application/json"}, raw, "X-Consentry-Timestamp"),
        ({**good, "X-Consentry-Signature": ""}, raw, "X-Consentry-Signature"),
        ({k: v for k, v in good.items() if k != "X-Consentry-Signature"}, raw,
         "X-Consentry-Signature"),
        ({k: v for k, v in good.items() if k != "X-Consentry-Timestamp"}, raw,
         "X-Consentry-Timestamp"),
        (signed(world.secrets["beta"], raw, now), raw, "X-Consentry-Signature"),  # other site's
        (signed("guessed-secret", raw, now), raw, "X-Consentry-Signature"),
        (good, tampered, "X-Consentry-Signature"),  # the body changed after signing
        ({**good, "X-Consentry-Timestamp": str(now + 1)}, raw, "X-Consentry-Signature"),
        ({**good, "X-Consentry-Signature": "sha256=" + "0" * 64}, raw, "X-Consentry-Signature"),
        ({**good, "X-Consentry-Signature": good["X-Consentry-Signature"][7:]}, raw,
         "X-Consentry-Signature"),  # no sha256= prefix
        ({**good, "X-Consentry-Timestamp": "yesterday"}, raw, "X-Consentry-Timestamp"),
        (signed(world.secrets["alpha"], raw, now - 301), raw, "X-Consentry-Timestamp"),  # replay
        (signed(world.secrets["alpha"], raw, now - 3600), raw, "X-Consentry-Timestamp"),
        (signed(world.secrets["alpha"], raw, now + 600), raw, "X-Consentry-Timestamp"),
    ]
    for headers, data, field in cases:
        r = await inbound(world, None, raw=data, headers=headers)
        assert r.status_code == 401 and r.json()["field"] == field, (headers, r.text)
    # a correctly signed call to another site's webhook is refused there too
    r = await inbound(world, body, "beta", secret=world.secrets["alpha"])
    assert r.status_code == 401
    assert await ledger_size(world) == 0 and await ledger_size(world, "beta") == 0
    assert (await may(world, channel="sms", to="+8613900005000"))["reason"] == "unknown"
    # the genuine call, within the five minutes, is taken
    r = await inbound(world, body, ts=now - 240)
    assert r.status_code == 200 and r.json()["opt_out"] is True


async def test_bad_bodies_are_400_naming_the_field(world: World) -> None:
    ok = {"from": "+8613900006000", "to": SHORT_CODE, "text": "TD"}
    cases: list[tuple[Any, str]] = [
        ({"to": SHORT_CODE, "text": "TD"}, "from"),
        ({**ok, "from": "13900006000"}, "from"),  # no country code: not guessed
        ({**ok, "from": "+86 abc"}, "from"),
        ({**ok, "text": 7}, "text"),
        ({k: v for k, v in ok.items() if k != "text"}, "text"),
        ({k: v for k, v in ok.items() if k != "to"}, "to"),
        ({**ok, "id": "has space"}, "id"),
        ({**ok, "From": "+8613900006000"}, "From"),
        ({**ok, "text": "x" * 1601}, "text"),
        ([ok], "body"),
    ]
    for body, field in cases:
        r = await inbound(world, body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)
    r = await inbound(world, None, raw=b"{not json")
    assert r.status_code == 400 and r.json()["field"] == "body"
    # a non-keyword text from a bad number is still a bad body
    r = await inbound(world, {**ok, "from": "12", "text": "hello"})
    assert r.status_code == 400 and r.json()["field"] == "from"
    raw = json.dumps(ok).encode()
    r = await world.client.post("/v1/sites/alpha/sms/inbound", content=raw,
                                headers={**signed(world.secrets["alpha"], raw),
                                         "Content-Type": "text/html"})
    assert r.status_code == 415 and r.json()["field"] == "content-type"
    r = await inbound(world, None, raw=b" " * 9000)
    assert r.status_code == 413
    # an unknown site is answered like a wrong signature: nothing tells which sites exist
    r = await inbound(world, ok, "nosuchsite", secret="x")
    assert r.status_code == 401 and r.json()["field"] == "X-Consentry-Signature"
    r = await inbound(world, ok, "nosuchsite",
                      secret=b64u(world.svc.keyring.site("nosuchsite").webhook_key))
    assert r.json() == (await inbound(world, ok, "nosuchsite", secret="x")).json()
    assert await ledger_size(world) == 0


# --- compose ------------------------------------------------------------------------------------

async def test_compose_appends_the_instruction_and_refuses_an_opted_out_number(
        world: World) -> None:
    await link(world, "M-2", {"phone": ["+8613900007000"]})
    await event(world, "M-2", {"method": "app_settings", "channels": [
        {"channel": "sms", "list": "promotions", "allowed": True}]})
    r = await compose(world, {"to": "+8613900007000", "text": "双十一新品上架，全场八折",
                              "language": "zh-CN", "list": "promotions"})
    assert r.status_code == 200, r.text
    assert r.json()["to_allowed"] is True
    assert r.json()["text"] == "双十一新品上架，全场八折 回复TD退订"
    r = await compose(world, {"to": "+86 139 0000 7000", "text": "New arrivals: 20% off ",
                              "language": "en", "list": "promotions"})
    assert r.json()["text"] == "New arrivals: 20% off Reply STOP to opt out"
    # the site's default language when none is given; not appended twice
    r = await compose(world, {"to": "+8613900007000", "list": "promotions",
                              "text": "Sale ends today. Reply STOP to opt out."})
    assert r.json()["text"] == "Sale ends today. Reply STOP to opt out."
    assert r.json()["language"] == "en"
    # the Python helper answers the same
    done = await compose_sms(world.svc.people, "alpha", "+8613900007000", "新品",
                             language="zh-CN", list_id="promotions")
    assert done.text == "新品 回复TD退订"
    # the member replies 退订: from then on the number is refused, with the reason
    assert (await inbound(world, {"from": "+8613900007000", "to": SHORT_CODE,
                                  "text": "退订"})).json()["opt_out"] is True
    r = await compose(world, {"to": "+8613900007000", "text": "还有优惠", "language": "zh-CN",
                              "list": "promotions"})
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "to" and r.json()["reason"] == "opted_out"
    assert r.json()["to_allowed"] is False and r.json()["event_id"]
    with pytest.raises(ContactRefused) as refused:
        await compose_sms(world.svc.people, "alpha", "+8613900007000", "还有优惠")
    assert isinstance(refused.value, DomainError) and refused.value.kind is ErrorKind.CONFLICT
    assert refused.value.field == "to" and refused.value.reason == "opted_out"
    # a number nobody ever gave consent for is refused too
    r = await compose(world, {"to": "+8613900007999", "text": "hi"})
    assert r.status_code == 409 and r.json()["reason"] == "unknown"


async def test_compose_checks_its_input_and_key(world: World) -> None:
    body = {"to": "+8613900008000", "text": "hi"}
    for bad, field in (({**body, "to": "139"}, "to"), ({**body, "language": "fr"}, "language"),
                       ({**body, "list": "nope"}, "list"), ({"to": body["to"]}, "text"),
                       ({**body, "text": ""}, "text"), ({**body, "extra": 1}, "extra")):
        r = await compose(world, bad)
        assert r.status_code == 400 and r.json()["field"] == field, (bad, r.text)
    r = await compose(world, body, headers={})
    assert r.status_code == 401
    r = await compose(world, body, headers=world.auth("alpha", 1))  # people:read only
    assert r.status_code == 403 and r.json()["field"] == "authorization"
    r = await world.client.post("/v1/sites/beta/sms/compose", json=body, headers=world.auth())
    assert r.status_code == 401  # alpha's key on beta
    r = await world.client.post("/v1/sites/nope/sms/compose", json=body, headers=world.auth())
    assert r.status_code == 401 and r.json()["field"] == "authorization"  # like a wrong key


# --- an opt-out beats an older grant ------------------------------------------------------------

async def test_a_later_import_of_an_older_grant_does_not_regrant(world: World) -> None:
    # a linked member replies TD; a week later the CRM's import still carries the sign-up of
    # November (collected before the reply): recorded, but the number stays refused
    await link(world, "M-3", {"phone": ["+8613900009000"]})
    r = await inbound(world, {"from": "+8613900009000", "to": SHORT_CODE, "text": "TD"})
    opt_out = r.json()["event_id"]
    await event(world, "M-3", {"method": "import", "reference": "crm-weekly",
                               "collected_at": "2026-11-01T08:00:00Z",
                               "channels": [{"channel": "sms", "list": "promotions",
                                             "allowed": True}]})
    got = await may(world, channel="sms", to="+8613900009000", list="promotions")
    assert got["reason"] == "opted_out" and got["event_id"] == opt_out
    r = await compose(world, {"to": "+8613900009000", "text": "hi", "list": "promotions"})
    assert r.status_code == 409 and r.json()["reason"] == "opted_out"
    # a number that opted out before it was linked to anyone: linking it and importing the
    # person's older grant does not reach it either
    r = await inbound(world, {"from": "+8613900009001", "to": SHORT_CODE, "text": "退订"})
    assert r.json()["recorded_for"] == "number"
    await link(world, "M-4", {"phone": ["+8613900009001"]})
    await event(world, "M-4", {"method": "import", "collected_at": "2026-11-02T08:00:00Z",
                               "channels": [{"channel": "sms", "allowed": True},
                                            {"channel": "sms", "list": "promotions",
                                             "allowed": True}]})
    assert (await may(world, channel="sms", to="+8613900009001",
                      list="promotions"))["reason"] == "opted_out"
    # a genuine new opt-in, made after the reply, does count
    await event(world, "M-3", {"method": "app_settings", "channels": [
        {"channel": "sms", "list": "promotions", "allowed": True}]})
    assert (await may(world, channel="sms", to="+8613900009000",
                      list="promotions"))["allowed"] is True


# --- push: per topic through the events API ---------------------------------------------------

async def test_push_topics_answer_one_by_one(world: World) -> None:
    device = "fcm:device-token-7f3a9c"
    await event(world, "M-5", {"method": "app_settings", "channels": [
        {"channel": "push", "list": "orders", "allowed": True},
        {"channel": "push", "list": "deals", "allowed": False}]})
    assert (await may(world, channel="push", person="M-5", list="orders"))["allowed"] is True
    assert (await may(world, channel="push", person="M-5", list="deals"))["reason"] == "opted_out"
    assert (await may(world, channel="push", person="M-5", list="news"))["reason"] == "no_consent"
    assert (await may(world, channel="push", person="M-5"))["reason"] == "no_consent"
    # the push id is unknown until linked; then it answers as its person, topic by topic
    assert (await may(world, channel="push", to=device, list="orders"))["reason"] == "unknown"
    await link(world, "M-5", {"push": [device]})
    assert (await may(world, channel="push", to=device, list="orders"))["allowed"] is True
    assert (await may(world, channel="push", to=device, list="deals"))["reason"] == "opted_out"
    # out of one topic later; the other stays
    await event(world, "M-5", {"method": "app_settings", "channels": [
        {"channel": "push", "list": "orders", "allowed": False},
        {"channel": "push", "list": "news", "allowed": True}]})
    assert (await may(world, channel="push", to=device, list="orders"))["reason"] == "opted_out"
    assert (await may(world, channel="push", to=device, list="news"))["allowed"] is True
    # push answers are not SMS answers
    assert (await may(world, channel="sms", person="M-5"))["reason"] == "no_consent"
    r = await world.client.get("/v1/sites/alpha/may-contact", headers=world.auth(),
                               params={"channel": "push", "to": device, "list": "nope"})
    assert r.status_code == 400 and r.json()["field"] == "list"
    assert "device-token-7f3a9c" not in await dump_tables(world)


# --- parts --------------------------------------------------------------------------------------

def test_reply_spelling() -> None:
    assert normalise_reply(" ＳＴＯＰ！ ") == "stop"
    assert normalise_reply("退订。") == "退订"
    assert normalise_reply("\u200bTD\u200b") == "td"
    assert normalise_reply("td ...  ") == "td"
    defaults = ["TD", "T", "退订", "STOP", "UNSUBSCRIBE"]
    assert matched_keyword("Unsubscribe.", defaults) == "UNSUBSCRIBE"
    for text in ("TD是什么", "don't stop", "STOP ALL", "¿stop", "t d", "", "。"):
        assert matched_keyword(text, defaults) is None, text
    assert matched_keyword("quit", ["Quit", "退出"]) == "Quit"


def test_the_helper_signs_as_the_readme_says() -> None:
    raw = b'{"from":"+8613900000000","to":"1069","text":"TD"}'
    assert {**sign("s3cret", raw, now=1_700_000_000), "Content-Type": "application/json"} == \
        signed("s3cret", raw, 1_700_000_000)


def test_check_lints_channels() -> None:
    _, admin_hash = generate_admin_key()
    text = site_toml("shop", admin_hash, origin="https://shop.example") + """
[sites.shop.channels.sms]
opt_out_keywords = ["退订"]
opt_out_text.en = "Reply STOP to opt out"

[sites.shop.channels.sms.lists.promotions]
title.en = "Promotions"

[sites.shop.channels.push.lists.deals]
title.en = "Deals"
title.zh-CN = "优惠"
description.zh-CN = "优惠推送"
"""
    problems = [p for p in lint(parse_config(tomllib.loads(text))) if ".channels." in p]
    keys = sorted(p.split(":")[0] for p in problems)
    assert keys == ["sites.shop.channels.push.lists.deals.description.en",
                    "sites.shop.channels.sms.lists.promotions.title.zh-CN",
                    "sites.shop.channels.sms.opt_out_text.en",  # names no keyword
                    "sites.shop.channels.sms.opt_out_text.zh-CN"], problems
    fixed = text.replace('opt_out_keywords = ["退订"]', "").replace(
        'opt_out_text.en = "Reply STOP to opt out"',
        'opt_out_text.en = "Reply STOP to opt out"\nopt_out_text.zh-CN = "回复TD退订"').replace(
        'title.en = "Promotions"', 'title.en = "Promotions"\ntitle.zh-CN = "促销"').replace(
        'description.zh-CN = "优惠推送"', "")
    assert [p for p in lint(parse_config(tomllib.loads(fixed))) if ".channels." in p] == []
    empty = fixed.replace("[sites.shop.channels.sms]", "[sites.shop.channels.sms]\n"
                                                        "opt_out_keywords = []")
    assert [p.split(":")[0] for p in lint(parse_config(tomllib.loads(empty))) if ".channels." in p] == [
        "sites.shop.channels.sms.opt_out_keywords"]
