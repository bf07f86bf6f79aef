"""A person's lifecycle over HTTP on both backends: account closure starts the retention clocks
of [sites.X.retention_after_closure], purge carries each out on its day (clock injected) and
the chain still verifies; a minor flag voids optional consents and records a needed deletion
unless a guardian consented; bad lifecycle bodies are 4xx naming the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cmp.ledger import verify_site
from tests.conftest import build_services, running, site_toml
from tests.test_people import EXTRA, Site, World, event, may, put

RETENTION = """
[sites.alpha.retention_after_closure]
cross_border = 5
browsers = 2
marketing = 0
default = 1
"""


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    from cmp.adminkeys import generate_admin_key

    admin, admin_hash = generate_admin_key()
    write, write_hash = generate_admin_key()
    read, read_hash = generate_admin_key()
    text = site_toml("alpha", admin_hash, origin="https://alpha.example")
    text += EXTRA.format(site="alpha", write=write_hash, read=read_hash) + RETENTION
    path = tmp_path / "lifecycle.toml"
    path.write_text(text, "utf-8")
    svc = build_services(tmp_path / "lifecycle.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, {"alpha": Site(admin, write, read)}, svc)


async def person_events(w: World, subject: str) -> list[dict[str, Any]]:
    return [e.payload for e in await w.svc.storage.events_for_subject("alpha", subject)]


async def verified(w: World) -> None:
    report = await verify_site(w.svc.storage, "alpha")
    assert report.ok, report.problem


async def test_closure_clocks_run_out_on_their_day(world: World) -> None:
    w = world
    r = await w.client.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3})
    assert r.status_code == 201, r.text
    cid = r.json()["consent_id"]
    assert (await put(w, "M-1", {"email": ["m1@example.com"], "consent": [cid]})).status_code == 200
    # default: the person's own choice of purposes; cross_border: agreeing to the abroad item
    # and later turning it off; marketing: a channel answer
    for body in ({"method": "signup_form", "purposes": {"analytics": True}},
                 {"method": "app_settings", "separate": {"abroad": True}},
                 {"method": "app_settings", "separate": {"abroad": False}},
                 {"method": "app_settings", "channels": [
                     {"channel": "email", "list": "news", "allowed": True}]}):
        r = await event(w, "M-1", body)
        assert r.status_code == 201, r.text
    r = await event(w, "M-1", {"method": "api", "account": "closed", "reference": "T-9"})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "lifecycle"
    life = r.json()["state"]["lifecycle"]
    closed = dt.datetime.fromisoformat(life["account_closed_at"].replace("Z", "+00:00"))
    d0 = closed.date()
    due = {x["category"]: x for x in life["retention"]}
    assert due["cross_border"]["due"] == (d0 + dt.timedelta(days=5)).isoformat()
    assert due["marketing"]["due"] == d0.isoformat()
    assert due["cross_border"]["events"] == 2 and due["marketing"]["events"] == 1
    assert due["default"]["events"] == 1 and due["browsers"]["events"] == 1
    assert life["erase_due"] == (d0 + dt.timedelta(days=5)).isoformat()
    person = r.json()["state"]["person"]

    def first(n: int) -> dt.datetime:  # the first second of day n after closure
        return dt.datetime.combine(d0 + dt.timedelta(days=n), dt.time(0, 0, 1), dt.UTC)

    def last(n: int) -> dt.datetime:  # the last second of day n
        return dt.datetime.combine(d0 + dt.timedelta(days=n), dt.time(23, 59, 59), dt.UTC)

    async def kept() -> list[str]:
        out = []
        for p in await person_events(w, person):
            abroad = p.get("choices", {}).get("separate", {}).get("abroad")
            out.append(p.get("lifecycle") or ("contact" if "contact" in p else
                       f"abroad={abroad}" if p.get("method") == "app_settings" else
                       p.get("action")))
        return sorted(out)

    people = w.svc.people
    # closure day: only marketing (0 days) goes
    assert (await people.close_accounts(now=last(0)))["alpha"]["anonymised"] == 1
    assert "contact" not in await kept() and len(await kept()) == 5
    await verified(w)
    sched = await people.scheduled("alpha")
    assert [(x["person"], x["next_due"], x["next_category"]) for x in sched] == [
        (person, (d0 + dt.timedelta(days=1)).isoformat(), "default")]
    # nothing more the same day, nor on a second run
    assert (await people.close_accounts(now=last(0)))["alpha"]["anonymised"] == 0
    # day 1: default (the purposes choice)
    assert (await people.close_accounts(now=first(1)))["alpha"]["anonymised"] == 1
    assert await kept() == ["abroad=False", "abroad=True", "account_closed", "link"]
    assert len(await w.svc.storage.events_for_subject("alpha", cid)) == 1
    # day 2: the linked browser's banner events
    assert (await people.close_accounts(now=last(1)))["alpha"]["anonymised"] == 0
    assert (await people.close_accounts(now=first(2)))["alpha"]["anonymised"] == 1
    assert await w.svc.storage.events_for_subject("alpha", cid) == []
    await verified(w)
    # the day before the cross-border clock ends: still held, and the schedule says so
    assert (await people.close_accounts(now=last(4)))["alpha"]["anonymised"] == 0
    r = await w.client.get("/v1/sites/alpha/people/M-1", headers=w.auth(w.sites["alpha"].write))
    due = {x["category"]: x for x in r.json()["lifecycle"]["retention"]}
    assert due["cross_border"]["events"] == 2 and due["default"]["events"] == 0
    # day 5: the longest clock: the person is erased whole
    out = (await people.close_accounts(now=first(5)))["alpha"]
    assert out["people_erased"] == 1 and out["anonymised"] >= 4
    r = await w.client.get("/v1/sites/alpha/people/M-1", headers=w.auth(w.sites["alpha"].write))
    assert r.status_code == 404
    assert await people.scheduled("alpha") == []
    await verified(w)
    assert (await people.close_accounts(now=first(6)))["alpha"] == {"anonymised": 0,
                                                                    "people_erased": 0}


async def test_an_open_account_is_never_purged(world: World) -> None:
    r = await event(world, "M-5", {"method": "signup_form", "purposes": {"analytics": True}})
    assert r.status_code == 201
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4000)
    assert (await world.svc.people.close_accounts(now=later))["alpha"]["anonymised"] == 0
    r = await world.client.get("/v1/sites/alpha/people/M-5",
                               headers=world.auth(world.sites["alpha"].write))
    assert r.json()["purposes"]["analytics"]["granted"] is True
    assert r.json()["lifecycle"] is None


async def test_a_minor_loses_optional_consents_and_needs_deleting(world: World) -> None:
    w = world
    for ref in ("M-2", "M-3"):
        await put(w, ref, {"phone": [f"+86139000000{ref[-1]}0"]})
        r = await event(w, ref, {"method": "signup_form",
                                 "purposes": {"analytics": True, "marketing": True},
                                 "channels": [{"channel": "sms", "list": "promotions",
                                               "allowed": True},
                                              {"channel": "email", "list": "news",
                                               "allowed": True}]})
        assert r.status_code == 201, r.text
    assert (await may(w, channel="sms", person="M-2", list="promotions"))["allowed"] is True
    # M-3's guardian consented (before the flag)
    r = await event(w, "M-3", {"method": "letter", "guardian_consent": {
        "method": "letter", "reference": "GC-2026-17"}})
    assert r.status_code == 201, r.text
    for ref in ("M-2", "M-3"):
        r = await event(w, ref, {"method": "operator", "minor": True, "operator": "agent-7",
                                 "reference": "CALL-1"})
        assert r.status_code == 201, r.text
        state = r.json()["state"]
        assert state["purposes"]["necessary"]["granted"] is True
        assert state["purposes"]["analytics"]["granted"] is False
        assert state["purposes"]["marketing"]["granted"] is False
        assert all(not a["allowed"] for lists in state["channels"].values()
                   for a in lists.values()), state["channels"]
        for ch, lid in (("sms", "promotions"), ("email", "news")):
            got = await may(w, channel=ch, person=ref, list=lid)
            assert got["allowed"] is False, (ref, ch, got)
        assert state["lifecycle"]["minor"] is True
    m2 = (await w.client.get("/v1/sites/alpha/people/M-2",
                             headers=w.auth(w.sites["alpha"].write))).json()
    m3 = (await w.client.get("/v1/sites/alpha/people/M-3",
                             headers=w.auth(w.sites["alpha"].write))).json()
    assert m2["lifecycle"]["delete_needed"] is True and m2["lifecycle"]["guardian_consent"] is None
    assert m3["lifecycle"]["delete_needed"] is False
    assert m3["lifecycle"]["guardian_consent"]["reference"] == "GC-2026-17"
    # the ledger event a request case picks up: one for M-2, none for M-3
    needed = [p for p in await person_events(w, m2["person"])
              if p.get("lifecycle") == "delete_needed"]
    assert len(needed) == 1 and needed[0]["reason"] == "minor_without_guardian_consent"
    assert not [p for p in await person_events(w, m3["person"])
                if p.get("lifecycle") == "delete_needed"]
    # a guardian consent recorded afterwards answers M-2's need
    r = await event(w, "M-2", {"method": "phone", "guardian_consent": {
        "method": "phone", "reference": "CALL-2"}})
    assert r.status_code == 201 and r.json()["state"]["lifecycle"]["delete_needed"] is False
    await verified(w)


async def test_bad_lifecycle_bodies_are_4xx_naming_the_field(world: World) -> None:
    cases = [
        ({"method": "api", "account": "open"}, "account"),
        ({"method": "api", "minor": "yes"}, "minor"),
        ({"method": "api", "minor": False}, "minor"),
        ({"method": "api", "account": "closed", "minor": True}, "minor"),
        ({"method": "api", "account": "closed", "purposes": {"analytics": False}}, "account"),
        ({"method": "api", "guardian_consent": {"method": "letter"}},
         "guardian_consent.reference"),
        ({"method": "api", "guardian_consent": {"method": "owl", "reference": "x"}},
         "guardian_consent.method"),
        ({"method": "api", "account": "closed", "collected_at": "2999-01-01T00:00:00Z"},
         "collected_at"),
    ]
    for body, field in cases:
        r = await event(world, "M-9", body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)
    r = await world.client.get("/v1/sites/alpha/people/M-9",
                               headers=world.auth(world.sites["alpha"].write))
    assert r.status_code == 404  # nothing was recorded


async def test_unknown_retention_category_is_a_config_error(tmp_path: Path) -> None:
    from cmp.config import load_config

    path = tmp_path / "bad.toml"
    path.write_text(site_toml("alpha", "sha256:" + "0" * 64, origin="https://alpha.example")
                    + "[sites.alpha.retention_after_closure]\nforever = 3\n", "utf-8")
    with pytest.raises(Exception, match="forever"):
        load_config(path)


def test_consentry_purge_carries_out_a_due_closure(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import os

    from cmp.adminkeys import generate_admin_key
    from consentry import cli
    from tests.conftest import db_rows

    for k in list(os.environ):
        if k.startswith("CONSENTRY_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    admin, admin_hash = generate_admin_key()
    path = tmp_path / "c.toml"  # no retention_after_closure: every category at the next purge
    path.write_text(site_toml("alpha", admin_hash, origin="https://alpha.example"), "utf-8")
    db = tmp_path / "c.db"

    async def close() -> None:
        async with running(build_services(db, path)) as client:
            auth = {"Authorization": f"Bearer {admin}"}
            for body in ({"method": "signup_form", "purposes": {"analytics": True}},
                         {"method": "api", "account": "closed"}):
                r = await client.post("/v1/sites/alpha/people/M-8/events", json=body,
                                      headers=auth)
                assert r.status_code == 201, r.text

    asyncio.run(close())
    held = "SELECT COUNT(*) FROM consent_events WHERE subject LIKE 'p_%'"
    assert db_rows(db, held, ()) == [(2,)]
    base = ["--config", str(path), "--database", f"sqlite:///{db}"]
    assert cli.main(["purge", *base]) == 0
    out = capsys.readouterr().out
    assert "2 event(s) of closed accounts anonymised" in out and "1 person(s) erased" in out
    assert db_rows(db, held, ()) == [(0,)]
    assert cli.main(["ledger", "verify", *base]) == 0
