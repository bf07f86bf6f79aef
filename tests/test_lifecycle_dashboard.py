"""The people view's lifecycle form on both backends: an operator records an account closure
and a minor flag with a call reference; the page shows the retention schedule, the minor and
the needed deletion, in English and Simplified Chinese."""

from __future__ import annotations

import re

import httpx

from tests.test_operator import World, member, person_events, text
from tests.test_operator import world as world  # the fixture: the operator test's sites

__all__ = ["world"]


async def lifecycle(w: World, person: str, fact: str, **fields: str) -> httpx.Response:
    data = {"csrf": await w.csrf(), "person": person, "method": "phone",
            "reference": "CALL-2026-0077", "fact": fact, **fields}
    return await w.client.post("/dashboard/sites/alpha/people/lifecycle", data=data)


async def test_an_operator_records_a_closure_and_sees_the_schedule(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    r = await lifecycle(world, person, "account_closed", operator="mallory")
    assert r.status_code == 303, r.text
    ev = (await person_events(world, person))[-1]
    assert ev.kind == "lifecycle" and ev.payload["lifecycle"] == "account_closed"
    assert ev.payload["operator"] == "lily" and ev.payload["reference"] == "CALL-2026-0077"
    page = await world.client.get(r.headers["location"])
    assert page.status_code == 200 and 'id="recorded"' in page.text
    assert ev.event_id in page.text
    # no retention config on this site: every category is due on the closure day
    day = ev.payload["at"][:10]
    rows = re.findall(r'<tr data-category="([a-z_]+)"><td>[^<]*</td><td>(\d+)</td>'
                      r'<td>([0-9-]+)</td>', page.text)
    assert {c for c, _, _ in rows} == {"cross_border", "browsers", "marketing", "default"}
    assert all(d == "0" and due == day for _, d, due in rows)
    assert f'id="erase-due">{day}<' in page.text
    # the people view's start page lists the closed account, next due the closure day
    start = await world.client.get("/dashboard/sites/alpha/people")
    row = re.search(rf'<tr data-person="{person}">(.*?)</tr>', start.text, re.S)
    assert row and day in row.group(1), start.text
    # in Chinese
    zh = await world.client.get(r.headers["location"] + "&lang=zh-CN")
    assert "计划中的匿名化" in zh.text and "跨境同意" in zh.text
    # a form without a reference is refused, nothing recorded
    before = len(await person_events(world, person))
    bad = await lifecycle(world, person, "minor", reference="")
    assert bad.status_code == 400
    bad = await lifecycle(world, person, "reopen")
    assert bad.status_code == 400
    assert len(await person_events(world, person)) == before


async def test_an_operator_marks_a_minor(world: World) -> None:
    person = await member(world)
    await world.login("lily")
    r = await lifecycle(world, person, "minor")
    assert r.status_code == 303, r.text
    page = await world.client.get(r.headers["location"])
    body = text(page.text)
    assert 'id="minor"' in page.text and 'id="delete-needed"' in page.text
    assert "Deletion needed" in body
    row = re.search(r'data-item="purposes:marketing">(.*?)</tr>', page.text, re.S)
    assert row and "refused" in row.group(1)
    row = re.search(r'data-item="channels:sms:promotions">(.*?)</tr>', page.text, re.S)
    assert row and "opted out" in row.group(1)
