"""People over HTTP on both backends: link identifiers, record events by each method, the
person's state, may-contact for every reason, opt-out over a later import, scopes, export and
erase of a person with three linked identifiers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.ledger import verify_site
from tests.conftest import build_services, running, site_toml

EXTRA = """
[[sites.{site}.api_keys]]
name = "crm"
hash = "{write}"
scopes = ["people:read", "people:write", "contact:read"]

[[sites.{site}.api_keys]]
name = "sender"
hash = "{read}"
scopes = ["contact:read"]

[sites.{site}.email]
sender = "News <news@{site}.example>"
lists.news.title.en = "News"
lists.news.title.zh-CN = "新闻"
lists.offers.title.en = "Offers"
lists.offers.title.zh-CN = "优惠"

[sites.{site}.channels.sms.lists.promotions]
title.en = "Promotions by SMS"
title.zh-CN = "短信促销"

[sites.{site}.channels.push.lists.orders]
title.en = "Order updates"
title.zh-CN = "订单通知"

[sites.{site}.channels.push.lists.deals]
title.en = "Deals"
title.zh-CN = "优惠推送"

[sites.{site}.channels.phone.lists.telemarketing]
title.en = "Calls about offers"
title.zh-CN = "电话营销"
"""


@dataclass
class Site:
    admin: str
    write: str  # people:read, people:write, contact:read
    read: str  # contact:read only


@dataclass
class World:
    client: httpx.AsyncClient
    sites: dict[str, Site]
    svc: Any

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    text, sites = "", {}
    for site, origin in (("alpha", "https://alpha.example"), ("beta", "https://beta.example")):
        admin, admin_hash = generate_admin_key()
        write, write_hash = generate_admin_key()
        read, read_hash = generate_admin_key()
        sites[site] = Site(admin, write, read)
        text += site_toml(site, admin_hash, origin=origin)
        text += EXTRA.format(site=site, write=write_hash, read=read_hash)
    path = tmp_path / "people.toml"
    path.write_text(text, "utf-8")
    svc = build_services(tmp_path / "people.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, sites, svc)


async def put(w: World, ref: str, body: dict[str, Any], site: str = "alpha",
              key: str | None = None) -> httpx.Response:
    return await w.client.put(f"/v1/sites/{site}/people/{ref}", json=body,
                              headers=w.auth(key or w.sites[site].write))


async def event(w: World, ref: str, body: dict[str, Any], site: str = "alpha",
                key: str | None = None) -> httpx.Response:
    return await w.client.post(f"/v1/sites/{site}/people/{ref}/events", json=body,
                               headers=w.auth(key or w.sites[site].write))


async def may(w: World, site: str = "alpha", key: str | None = None, **q: str) -> dict[str, Any]:
    r = await w.client.get(f"/v1/sites/{site}/may-contact", params=q,
                           headers=w.auth(key or w.sites[site].read))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_link_identifiers_then_read_the_person(world: World) -> None:
    r = await put(world, "M-1001", {"email": ["Li.Lei@Example.com"], "phone": ["+86 138-0013-8000"],
                                    "push": ["fcm:device-token-0001"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["person"].startswith("p_") and doc["event_id"]
    assert doc["state"]["linked"] == {"email": 1, "phone": 1, "push": 1}
    # linking the same again records nothing new
    again = await put(world, "M-1001", {"email": ["li.lei@example.com"], "phone": ["+8613800138000"]})
    assert again.status_code == 200 and again.json()["event_id"] is None
    got = await world.client.get("/v1/sites/alpha/people/M-1001", headers=world.auth(world.sites["alpha"].write))
    assert got.status_code == 200 and got.json()["person"] == doc["person"]
    # an address already linked to another member is a conflict, naming the field
    other = await put(world, "M-2002", {"email": ["x@example.com", "li.lei@example.com"]})
    assert other.status_code == 409 and other.json()["field"] == "email.1"
    # nothing raw is stored anywhere: the address and the number appear in no table
    dump = await dump_tables(world)
    for raw in ("li.lei@example.com", "Li.Lei", "13800138000", "M-1001", "device-token-0001"):
        assert raw not in dump


async def dump_tables(w: World) -> str:
    storage = w.svc.storage
    if hasattr(storage, "_db") and storage._db is not None:  # SQLite: every table as text
        db: sqlite3.Connection = storage._db
        out = []
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            out += [repr(r) for r in db.execute(f'SELECT * FROM "{name}"')]
        return "\n".join(out)
    out = []
    async with storage.pool.acquire() as conn:
        for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
            out += [repr(tuple(x)) for x in await conn.fetch(f'SELECT * FROM "{r[0]}"')]
    return "\n".join(out)


async def test_bad_identifiers_and_bodies_are_4xx_naming_the_field(world: World) -> None:
    cases = [
        ({"phone": ["13800138000"]}, "phone.0"),  # no country code
        ({"email": ["not-an-address"]}, "email.0"),
        ({"consent": ["c_short"]}, "consent.0"),
        ({"fax": ["1"]}, "fax"),
    ]
    for body, field in cases:
        r = await put(world, "M-1", body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)
    r = await event(world, "M-1", {"method": "api"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = await event(world, "M-1", {"method": "api", "purposes": {"nope": True}})
    assert r.status_code == 400 and r.json()["field"] == "purposes.nope"
    r = await event(world, "M-1", {"method": "api", "channels": [
        {"channel": "sms", "list": "nope", "allowed": True}]})
    assert r.status_code == 400 and r.json()["field"] == "channels.0.list"
    r = await event(world, "M-1", {"method": "carrier_pigeon", "purposes": {"analytics": True}})
    assert r.status_code == 400 and r.json()["field"] == "method"
    r = await event(world, "M-1", {"method": "import", "collected_at": "2999-01-01T00:00:00Z",
                                   "channels": [{"channel": "sms", "allowed": True}]})
    assert r.status_code == 400 and r.json()["field"] == "collected_at"


@pytest.mark.parametrize("method", ["signup_form", "app_settings", "operator", "phone",
                                    "email_request", "sms_reply", "import", "api"])
async def test_each_method_is_recorded_in_the_ledger(world: World, method: str) -> None:
    r = await event(world, "M-7", {"method": method, "operator": "agent-7" if method in (
        "operator", "phone") else None, "reference": "T-42",
        "purposes": {"analytics": True}, "channels": [
            {"channel": "sms", "list": "promotions", "allowed": True}]})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["state"]["purposes"]["analytics"]["granted"] is True
    assert doc["state"]["purposes"]["analytics"]["event_id"] == doc["event_id"]
    assert doc["state"]["purposes"]["necessary"]["granted"] is True  # the grant rule's
    assert doc["state"]["channels"]["sms"]["promotions"]["allowed"] is True
    person = doc["state"]["person"]
    events = await world.svc.storage.events_for_subject("alpha", person)
    assert [e.payload["method"] for e in events] == [method]
    assert events[-1].payload["reference"] == "T-42"
    report = await verify_site(world.svc.storage, "alpha")
    assert report.ok, report.problem


async def test_may_contact_answers_every_reason(world: World) -> None:
    # unknown: never heard of this number
    assert (await may(world, channel="sms", to="+8613900000000"))["reason"] == "unknown"
    # no_consent: linked, never said yes
    await put(world, "M-9", {"phone": ["+8613900000001"], "email": ["m9@example.com"]})
    got = await may(world, channel="sms", to="+8613900000001", list="promotions")
    assert got == {"allowed": False, "reason": "no_consent", "channel": "sms",
                   "list": "promotions", "event_id": None}
    # allowed: the person opted in (to the person, asked by the number)
    r = await event(world, "M-9", {"method": "app_settings", "channels": [
        {"channel": "sms", "list": "promotions", "allowed": True},
        {"channel": "push", "list": "orders", "allowed": True}]})
    opted_in = r.json()["event_id"]
    got = await may(world, channel="sms", to="+8613900000001", list="promotions")
    assert got["allowed"] is True and got["reason"] == "allowed" and got["event_id"] == opted_in
    assert (await may(world, channel="sms", person="M-9", list="promotions"))["allowed"] is True
    # another list of the channel was never granted
    assert (await may(world, channel="push", person="M-9", list="deals"))["reason"] == "no_consent"
    # opted_out: a channel-wide "no" beats the list's older "yes"
    await event(world, "M-9", {"method": "sms_reply", "channels": [
        {"channel": "sms", "allowed": False}]})
    assert (await may(world, channel="sms", to="+8613900000001",
                      list="promotions"))["reason"] == "opted_out"
    # suppressed: an e-mail address on the suppression list (no ledger "no" for it)
    rid = world.svc.people.identifier("alpha", "email", "m9@example.com", "to")
    await world.svc.storage.append_engagement(_suppress(rid))
    assert (await may(world, channel="email", to="M9@example.com",
                      list="news"))["reason"] == "suppressed"
    # bad questions are 4xx naming the parameter
    for q, field in (({"channel": "fax", "to": "x"}, "channel"),
                     ({"channel": "sms"}, "to"),
                     ({"channel": "sms", "to": "+8613900000001", "person": "M-9"}, "to"),
                     ({"channel": "sms", "to": "+8613900000001", "list": "nope"}, "list"),
                     ({"channel": "sms", "to": "12"}, "to")):
        r = await world.client.get("/v1/sites/alpha/may-contact", params=q,
                                   headers=world.auth(world.sites["alpha"].read))
        assert r.status_code == 400 and r.json()["field"] == field, (q, r.text)


def _suppress(recipient: str) -> Any:
    from cmp.ledger import iso, utc_now
    from cmp.storage.records import Engagement

    now = utc_now()
    return Engagement(site="alpha", campaign="bounce", message="m1", recipient=recipient,
                      list="news", kind="unsubscribe", link=None, cls="hard_bounce",
                      machine=False, reason=None, ts=iso(now),
                      ts_ms=int(now.timestamp() * 1000), suppress=("news", "#all"))


async def test_an_operator_opt_out_is_not_undone_by_a_later_import(world: World) -> None:
    # 1 March: the member signed up for SMS promotions (in a CRM export, imported later)
    # 5 March: they phoned the hotline and opted out (recorded at once by the operator)
    r = await event(world, "M-55", {"method": "phone", "operator": "agent-3",
                                    "reference": "CALL-881", "channels": [
                                        {"channel": "sms", "list": "promotions", "allowed": False}],
                                    "collected_at": "2026-03-05T10:00:00Z"})
    assert r.status_code == 201
    opt_out = r.json()["event_id"]
    # 9 March: the weekly import arrives, still carrying the 1 March sign-up
    r = await event(world, "M-55", {"method": "import", "reference": "crm-2026-03-09",
                                    "channels": [{"channel": "sms", "list": "promotions",
                                                  "allowed": True}],
                                    "collected_at": "2026-03-01T08:00:00Z"})
    assert r.status_code == 201  # recorded (it is evidence of what the CRM said) ...
    got = await may(world, channel="sms", person="M-55", list="promotions")
    assert got["reason"] == "opted_out" and got["event_id"] == opt_out  # ... but no re-grant
    state = r.json()["state"]
    assert state["channels"]["sms"]["promotions"] == {"allowed": False, "event_id": opt_out,
                                                      "at": "2026-03-05T10:00:00.000Z"}
    # a genuine new opt-in, made after the opt-out, does count
    await event(world, "M-55", {"method": "app_settings", "channels": [
        {"channel": "sms", "list": "promotions", "allowed": True}]})
    assert (await may(world, channel="sms", person="M-55", list="promotions"))["allowed"] is True


async def test_web_choices_merge_and_follow_the_grant_rule(world: World) -> None:
    await event(world, "M-3", {"method": "signup_form", "purposes": {"analytics": True,
                                                                    "marketing": True}})
    r = await event(world, "M-3", {"method": "app_settings", "purposes": {"marketing": False}})
    st = r.json()["state"]
    assert st["purposes"]["analytics"]["granted"] is True  # kept from the sign-up form
    assert st["purposes"]["marketing"]["granted"] is False
    assert st["vendors"]["ads"]["granted"] is False  # its purpose is off: the grant rule
    assert st["vendors"]["stats"]["granted"] is True
    # separate items only by their own answer
    assert st["separate"]["abroad"]["granted"] is False


async def test_scopes_and_sites(world: World) -> None:
    a, b = world.sites["alpha"], world.sites["beta"]
    body = {"method": "api", "purposes": {"analytics": True}}
    # a key without people:write gets 403 (valid key, wrong scope)
    r = await event(world, "M-1", body, key=a.read)
    assert r.status_code == 403 and r.json()["field"] == "authorization"
    r = await put(world, "M-1", {"email": ["a@example.com"]}, key=a.read)
    assert r.status_code == 403
    r = await world.client.get("/v1/sites/alpha/people/M-1", headers=world.auth(a.read))
    assert r.status_code == 403
    # site A's keys never reach site B (401: not a key of that site)
    for key in (a.write, a.admin, a.read):
        r = await event(world, "M-1", body, site="beta", key=key)
        assert r.status_code == 401
        r = await world.client.get("/v1/sites/beta/may-contact",
                                   params={"channel": "sms", "to": "+8613900000001"},
                                   headers=world.auth(key))
        assert r.status_code == 401
    # an unknown site answers like a wrong key: outsiders learn nothing about which sites exist
    r = await event(world, "M-1", body, site="nope", key=a.write)
    assert r.status_code == 401 and r.json()["field"] == "authorization"
    # no key, a junk key: 401
    r = await world.client.post("/v1/sites/alpha/people/M-1/events", json=body)
    assert r.status_code == 401
    r = await event(world, "M-1", body, key="junk")
    assert r.status_code == 401
    # the admin key may do everything, on its own site
    r = await event(world, "M-1", body, key=a.admin)
    assert r.status_code == 201 and r.json()["recorded_by"] == "admin"
    r = await event(world, "M-1", body, site="beta", key=b.write)
    assert r.status_code == 201 and r.json()["recorded_by"] == "key:crm"
    # the same ref is a different person on each site
    pa = (await world.client.get("/v1/sites/alpha/people/M-1", headers=world.auth(a.write))).json()
    pb = (await world.client.get("/v1/sites/beta/people/M-1", headers=world.auth(b.write))).json()
    assert pa["person"] != pb["person"]
    # export and erase take the admin key only
    r = await world.client.get("/v1/sites/alpha/people/M-1/export", headers=world.auth(a.write))
    assert r.status_code == 401
    r = await world.client.delete("/v1/sites/alpha/people/M-1", headers=world.auth(a.write))
    assert r.status_code == 401


async def test_export_and_erase_a_person_with_three_identifiers(world: World) -> None:
    a = world.sites["alpha"]
    # a browser consent made on the site, then linked to the member
    r = await world.client.post("/v1/sites/alpha/consent",
                                json={"action": "accept_all", "revision": 3})
    assert r.status_code == 201, r.text
    cid = r.json()["consent_id"]
    await put(world, "M-77", {"email": ["m77@example.com"], "phone": ["+8613900000077"],
                              "consent": [cid]})
    await event(world, "M-77", {"method": "phone", "operator": "agent-1", "note": "called in",
                                "channels": [{"channel": "sms", "allowed": False},
                                             {"channel": "email", "list": "news",
                                              "allowed": True}]})
    r = await world.client.get("/v1/sites/alpha/people/M-77/export", headers=world.auth(a.admin))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {i["kind"] for i in doc["identifiers"]} == {"email", "phone", "consent"}
    assert cid in doc["subjects"] and doc["person"] in doc["subjects"]
    # the browser's accept_all shows in the person's state, via the linked consent id
    assert doc["state"]["purposes"]["analytics"]["via"] == "consent"
    r = await world.client.delete("/v1/sites/alpha/people/M-77", headers=world.auth(a.admin))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["identifiers"] == 3 and done["events_anonymised"] >= 3
    # gone: the person, their links, their browser's history
    r = await world.client.get("/v1/sites/alpha/people/M-77", headers=world.auth(a.write))
    assert r.status_code == 404
    assert await world.svc.storage.events_for_subject("alpha", cid) == []
    # the opt-out survives, on the number itself: an old list cannot reach them again
    got = await may(world, channel="sms", to="+8613900000077")
    assert got["reason"] == "opted_out"
    # and the grant does not: the address is no longer allowed
    got = await may(world, channel="email", to="m77@example.com", list="news")
    assert got["allowed"] is False
    report = await verify_site(world.svc.storage, "alpha")
    assert report.ok, report.problem
    # the note (free text) went with the personal fields
    assert "called in" not in await dump_tables(world)
