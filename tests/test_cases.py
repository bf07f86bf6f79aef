"""Data-subject request cases over HTTP on both backends: public intake and its due date, a
case opened for a letter received before China's National Day week (make-up Saturday), every
transition a ledger event with a chain that verifies, refusal grounds, overdue listing with an
injected clock, a GDPR extension, scopes, /metrics, and erasure of a case's personal fields."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.cases import IntakeIn
from cmp.ledger import verify_site
from tests.conftest import build_services, running, site_toml

EXTRA = """
[[sites.{site}.api_keys]]
name = "desk"
hash = "{write}"
scopes = ["requests:read", "requests:write"]

[[sites.{site}.api_keys]]
name = "viewer"
hash = "{read}"
scopes = ["requests:read"]

[[sites.{site}.api_keys]]
name = "crm"
hash = "{crm}"
scopes = ["people:read", "people:write"]
"""
ALPHA_REQUESTS = """
[sites.alpha.requests]
default_regime = "pipl"
"""


@dataclass
class Site:
    admin: str
    write: str
    read: str
    crm: str


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
        keys = [generate_admin_key() for _ in range(4)]
        sites[site] = Site(*(k for k, _ in keys))
        text += site_toml(site, keys[0][1], origin=origin)
        text += EXTRA.format(site=site, write=keys[1][1], read=keys[2][1], crm=keys[3][1])
    text += ALPHA_REQUESTS
    path = tmp_path / "cases.toml"
    path.write_text(text, "utf-8")
    svc = build_services(tmp_path / "cases.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, sites, svc)


async def open_case(w: World, body: dict[str, Any], site: str = "alpha",
                    key: str | None = None) -> httpx.Response:
    return await w.client.post(f"/v1/sites/{site}/cases", json=body,
                               headers=w.auth(key or w.sites[site].write))


async def move(w: World, case: str, body: dict[str, Any], site: str = "alpha",
               key: str | None = None) -> httpx.Response:
    return await w.client.post(f"/v1/sites/{site}/cases/{case}/transitions", json=body,
                               headers=w.auth(key or w.sites[site].write))


async def dump_tables(w: World) -> str:
    storage = w.svc.storage
    if hasattr(storage, "_db") and storage._db is not None:
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


async def test_public_intake_answers_case_and_due(world: World) -> None:
    r = await world.client.post("/v1/sites/alpha/requests", json={
        "type": "access", "email": "Li.Lei@Example.com", "message": "please send my data"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["case_id"].startswith("q_") and doc["state"] == "received"
    case = await world.svc.cases.get("alpha", doc["case_id"])
    assert case.regime == "pipl" and case.due == doc["due"]
    assert case.requester.startswith("r_")
    # the due date is 7 Chinese working days after the day received (Beijing time)
    received = datetime.fromisoformat(case.received_at.replace("Z", "+00:00"))
    expect = world.svc.cases.due_date("alpha", "pipl", "access",
                                      world.svc.cases.local_day("alpha", "pipl", received))
    assert doc["due"] == expect.isoformat()
    # the derived row carries only the pseudonym: the address is in the event's personal
    # fields (to reply to), never in the case table
    [ev] = await world.svc.storage.events_for_subject("alpha", doc["case_id"])
    assert "Li.Lei" not in repr(ev.payload) and "please send" not in repr(ev.payload)
    assert ev.personal["email"] == "Li.Lei@Example.com"
    assert ev.personal["message"] == "please send my data"
    got = await world.client.get(f"/v1/sites/alpha/cases/{doc['case_id']}",
                                 headers=world.auth(world.sites["alpha"].read))
    assert got.status_code == 200 and got.json()["contact"] == {"email": "Li.Lei@Example.com"}
    # beta has no requests section: its site default regime (gdpr), one month
    b = await world.client.post("/v1/sites/beta/requests",
                                json={"type": "delete", "email": "x@example.com"})
    assert b.status_code == 201
    assert (await world.svc.cases.get("beta", b.json()["case_id"])).regime == "gdpr"


@pytest.mark.parametrize("body,field", [
    ({"type": "nonsense", "email": "a@example.com"}, "type"),
    ({"type": "access", "email": "not-an-address"}, "email"),
    ({"type": "access"}, "email"),
    ({"type": "access", "email": "a@example.com", "extra": 1}, "extra"),
    ({"type": "access", "email": "a@example.com", "message": "x" * 5001}, "message"),
])
async def test_bad_intake_is_400_naming_the_field(world: World, body: dict[str, Any],
                                                  field: str) -> None:
    r = await world.client.post("/v1/sites/alpha/requests", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    unknown = await world.client.post("/v1/sites/nosuch/requests", json=body)
    assert unknown.status_code == 404


async def test_letter_before_national_day_and_every_transition_on_the_chain(world: World
                                                                             ) -> None:
    # A letter received Tuesday 29 September 2026 (Beijing): due 14 October, counting the
    # make-up Saturday 10 October; an account closure, 15 working days: 26 October.
    r = await open_case(world, {"type": "copy", "method": "letter", "ref": "M-1001",
                                "received_at": "2026-09-29T10:00:00+08:00",
                                "message": "a copy of everything"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["due"] == "2026-10-14" and case["state"] == "received"
    assert case["requester"].startswith("p_") and case["history"][0]["actor"] == "key:desk"
    c2 = await open_case(world, {"type": "cancel_account", "method": "phone",
                                 "phone": "+86 138 0013 8000",
                                 "received_at": "2026-09-29T10:00:00+08:00"})
    assert c2.json()["due"] == "2026-10-26"
    cid = case["case_id"]
    steps = [({"action": "verify", "method": "id_document", "note": "ID card seen"}, "verified"),
             ({"action": "start", "actor": "wang"}, "in_progress"),
             ({"action": "complete", "note": "sent by post"}, "completed")]
    for body, state in steps:
        m = await move(world, cid, body)
        assert m.status_code == 201, m.text
        assert m.json()["state"] == state
    got = (await world.client.get(f"/v1/sites/alpha/cases/{cid}",
                                  headers=world.auth(world.sites["alpha"].read))).json()
    assert [h["transition"] for h in got["history"]] == ["open", "verify", "start", "complete"]
    assert [h["actor"] for h in got["history"]] == ["key:desk", "key:desk", "wang", "key:desk"]
    assert {h["recorded_by"] for h in got["history"]} == {"key:desk"}
    assert got["history"][1]["method"] == "id_document"
    assert got["history"][1]["note"] == "ID card seen"
    events = await world.svc.storage.events_for_subject("alpha", cid)
    assert [e.kind for e in events] == ["case"] * 4
    assert all(e.payload["due"] == "2026-10-14" and e.payload["case"] == cid for e in events)
    report = await verify_site(world.svc.storage, "alpha")
    assert report.ok, report.problem
    # a closed case moves no further
    again = await move(world, cid, {"action": "start"})
    assert again.status_code == 409 and again.json()["field"] == "action"
    # the hook identity verification will call
    v = await world.svc.cases.verify("alpha", c2.json()["case_id"], "email_link", "mailer")
    assert v.state == "verified" and v.events[-1].payload["actor"] == "mailer"


async def test_refusal_grounds(world: World) -> None:
    cid = (await open_case(world, {"type": "delete", "method": "email",
                                   "email": "a@example.com"})).json()["case_id"]
    bad = await move(world, cid, {"action": "refuse", "ground": "too_busy", "note": "x"})
    assert bad.status_code == 400 and bad.json()["field"] == "ground"
    assert "criminal_investigation" in bad.json()["error"]
    none = await move(world, cid, {"action": "refuse", "note": "x"})
    assert none.status_code == 400 and none.json()["field"] == "ground"
    silent = await move(world, cid, {"action": "refuse", "ground": "trade_secrets"})
    assert silent.status_code == 400 and silent.json()["field"] == "note"
    stray = await move(world, cid, {"action": "verify", "ground": "trade_secrets"})
    assert stray.status_code == 400 and stray.json()["field"] == "ground"
    unknown = await move(world, cid, {"action": "reopen"})
    assert unknown.status_code == 400 and unknown.json()["field"] == "action"
    ok = await move(world, cid, {"action": "refuse", "ground": "criminal_investigation",
                                 "note": "held for the police's case 2026-77"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["state"] == "refused" and ok.json()["ground"] == "criminal_investigation"
    ev = (await world.svc.storage.events_for_subject("alpha", cid))[-1]
    assert ev.payload["ground"] == "criminal_investigation" and "note" not in ev.payload
    assert (await move(world, cid, {"action": "complete"})).status_code == 409
    missing = await move(world, "q_" + "0" * 24, {"action": "verify"})
    assert missing.status_code == 404 and missing.json()["field"] == "case"


async def test_overdue_listing_with_an_injected_clock(world: World) -> None:
    svc = world.svc.cases
    t0 = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    early = await svc.intake("alpha", IntakeIn(type="access", email="a@example.com"), now=t0)
    late = await svc.intake("alpha", IntakeIn(type="cancel_account", email="b@example.com"),
                            now=t0)
    later = await svc.intake("alpha", IntakeIn(type="access", email="c@example.com"),
                             now=datetime(2026, 10, 12, 2, 0, tzinfo=UTC))
    assert (early.due, late.due, later.due) == ("2026-10-14", "2026-10-26", "2026-10-21")
    on_time = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)  # the due day itself is in time
    assert await svc.cases("alpha", overdue=True, now=on_time) == []
    day_after = datetime(2026, 10, 15, 1, 0, tzinfo=UTC)
    rows = await svc.cases("alpha", overdue=True, now=day_after)
    assert [r.case_id for r in rows] == [early.case_id]
    rows = await svc.cases("alpha", now=day_after)  # open ones, by due date
    assert [r.case_id for r in rows] == [early.case_id, later.case_id, late.case_id]
    # completing takes it off the open list
    await svc.verify("alpha", early.case_id, "email_link", "mailer", now=day_after)
    from cmp.cases import TransitionIn
    await svc.transition("alpha", early.case_id, TransitionIn(
        action="complete", method="email", ground=None, note=None, actor=None), "desk",
        now=day_after)
    assert await svc.cases("alpha", overdue=True, now=day_after) == []
    assert len(await svc.cases("alpha", open_only=False, now=day_after)) == 3
    # over HTTP (today's real date is after all of them): overdue first, then by due date
    r = await world.client.get("/v1/sites/alpha/cases", params={"overdue": "true"},
                               headers=world.auth(world.sites["alpha"].read))
    assert r.status_code == 200, r.text
    assert [c["case_id"] for c in r.json()["cases"]] == [later.case_id, late.case_id]
    assert all(c["overdue"] for c in r.json()["cases"])
    r = await world.client.get("/v1/sites/alpha/cases", params={"state": "all"},
                               headers=world.auth(world.sites["alpha"].read))
    assert len(r.json()["cases"]) == 3
    bad = await world.client.get("/v1/sites/alpha/cases", params={"state": "closed"},
                                 headers=world.auth(world.sites["alpha"].read))
    assert bad.status_code == 400 and bad.json()["field"] == "state"
    metrics = (await world.client.get("/metrics")).text
    assert 'consentry_requests_open{site="alpha"} 2' in metrics
    assert 'consentry_requests_overdue{site="alpha"} 2' in metrics


async def test_gdpr_extension_moves_the_due_date_once(world: World) -> None:
    r = await open_case(world, {"type": "access", "method": "email", "email": "e@example.eu",
                                "received_at": "2026-01-31T09:00:00+01:00"}, site="beta")
    assert r.status_code == 201, r.text
    cid = r.json()["case_id"]
    assert r.json()["due"] == "2026-02-28" and r.json()["regime"] == "gdpr"
    no_reason = await move(world, cid, {"action": "extend"}, site="beta")
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "note"
    ext = await move(world, cid, {"action": "extend", "note": "many records in archives"},
                     site="beta")
    assert ext.status_code == 201, ext.text
    assert ext.json()["due"] == "2026-04-28" and ext.json()["extended"] is True
    assert ext.json()["state"] == "received"
    ev = (await world.svc.storage.events_for_subject("beta", cid))[-1]
    assert ev.payload["transition"] == "extend" and ev.payload["due_before"] == "2026-02-28"
    twice = await move(world, cid, {"action": "extend", "note": "again"}, site="beta")
    assert twice.status_code == 409 and twice.json()["field"] == "action"
    # PIPL has no extension
    p = (await open_case(world, {"type": "access", "method": "phone",
                                 "phone": "+8613800138000"})).json()["case_id"]
    none = await move(world, p, {"action": "extend", "note": "busy"})
    assert none.status_code == 409 and "pipl" in none.json()["error"]
    assert (await verify_site(world.svc.storage, "beta")).ok


async def test_scopes_and_sites(world: World) -> None:
    body = {"type": "access", "method": "phone", "phone": "+8613800138000"}
    assert (await open_case(world, body, key=world.sites["alpha"].admin)).status_code == 201
    ro = await open_case(world, body, key=world.sites["alpha"].read)
    assert ro.status_code == 403 and "requests:write" in ro.json()["error"]
    crm = await world.client.get("/v1/sites/alpha/cases",
                                 headers=world.auth(world.sites["alpha"].crm))
    assert crm.status_code == 403
    other = await open_case(world, body, key=world.sites["beta"].write)
    assert other.status_code == 401
    anon = await world.client.get("/v1/sites/alpha/cases")
    assert anon.status_code == 401
    cid = (await open_case(world, body)).json()["case_id"]
    assert (await move(world, cid, {"action": "verify"},
                       key=world.sites["alpha"].read)).status_code == 403
    # a case of alpha is not found through beta
    assert (await world.client.get(f"/v1/sites/beta/cases/{cid}",
                                   headers=world.auth(world.sites["beta"].read))).status_code == 404
    nobody = await open_case(world, {"type": "access", "method": "phone"})
    assert nobody.status_code == 400 and nobody.json()["field"] == "email"
    future = await open_case(world, {**body, "received_at": "2999-01-01T00:00:00Z"})
    assert future.status_code == 400 and future.json()["field"] == "received_at"
    regime = await open_case(world, {**body, "regime": "nowhere"})
    assert regime.status_code == 400 and regime.json()["field"] == "regime"


async def test_forget_erases_the_address_keeps_the_proof(world: World) -> None:
    r = await world.client.post("/v1/sites/alpha/requests", json={
        "type": "delete", "email": "forget.me@example.com", "message": "delete me"})
    cid = r.json()["case_id"]
    assert "forget.me@example.com" in await dump_tables(world)
    assert await world.svc.cases.forget("alpha", cid) >= 1
    dump = await dump_tables(world)
    assert "forget.me@example.com" not in dump and "delete me" not in dump
    case = await world.svc.cases.get("alpha", cid)
    assert case is not None and case.type == "delete" and case.requester.startswith("r_")
    got = await world.client.get(f"/v1/sites/alpha/cases/{cid}",
                                 headers=world.auth(world.sites["alpha"].read))
    assert got.status_code == 200 and got.json()["contact"] == {}
    assert (await move(world, cid, {"action": "verify"})).status_code == 409
    assert (await verify_site(world.svc.storage, "alpha")).ok


async def test_intake_is_rate_limited(tmp_path: Path) -> None:
    admin, admin_hash = generate_admin_key()
    path = tmp_path / "one.toml"
    path.write_text(site_toml("alpha", admin_hash, origin="https://alpha.example"), "utf-8")
    svc = build_services(tmp_path / "one.db", path, consent_rate_limit=2)
    async with running(svc) as client:
        codes = [(await client.post("/v1/sites/alpha/requests", json={
            "type": "access", "email": f"p{i}@example.com"})).status_code for i in range(3)]
        assert codes == [201, 201, 429]
        r = await client.post("/v1/sites/alpha/requests", json={})
        assert r.status_code == 429 and r.json()["field"] == "rate"


def test_cli_lists_cases_overdue_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import json
    import os

    from consentry import cli

    for k in list(os.environ):
        if k.startswith("CONSENTRY_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    _, admin_hash = generate_admin_key()
    path = tmp_path / "cli.toml"
    path.write_text(site_toml("alpha", admin_hash, origin="https://alpha.example")
                    + ALPHA_REQUESTS, "utf-8")
    db = tmp_path / "cli.db"

    async def populate() -> tuple[str, str]:
        svc = build_services(db, path)
        async with running(svc):
            old = await svc.cases.intake("alpha", IntakeIn(type="access", email="a@example.com"),
                                         now=datetime(2026, 1, 5, 2, tzinfo=UTC))
            new = await svc.cases.intake("alpha", IntakeIn(type="copy", email="b@example.com"))
            return old.case_id, new.case_id

    old, new = asyncio.run(populate())
    base = ["--config", str(path), "--database", f"sqlite:///{db}", "--site", "alpha"]
    assert cli.main(["requests", "list", *base]) == 0
    out = capsys.readouterr().out.splitlines()
    assert old in out[0] and "OVERDUE" in out[0] and new in out[1] and "OVERDUE" not in out[1]
    assert out[-1].startswith("2 case(s), 1 overdue")
    assert cli.main(["requests", "list", *base, "--overdue", "--json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [r["case_id"] for r in rows] == [old] and rows[0]["due"] == "2026-01-14"
    assert cli.main(["requests", "list", *base[:-1], "nosuch"]) == 1
    assert "nosuch" in capsys.readouterr().err
