"""The dashboards' side of per-recipient consent, over HTTP on both backends: the Recipients
view (distinct people per item this calendar year against the filing thresholds, the warning as
one approaches and once reached, the year selector, the recipients most people stand agreed
with), a person's per-recipient grants in the people view with the recipients' names, an
operator recording a per-recipient withdrawal heard on the phone, and ask events in the ledger
lookup; English and Simplified Chinese; CSRF; operators kept out of the statistics."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.asks import current_year
from cmp.ledger import verify_site
from dashboards.passwords import hash_password
from tests.conftest import build_services, running, site_toml
from tests.test_asks import BUYER, ITEM

PASSWORDS = {"ann": "ann-long-password", "lily": "lily-long-password"}
HASHES = {n: hash_password(pw, n=2**10) for n, pw in PASSWORDS.items()}
ZENITH = {**BUYER, "id": "B-88", "name": "Zenith Ltd", "contact": "z@zenith.example",
          "country": "GB"}
EXTRA = """
[sites.alpha.users]
ann = "{ann}"

[sites.alpha.operators]
lily = "{lily}"

[sites.alpha.filing_thresholds]
cross_border = [3, 10]
"""


@dataclass
class World:
    client: httpx.AsyncClient
    svc: Any
    app: str
    crm: str

    async def agree(self, person: str, recipient: dict[str, Any], agreed: bool = True) -> str:
        """The member answers an ask for `recipient` on the page; the event id."""
        r = await self.client.post("/v1/sites/alpha/asks", headers=auth(self.app), json={
            "item": "buyer_share", "person": person, "recipient": recipient})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        n = await self.client.get("/v1/sites/alpha/asks/notice", params={"token": token})
        r = await self.client.post("/v1/sites/alpha/asks/answer", json={
            "token": token, "agreed": agreed, "texts_hash": n.json()["texts_hash"],
            "language": "en"})
        assert r.status_code == 201, r.text
        return str(r.json()["event_id"])

    async def check(self, person: str, recipient: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/sites/alpha/people/{person}/grants",
                                  params={"item": "buyer_share", "recipient": recipient},
                                  headers=auth(self.crm))
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def login(self, name: str) -> None:
        self.client.cookies.clear()
        page = await self.client.get("/dashboard/login")
        r = await self.client.post("/dashboard/login", data={
            "csrf": token(page.text), "username": name, "password": PASSWORDS[name],
            "next": "/dashboard/"})
        assert r.status_code == 303, r.text

    async def page(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(f"/dashboard/sites/alpha/{path}", params=params)

    async def record(self, person: str, items: list[str], csrf: str | None = None,
                     **fields: str) -> httpx.Response:
        if csrf is None:
            csrf = token((await self.page("people", person=person)).text)
        data = {"csrf": csrf, "person": person, "method": "phone",
                "reference": "CALL-2026-0077", "note": "Caller withdrew Acme.", **fields}
        data.update({f"w:{i}": "1" for i in items})
        return await self.client.post("/dashboard/sites/alpha/people/record", data=data)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def token(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, page[:500]
    return m.group(1)


def text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    _, admin_hash = generate_admin_key()
    app, app_hash = generate_admin_key()
    crm, crm_hash = generate_admin_key()
    cfg = site_toml("alpha", admin_hash, origin="https://alpha.example").replace(
        "[sites.alpha]\n", "[sites.alpha]\nfiling_warn_at = 0.5\n", 1)
    cfg += ITEM.format(site="alpha", app=app_hash, crm=crm_hash)
    cfg += EXTRA.format(**HASHES)
    path = tmp_path / "recipients.toml"
    path.write_text(cfg, "utf-8")
    svc = build_services(tmp_path / "recipients.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, svc, app, crm)


def levels(page: str) -> list[str]:
    return re.findall(r'data-level="(\w+)"', page)


async def test_counts_distinct_people_and_warns_as_a_threshold_approaches(world: World) -> None:
    await world.agree("M-1", BUYER)
    await world.agree("M-1", ZENITH)  # one person, two recipients: still one person
    await world.agree("M-2", BUYER)
    await world.agree("M-3", BUYER, agreed=False)  # a "no" is not counted
    await world.login("ann")
    r = await world.page("recipients", lang="en")
    assert r.status_code == 200, r.text
    assert 'data-people="2"' in r.text
    # 2 people of thresholds [3, 10] with filing_warn_at 0.5: approaching 3, none reached
    assert levels(r.text) == ["warning"]
    body = text(r.text)
    year = current_year()
    assert f"Warning: 2 people so far in {year}, 66.7 % of the filing threshold of 3." in body
    assert "Give … my e-mail and IP address" in body and "cross-border provision" in body
    assert "A warning shows from 50.0 % of a threshold" in body
    # the recipients most people stand agreed with: Acme (2), then Zenith (1)
    top = re.findall(r'data-recipient="buyer_share:([^"]+)">.*?<td class="n">(\d+)</td>',
                     r.text, re.S)
    assert top == [("B-77", "2"), ("B-88", "1")], top
    assert "Acme &lt;b&gt;Trading&lt;/b&gt; GmbH" in r.text and "<b>Trading" not in r.text
    assert "Zenith Ltd" in body
    # the nav links the view; the CSP allows no script
    assert 'href="/dashboard/sites/alpha/recipients" aria-current="page"' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    # a third person reaches the first threshold: the stronger message, in both languages
    await world.agree("M-4", ZENITH)
    r = await world.page("recipients")
    assert 'data-people="3"' in r.text and levels(r.text) == ["reached"]
    assert f"Threshold reached: 3 people in {year}, at or above the filing threshold of 3." \
        in text(r.text)
    zh = await world.page("recipients", lang="zh-CN")
    assert zh.status_code == 200 and '<html lang="zh-CN">' in zh.text
    assert f"已达到门槛：{year} 年已有 3 人，达到或超过申报门槛 3 人。" in text(zh.text)
    assert "向境外提供" in zh.text and f"{year} 年同意人数最多的接收方" in text(zh.text)
    # the count kept by the API agrees with the page
    assert (await world.svc.asks.yearly_people("alpha", year)) == {"buyer_share": 3}


async def test_the_year_selector(world: World) -> None:
    await world.agree("M-1", BUYER)
    await world.login("ann")
    year = current_year()
    r = await world.page("recipients", year=str(year - 1), lang="en")
    assert r.status_code == 200 and 'data-people="0"' in r.text and levels(r.text) == []
    assert f'<option value="{year - 1}" selected>' in r.text
    assert "No standing agreement was given in this year." in text(r.text)
    r = await world.page("recipients", year=str(year))
    assert 'data-people="1"' in r.text and f'<option value="{year}" selected>' in r.text
    # bad input: a clear 400 naming what is wrong, the current year shown
    for bad in ("20x6", "1999", "99999"):
        r = await world.page("recipients", year=bad)
        assert r.status_code == 400 and 'id="recipients-error"' in r.text, bad
        assert "A year is four digits" in text(r.text) and 'data-people="1"' in r.text
    r = await world.page("recipients", year="x", lang="zh-CN")
    assert r.status_code == 400 and "年份为四位数字" in r.text


async def test_an_operator_may_not_see_the_recipients_view(world: World) -> None:
    await world.agree("M-1", BUYER)
    await world.login("lily")
    r = await world.page("recipients")
    assert r.status_code == 403 and "B-77" not in r.text
    people = await world.page("people")
    assert people.status_code == 200 and "/recipients" not in people.text
    # and an unknown site answers like one that is not theirs
    assert (await world.client.get("/dashboard/sites/nope/recipients")).status_code == 404
    world.client.cookies.clear()
    r = await world.page("recipients")
    assert r.status_code == 303 and "/dashboard/login" in r.headers["location"]


async def test_an_operator_withdraws_one_recipient_heard_on_the_phone(world: World) -> None:
    await world.agree("M-5", BUYER)
    await world.agree("M-5", ZENITH)
    person = world.svc.people.person_id("alpha", "M-5")
    await world.login("lily")
    r = await world.page("people", person=person, lang="en")
    assert r.status_code == 200, r.text
    body = text(r.text)
    assert "Per-recipient consents" in body
    rows = re.findall(r'<tr data-item="recipients:buyer_share:([^"]+)">(.*?)</tr>', r.text, re.S)
    assert [rid for rid, _ in rows] == ["B-77", "B-88"]
    assert all('class="ok">agreed' in row for _, row in rows)
    assert "Give Acme &lt;b&gt;Trading&lt;/b&gt; GmbH my e-mail and IP address" in r.text
    assert "Zenith Ltd" in body and "GB" in body
    assert 'name="w:recipients:buyer_share:B-77"' in r.text
    # the operator ticks Acme only and records it
    r = await world.record(person, ["recipients:buyer_share:B-77"])
    assert r.status_code == 303, r.text
    assert (await world.check("M-5", "B-77"))["agreed"] is False
    assert (await world.check("M-5", "B-88"))["agreed"] is True
    ev = (await world.svc.storage.events_for_subject("alpha", person))[-1]
    p = ev.payload
    assert p["channel"] == "ask" and p["action"] == "withdraw" and p["method"] == "phone"
    assert p["operator"] == "lily" and p["reference"] == "CALL-2026-0077"
    assert p["recipient"]["id"] == "B-77" and p["recipient"]["name"] == BUYER["name"]
    assert ev.personal is not None and ev.personal["note"] == "Caller withdrew Acme."
    assert ev.event_id in r.headers["location"]
    shown = await world.client.get(r.headers["location"])
    assert 'id="recorded"' in shown.text
    row = re.search(r'<tr data-item="recipients:buyer_share:B-77">(.*?)</tr>', shown.text, re.S)
    assert row and 'class="bad">not agreed' in row.group(1)
    assert 'name="w:recipients:buyer_share:B-77"' not in shown.text  # nothing left to withdraw
    # the ledger lookup reads it: item, recipient, what was done, how, by whom
    led = await world.page("ledger", subject=person, lang="en")
    asks = re.findall(r'<tr data-ask="buyer_share:(B-\d+)">(.*?)</tr>', led.text, re.S)
    assert [rid for rid, _ in asks] == ["B-77", "B-88", "B-77"]
    last = text(asks[-1][1])
    assert "withdrew" in last and "Phone call" in last and "lily" in last
    assert "CALL-2026-0077" in last and "Acme <b>Trading</b> GmbH (B-77, DE)" in last
    assert "agreed" in text(asks[0][1]) and "asked in context" in text(asks[0][1])
    zh = text((await world.page("ledger", subject=person, lang="zh-CN")).text)
    assert "撤回" in zh and "场景内询问" in zh and "电话" in zh
    # a withdrawal does not lower the year's count: the data went out
    assert (await world.svc.asks.yearly_people("alpha", current_year())) == {"buyer_share": 1}
    assert (await verify_site(world.svc.storage, "alpha")).ok


async def test_the_people_view_in_simplified_chinese(world: World) -> None:
    await world.agree("M-6", ZENITH)
    person = world.svc.people.person_id("alpha", "M-6")
    await world.login("lily")
    r = await world.page("people", person=person, lang="zh-CN")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    body = text(r.text)
    assert "逐一接收方的单独同意" in body and "已同意" in body and "Zenith Ltd" in body
    r = await world.record(person, ["recipients:buyer_share:B-88"])
    assert r.status_code == 303
    assert "已记录为事件" in (await world.client.get(r.headers["location"])).text
    assert (await world.check("M-6", "B-88"))["agreed"] is False


async def test_csrf_and_forms_the_page_cannot_record(world: World) -> None:
    await world.agree("M-7", BUYER)
    await world.agree("M-8", BUYER, agreed=False)
    person = world.svc.people.person_id("alpha", "M-7")
    await world.login("lily")
    before = len(await world.svc.storage.events_for_subject("alpha", person))
    for csrf in ("", "forged-token"):
        r = await world.record(person, ["recipients:buyer_share:B-77"], csrf=csrf)
        assert r.status_code == 403 and "This form has expired" in text(r.text)
    # a recipient the person holds no grant for, and a made-up one
    for item in ("recipients:buyer_share:B-99", "recipients:nope:B-77"):
        r = await world.record(person, [item])
        assert r.status_code == 400, item
        assert "This item is not one of" in text(r.text)
    other = world.svc.people.person_id("alpha", "M-8")  # said no: nothing to withdraw
    r = await world.record(other, ["recipients:buyer_share:B-77"])
    assert r.status_code == 400
    # the reference is still required
    r = await world.record(person, ["recipients:buyer_share:B-77"], reference="")
    assert r.status_code == 400 and "The call reference is required." in text(r.text)
    assert len(await world.svc.storage.events_for_subject("alpha", person)) == before
    assert (await world.check("M-7", "B-77"))["agreed"] is True
