"""The operator role over HTTP, on both backends: an operator logs in, finds a member by e-mail,
phone or account ref, records an opt-out heard on the phone (a ledger event with method, the
operator's name and the call reference), may not export, erase or see the statistics; CSRF;
clear messages for an unknown person and bad input; English and Simplified Chinese."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.ledger import verify_site
from dashboards import i18n
from dashboards.passwords import hash_password
from tests.conftest import build_services, running, site_toml

PASSWORDS = {"ann": "ann-long-password", "lily": "lily-long-password",
             "wu": "wu-long-password"}
HASHES = {n: hash_password(pw, n=2**10) for n, pw in PASSWORDS.items()}
EXTRA = """
[sites.{site}.users]
{users}

[sites.{site}.operators]
{operators}

[sites.{site}.email]
sender = "News <news@{site}.example>"
lists.news.title.en = "News"
lists.news.title.zh-CN = "新闻"

[sites.{site}.channels.sms.lists.promotions]
title.en = "Promotions by SMS"
title.zh-CN = "短信促销"
"""
EMAIL, PHONE, REF = "Li.Lei@Example.com", "+86 138-0013-8000", "M-1001"


@dataclass
class World:
    client: httpx.AsyncClient
    keys: dict[str, str]
    svc: Any

    async def login(self, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
        page = await self.client.get("/dashboard/login", headers=headers)
        return await self.client.post("/dashboard/login", headers=headers, data={
            "csrf": token(page.text), "username": name, "password": PASSWORDS[name],
            "next": "/dashboard/"})

    async def logout(self) -> None:
        await self.client.post("/dashboard/logout", data={"csrf": await self.csrf()})
        self.client.cookies.clear()

    async def csrf(self, site: str = "alpha") -> str:
        r = await self.client.get(f"/dashboard/sites/{site}/people")
        assert r.status_code == 200, r.text
        return token(r.text)

    async def api(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.request(method, f"/v1/sites/alpha/{path}", json=body,
                                      headers={"Authorization": f"Bearer {self.keys['alpha']}"})
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    async def find(self, kind: str, value: str, csrf: str | None = None,
                   **headers: str) -> httpx.Response:
        return await self.client.post("/dashboard/sites/alpha/people/find", headers=headers,
                                      data={"csrf": csrf or await self.csrf(), "kind": kind,
                                            "value": value})

    async def record(self, person: str, items: list[str], csrf: str | None = None,
                     **fields: str) -> httpx.Response:
        data = {"csrf": csrf if csrf is not None else await self.csrf(), "person": person,
                "method": "phone", "reference": "CALL-2026-0042",
                "note": "Caller asked for no more marketing.", **fields}
        data.update({f"w:{i}": "1" for i in items})
        return await self.client.post("/dashboard/sites/alpha/people/record", data=data)


def token(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, page
    return html.unescape(m.group(1))


def text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    cfg, keys = "", {}
    for site, users, ops in (("alpha", ["ann"], ["lily"]), ("beta", [], ["wu"])):
        key, key_hash = generate_admin_key()
        keys[site] = key
        cfg += site_toml(site, key_hash, origin=f"https://{site}.example")
        cfg += EXTRA.format(site=site, users="".join(f'{u} = "{HASHES[u]}"\n' for u in users),
                            operators="".join(f'{o} = "{HASHES[o]}"\n' for o in ops))
    path = tmp_path / "operator.toml"
    path.write_text(cfg, "utf-8")
    svc = build_services(tmp_path / "operator.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, keys, svc)


async def member(w: World) -> str:
    """M-1001 with an e-mail address and a phone number, who said yes to marketing, the
    cross-border item, SMS promotions and e-mail news (through the backend API)."""
    linked = await w.api("PUT", f"people/{REF}", {"email": [EMAIL], "phone": [PHONE]})
    await w.api("POST", f"people/{REF}/events", {
        "method": "signup_form", "purposes": {"analytics": True, "marketing": True},
        "separate": {"abroad": True},
        "channels": [{"channel": "sms", "list": "promotions", "allowed": True},
                     {"channel": "email", "list": "news", "allowed": True}]})
    return str(linked["person"])


async def person_events(w: World, person: str) -> list[Any]:
    return list(await w.svc.storage.events_for_subject("alpha", person))


# --- login and what an operator may see ----------------------------------------------------------

async def test_an_operator_logs_in_and_sees_only_people_and_the_ledger(world: World) -> None:
    r = await world.login("lily")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/"
    home = await world.client.get("/dashboard/")
    assert home.status_code == 303 and home.headers["location"] == "/dashboard/sites/alpha/people"
    page = await world.client.get("/dashboard/sites/alpha/people")
    assert page.status_code == 200
    nav = page.text[page.text.index("<nav"):page.text.index("</nav>")]
    assert "/sites/alpha/people" in nav and "/sites/alpha/ledger" in nav
    assert "/sites/alpha/consent" not in nav and "/sites/alpha/email" not in nav
    assert "operator lily" in text(page.text)
    for view in ("consent", "email"):
        r = await world.client.get(f"/dashboard/sites/alpha/{view}")
        assert r.status_code == 403, view
        assert "An operator may not do this" in r.text
    # The other site's operator is not ours; its pages are 404 like a site that does not exist.
    assert (await world.client.get("/dashboard/sites/beta/people")).status_code == 404
    ledger = await world.client.get("/dashboard/sites/alpha/ledger")
    assert ledger.status_code == 200 and "/ledger/verify" not in ledger.text
    r = await world.client.post("/dashboard/sites/alpha/ledger/verify",
                                data={"csrf": token(ledger.text)})
    assert r.status_code == 403


async def test_wrong_password_and_a_removed_operator(world: World) -> None:
    page = await world.client.get("/dashboard/login")
    bad = await world.client.post("/dashboard/login", data={
        "csrf": token(page.text), "username": "lily", "password": "not-her-password"})
    assert bad.status_code == 401 and "Wrong name, password or admin key." in bad.text
    assert 'href="/dashboard/login?next=%2Fdashboard%2F&amp;lang=zh-CN"' in bad.text
    await world.login("lily")
    assert (await world.client.get("/dashboard/sites/alpha/people")).status_code == 200
    site = world.svc.config.sites["alpha"]
    object.__setattr__(site, "operators", {})  # what a config reload without lily gives
    assert (await world.client.get("/dashboard/sites/alpha/people")).status_code == 303
    # Her password changed: the old session ends too (the fingerprint is of the stored hash).
    object.__setattr__(site, "operators", {"lily": hash_password("another-long-password",
                                                                   n=2**10)})
    assert (await world.client.get("/dashboard/sites/alpha/people")).status_code == 303


# --- find ----------------------------------------------------------------------------------------

async def test_find_a_person_by_email_phone_and_ref(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    csrf = await world.csrf()
    for kind, value in (("email", "li.lei@EXAMPLE.com"), ("phone", "+8613800138000"),
                        ("phone", "0086 138 0013 8000"), ("ref", REF)):
        r = await world.find(kind, value, csrf)
        assert r.status_code == 303, (kind, value, r.text)
        assert r.headers["location"] == f"/dashboard/sites/alpha/people?person={person}"
        assert value not in r.headers["location"]
    page = await world.client.get(f"/dashboard/sites/alpha/people?person={person}")
    assert page.status_code == 200
    body = text(page.text)
    assert person in body
    for item in ("purposes:marketing", "separate:abroad", "channels:sms:promotions",
                 "channels:email:news"):
        assert f'data-item="{item}"' in page.text, item
    row = re.search(r'data-item="purposes:marketing">(.*?)</tr>', page.text, re.S)
    assert row and "granted" in row.group(1)
    # The form offers what is granted (not the necessary purpose) and every whole channel.
    assert 'name="w:purposes:marketing"' in page.text
    assert 'name="w:purposes:necessary"' not in page.text
    for ch in ("email", "sms", "push", "phone"):
        assert f'name="w:channels:{ch}:*"' in page.text
    assert f'href="/dashboard/sites/alpha/ledger?subject={person}"' in page.text


async def test_an_unknown_person_and_bad_input_get_clear_messages(world: World) -> None:
    await member(world)
    await world.login("lily")
    csrf = await world.csrf()
    cases = [("email", "nobody@example.com", 404, "No person is known by this e-mail address."),
             ("phone", "+8613900000000", 404, "No person is known by this phone number."),
             ("ref", "M-9999", 404, "No person is known by this account reference."),
             ("phone", "138 0013 8000", 400, "not a phone number in international (E.164) form"),
             ("phone", "call me", 400, "not a phone number in international (E.164) form"),
             ("email", "not-an-address", 400, "This is not an e-mail address."),
             ("ref", "a/b", 400, "An account reference is 1 to 200 characters"),
             ("shoe size", "42", 400, "Choose what to find by")]
    for kind, value, status, message in cases:
        r = await world.find(kind, value, csrf)
        assert r.status_code == status, (kind, value, r.text)
        assert message in text(r.text), (kind, value)
        assert 'role="alert"' in r.text
    for q in ("p_nothex", "p_" + "0" * 32):
        r = await world.client.get(f"/dashboard/sites/alpha/people?person={q}")
        assert r.status_code in (400, 404) and "No person with this pseudonym" in r.text


# --- record --------------------------------------------------------------------------------------

async def test_an_operator_records_an_opt_out_heard_on_the_phone(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    # "operator" in the form is ignored: the name is the session's.
    r = await world.record(person, ["purposes:marketing", "channels:sms:promotions"],
                           operator="mallory")
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/dashboard/sites/alpha/people?person={person}"
                                            "&recorded=")
    ev = (await person_events(world, person))[-1]
    assert ev.kind == "withdraw"
    assert ev.payload["method"] == "phone"
    assert ev.payload["operator"] == "lily"
    assert ev.payload["reference"] == "CALL-2026-0042"
    assert ev.payload["contact"] == [{"channel": "sms", "list": "promotions", "allowed": False}]
    assert ev.payload["choices"]["purposes"]["marketing"] is False
    assert ev.payload["choices"]["purposes"]["analytics"] is True  # untouched
    assert ev.payload["choices"]["separate"]["abroad"] is True
    assert "mallory" not in json.dumps(ev.payload)
    # The page after the redirect: the new state, the event, the link to the ledger lookup.
    page = await world.client.get(r.headers["location"])
    assert page.status_code == 200 and ev.event_id in page.text
    row = re.search(r'data-item="purposes:marketing">(.*?)</tr>', page.text, re.S)
    assert row and "refused" in row.group(1) and ev.event_id in row.group(1)
    row = re.search(r'data-item="channels:sms:promotions">(.*?)</tr>', page.text, re.S)
    assert row and "opted out" in row.group(1)
    assert 'name="w:purposes:marketing"' not in page.text  # no longer granted
    forged = await world.client.get(f"/dashboard/sites/alpha/people?person={person}"
                                    "&recorded=made-up-event")
    assert forged.status_code == 200 and 'id="recorded"' not in forged.text
    ledger = await world.client.get(f"/dashboard/sites/alpha/ledger?subject={person}")
    assert ledger.status_code == 200
    last = re.findall(r'<td data-col="method">([^<]*)</td>\s*<td data-col="operator">([^<]*)'
                      r'</td><td data-col="reference">([^<]*)</td>', ledger.text)[-1]
    assert last == ("phone", "lily", "CALL-2026-0042")
    # A sender asking now is told no; a later import of an older grant does not undo it.
    may = await world.client.get("/v1/sites/alpha/may-contact", params={
        "channel": "sms", "to": PHONE, "list": "promotions"},
        headers={"Authorization": f"Bearer {world.keys['alpha']}"})
    assert may.json()["allowed"] is False and may.json()["reason"] == "opted_out"
    await world.api("POST", f"people/{REF}/events", {
        "method": "import", "collected_at": "2026-01-01T00:00:00Z",
        "channels": [{"channel": "sms", "list": "promotions", "allowed": True}]})
    state = await world.svc.people.state("alpha", REF)
    assert state["channels"]["sms"]["promotions"]["allowed"] is False
    assert (await verify_site(world.svc.storage, "alpha")).ok


async def test_an_e_mail_request_and_a_whole_channel(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    r = await world.record(person, ["channels:email:*", "separate:abroad"],
                           method="email_request", reference="TICKET-7", note="")
    assert r.status_code == 303, r.text
    ev = (await person_events(world, person))[-1]
    assert ev.payload["method"] == "email_request" and ev.payload["reference"] == "TICKET-7"
    assert ev.payload["contact"] == [{"channel": "email", "list": "*", "allowed": False}]
    state = await world.svc.people.state("alpha", REF)
    assert state["separate"]["abroad"]["granted"] is False
    assert state["channels"]["email"]["news"]["allowed"] is False  # the channel's no wins


async def test_a_form_the_page_cannot_record_says_why(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    before = len(await person_events(world, person))
    cases = [([], {}, "Tick at least one item to withdraw."),
             (["purposes:marketing"], {"reference": "  "}, "The call reference is required."),
             (["purposes:marketing"], {"reference": "a\nb"}, "at most 200 characters"),
             (["purposes:marketing"], {"method": "telepathy"}, "Choose how the request came"),
             (["purposes:nosuch"], {}, "This item is not one of the site's"),
             (["purposes:necessary"], {}, "This item is not one of the site's"),
             (["channels:sms:nosuch"], {}, "This item is not one of the site's"),
             (["channels:fax:*"], {}, "This item is not one of the site's"),
             (["purposes:marketing"], {"note": "x" * 2001}, "The note is at most 2000")]
    for items, fields, message in cases:
        r = await world.record(person, items, **fields)
        assert r.status_code == 400, (items, fields, r.text)
        assert message in text(r.text), (items, fields)
    r = await world.record("p_" + "0" * 32, ["purposes:marketing"])
    assert r.status_code == 404 and "No person with this pseudonym" in r.text
    assert len(await person_events(world, person)) == before


async def test_csrf_is_required_to_find_and_to_record(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    before = len(await person_events(world, person))
    for bad in ("", "x" * 32):
        r = await world.record(person, ["purposes:marketing"], csrf=bad)
        assert r.status_code == 403, bad
        r = await world.find("email", EMAIL, csrf=bad or "-")
        assert r.status_code == 403
    no_field = await world.client.post("/dashboard/sites/alpha/people/record",
                                       data={"person": person, "w:purposes:marketing": "1",
                                             "method": "phone", "reference": "R-1"})
    assert no_field.status_code == 403
    assert len(await person_events(world, person)) == before
    # Logged out, the forms lead to the login page and record nothing.
    world.client.cookies.clear()
    r = await world.client.post("/dashboard/sites/alpha/people/record", data={"person": person})
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")


# --- what an operator may not do -----------------------------------------------------------------

async def test_an_operator_gets_403_on_export_and_erase(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    page = await world.client.get(f"/dashboard/sites/alpha/ledger?subject={person}")
    assert page.status_code == 200
    assert "/ledger/export" not in page.text and "/ledger/erase" not in page.text
    csrf = token(page.text)
    for action in ("export", "erase"):
        for confirm in ("", "yes"):
            r = await world.client.post(f"/dashboard/sites/alpha/ledger/{action}", data={
                "csrf": csrf, "subject": person, "confirm": confirm})
            assert r.status_code == 403, action
            assert "An operator may not do this" in r.text
            assert "application/json" not in r.headers["content-type"]
    events = await person_events(world, person)
    assert events and all(e.kind != "erase" for e in events)
    assert (await world.svc.people.state("alpha", REF)) is not None


async def test_a_user_may_use_the_people_view_and_still_export(world: World) -> None:
    person = await member(world)
    await world.login("ann")
    r = await world.find("ref", REF)
    assert r.status_code == 303
    r = await world.record(person, ["purposes:analytics"])
    assert r.status_code == 303
    ev = (await person_events(world, person))[-1]
    assert ev.payload["operator"] == "user:ann"  # a user acts under the name it logged in with
    page = await world.client.get(f"/dashboard/sites/alpha/ledger?subject={person}")
    assert "/ledger/export" in page.text and "/ledger/erase" in page.text
    r = await world.client.post("/dashboard/sites/alpha/ledger/export",
                                data={"csrf": token(page.text), "subject": person})
    # a person's export covers every identifier linked to them, in one download
    doc = r.json()
    assert r.status_code == 200 and doc["person"] == person
    assert {i["kind"] for i in doc["identifiers"]} == {"email", "phone"}
    nav = page.text[page.text.index("<nav"):page.text.index("</nav>")]
    assert "/sites/alpha/consent" in nav and "/sites/alpha/people" in nav


async def test_erasing_a_person_from_the_ledger_view_takes_every_identifier(world: World) -> None:
    person = await member(world)
    await world.api("POST", f"people/{REF}/events", {"method": "phone", "channels": [
        {"channel": "sms", "allowed": False}]})
    await world.login("ann")
    page = await world.client.get(f"/dashboard/sites/alpha/ledger?subject={person}")
    r = await world.client.post("/dashboard/sites/alpha/ledger/erase",
                                data={"csrf": token(page.text), "subject": person,
                                      "confirm": "yes"})
    assert r.status_code == 200, r.text
    assert await world.svc.people.find("alpha", "email", EMAIL) is None  # links gone
    assert await world.svc.people.find("alpha", "phone", PHONE) is None
    got = await world.svc.people.may_contact("alpha", "sms", to=PHONE)
    assert got.reason == "opted_out"  # the opt-out stays with the number
    assert (await verify_site(world.svc.storage, "alpha")).ok


# --- languages -----------------------------------------------------------------------------------

def test_both_languages_have_every_text() -> None:
    assert set(i18n.TEXTS["en"]) == set(i18n.TEXTS["zh-CN"])
    assert all(v.strip() for lang in i18n.TEXTS.values() for v in lang.values())
    assert i18n.choose(None, None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.choose(None, None, "en-GB,zh;q=0.5") == "en"
    assert i18n.choose(None, None, "fr, zh-Hans;q=0.3") == "zh-CN"
    assert i18n.choose(None, None, "zh-TW") == "en"
    assert i18n.choose("en", "zh-CN", "zh") == "en"
    assert i18n.choose("xx", "zh-CN", None) == "zh-CN"


async def test_login_and_people_view_in_simplified_chinese(world: World) -> None:
    person = await member(world)
    login = await world.client.get("/dashboard/login?lang=zh-CN")
    assert login.status_code == 200 and 'lang="zh-CN"' in login.text
    assert "登录管理后台" in login.text and "用户名" in login.text
    assert 'href="/dashboard/login?lang=en"' in login.text  # the switch back
    # Remembered: the page after logging in is in Chinese without asking again.
    await world.login("lily")
    page = await world.client.get("/dashboard/sites/alpha/people")
    assert 'lang="zh-CN"' in page.text and "查找用户" in page.text
    nav = page.text[page.text.index("<nav"):page.text.index("</nav>")]
    assert "用户" in nav and "台账查询" in nav and "客服 lily" in page.text
    r = await world.find("phone", "13800138000")
    assert r.status_code == 400 and "国际格式（E.164）" in r.text
    r = await world.find("email", "nobody@example.com")
    assert r.status_code == 404 and "没有找到使用此电子邮箱的用户" in r.text
    r = await world.record(person, ["channels:sms:promotions"], reference="来电-88")
    assert r.status_code == 303
    page = await world.client.get(r.headers["location"])
    row = re.search(r'data-item="channels:sms:promotions">(.*?)</tr>', page.text, re.S)
    assert row and "短信" in row.group(1) and "短信促销" in row.group(1) and "已退订" in row.group(1)
    ledger = await world.client.get(f"/dashboard/sites/alpha/ledger?subject={person}")
    assert "台账查询" in ledger.text and "操作人" in ledger.text and "来电-88" in ledger.text
    # English again, by the switch link; an Accept-Language alone picks Chinese.
    en = await world.client.get("/dashboard/sites/alpha/people?lang=en")
    assert 'lang="en"' in en.text and "Find a person" in en.text
    world.client.cookies.delete(i18n.COOKIE, path="/dashboard")
    zh = await world.client.get("/dashboard/sites/alpha/people",
                                headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "查找用户" in zh.text
    error = await world.client.get("/dashboard/sites/alpha/consent",
                                   headers={"Accept-Language": "zh-CN"})
    assert error.status_code == 403 and "客服无权执行此操作" in error.text


async def test_the_statistics_views_come_in_both_languages(world: World) -> None:
    await member(world)
    await world.login("ann")
    zh = await world.client.get("/dashboard/sites/alpha/consent", params={"lang": "zh-CN"})
    assert zh.status_code == 200
    assert "同意统计" in zh.text and "各目的的同意率" in zh.text and "按法律制度" in zh.text
    assert 'data-cell="regime:' in zh.text or "此时段没有决定" in zh.text  # keys stay as they are
    mail = await world.client.get("/dashboard/sites/alpha/email")  # the cookie keeps zh-CN
    assert mail.status_code == 200 and "电子邮件" in mail.text and "Campaigns" not in mail.text
    en = await world.client.get("/dashboard/sites/alpha/consent", params={"lang": "en"})
    assert "Consent rate per purpose" in en.text and "同意统计" not in en.text
