"""Cross-device consent over HTTP on both backends: a person hint on a signed-in page links the
browser to the member and brings the member's choice to every browser they sign in on; a
forged, expired, other-site or malformed hint changes nothing, answers like no hint and is
counted."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.hints import make_hint
from cmp.ledger import verify_site
from tests.conftest import build_services, running, site_toml

API_KEY = """
[[sites.{site}.api_keys]]
name = "crm"
hash = "{hash}"
scopes = ["people:read", "people:write"]
"""
IDENTIFY = "/v1/sites/alpha/identify"


@dataclass
class World:
    client: httpx.AsyncClient
    svc: Services
    key: str  # alpha's people:read + people:write key

    def hint(self, ref: str, *, site: str = "alpha", ttl: int = 600,
             secret: bytes | None = None, now: float | None = None) -> str:
        return make_hint(secret or self.svc.keyring.site("alpha").hint_key, site, ref, ttl=ttl,
                         now=now)

    async def person(self, ref: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/sites/alpha/people/{ref}",
                                  headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def events(self) -> int:
        return await self.svc.storage.count_events("alpha")

    async def hints(self) -> dict[str, int]:
        text = (await self.client.get("/metrics")).text
        return {m[0]: int(m[1]) for m in re.findall(
            r'^consentry_person_hints_total\{site="alpha",outcome="(\w+)"\} (\d+)$', text, re.M)}


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    text = ""
    key = ""
    for site, origin in (("alpha", "https://alpha.example"), ("beta", "https://beta.example")):
        _, admin_hash = generate_admin_key()
        k, k_hash = generate_admin_key()
        key = key or k
        text += site_toml(site, admin_hash, origin=origin) + API_KEY.format(site=site, hash=k_hash)
    path = tmp_path / "identify.toml"
    path.write_text(text, "utf-8")
    svc = build_services(tmp_path / "identify.db", path, database=database_url)
    async with running(svc) as client:
        yield World(client, svc, key)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def identify(w: World, hint: Any, token: str | None = None) -> dict[str, Any]:
    body = {} if hint is None else {"hint": hint}
    r = await w.client.post(IDENTIFY, json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def choose(w: World, body: dict[str, Any], hint: str | None = None,
                 token: str | None = None) -> dict[str, Any]:
    r = await w.client.post("/v1/sites/alpha/consent",
                            json={"revision": 3, **body, **({"hint": hint} if hint else {})},
                            headers=bearer(token))
    assert r.status_code == 201, r.text
    return dict(r.json())


def granted(consent: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    return consent["purposes"], consent["vendors"], consent["separate"]


async def test_a_choice_made_with_a_hint_follows_the_member_to_a_new_browser(world: World) -> None:
    # browser A, signed in as M-1, chooses analytics but not marketing
    a = await choose(world, {"action": "custom", "purposes": {"analytics": True}},
                     hint=world.hint("M-1"))
    st = await world.person("M-1")
    assert st["linked"] == {"consent": 1}
    assert st["purposes"]["analytics"] == {"granted": True, "event_id": a["event_id"],
                                           "at": st["purposes"]["analytics"]["at"],
                                           "via": "consent"}
    # browser B (no token) signs in as M-1: it gets the same choices and a token of its own
    b = await identify(world, world.hint("M-1"))
    assert b["identified"] is True and b["token"] and b["event_id"]
    cid = b["consent"]["consent_id"]
    assert cid.startswith("c_") and cid != a["consent_id"]
    assert granted(b["consent"]) == (["analytics", "necessary"], ["stats"], [])
    assert b["consent"]["revision"] == 3
    # the token is the banner's stored choice: the config answers it as the consent
    cfg = (await world.client.get("/v1/sites/alpha/config", headers=bearer(b["token"]))).json()
    assert cfg["consent"]["consent_id"] == cid
    assert granted(cfg["consent"]) == granted(b["consent"])
    # the ledger: B's own event (method person_hint), and B linked to the person
    events = await world.svc.storage.events_for_subject("alpha", cid)
    assert [(e.kind, e.payload["method"], e.payload["action"]) for e in events] == [
        ("grant", "person_hint", "sign_in")]
    assert events[0].payload["choices"]["purposes"] == {"analytics": True, "marketing": False,
                                                        "necessary": True}
    st = await world.person("M-1")
    assert st["linked"] == {"consent": 2}
    # nothing new on a second visit of either browser: the same choice is already there
    before = await world.events()
    again = await identify(world, world.hint("M-1"), b["token"])
    assert again["identified"] is True and again["token"] is None
    assert again["consent"]["consent_id"] == cid
    assert (await identify(world, world.hint("M-1"), a["token"]))["token"] is None
    assert await world.events() == before
    report = await verify_site(world.svc.storage, "alpha")
    assert report.ok, report.problem
    assert (await world.hints())["ok"] == 4


async def test_a_newer_choice_on_one_browser_reaches_the_other_and_an_older_gives_way(
        world: World) -> None:
    hint = world.hint("M-2")
    a = await choose(world, {"action": "accept_all"}, hint=hint)
    b = await identify(world, hint)
    assert "marketing" in b["consent"]["purposes"]
    # B changes its mind (a banner choice with the hint: an update of B's consent id)
    b2 = await choose(world, {"action": "reject_all"}, hint=hint, token=b["token"])
    assert b2["consent_id"] == b["consent"]["consent_id"] and b2["kind"] == "update"
    # A comes back: its older accept_all gives way to B's newer reject_all, on A's own id
    a2 = await identify(world, hint, a["token"])
    assert a2["token"] and a2["consent"]["consent_id"] == a["consent_id"]
    assert granted(a2["consent"]) == (["necessary"], [], [])
    kinds = [(e.kind, e.payload["method"]) for e in
             await world.svc.storage.events_for_subject("alpha", a["consent_id"])]
    assert kinds == [("grant", "banner"), ("update", "person_hint")]
    # and B, already on the newest, is left alone
    assert (await identify(world, hint, b2["token"]))["token"] is None
    st = await world.person("M-2")
    assert st["linked"] == {"consent": 2}
    assert st["purposes"]["marketing"]["granted"] is False
    assert (await verify_site(world.svc.storage, "alpha")).ok


async def test_a_browser_choice_becomes_the_persons_when_they_have_none(world: World) -> None:
    # chosen before signing in: the browser is linked when the member signs in, nothing else
    a = await choose(world, {"action": "custom", "purposes": {"marketing": True}})
    before = await world.events()
    got = await identify(world, world.hint("M-3"), a["token"])
    assert got["identified"] is True and got["token"] is None
    assert got["consent"]["consent_id"] == a["consent_id"]
    assert await world.events() == before + 1  # the link event alone
    st = await world.person("M-3")
    assert st["linked"] == {"consent": 1}
    assert st["purposes"]["marketing"]["granted"] is True
    assert st["purposes"]["marketing"]["event_id"] == a["event_id"]
    # a member with nothing anywhere: nothing to apply, nothing written but the count
    got = await identify(world, world.hint("M-4"))
    assert got == {"identified": True, "consent": None, "token": None, "expires": None}
    assert await world.events() == before + 1


async def test_choices_recorded_by_the_backend_reach_the_browser(world: World) -> None:
    r = await world.client.post("/v1/sites/alpha/people/M-5/events",
                                json={"method": "app_settings",
                                      "purposes": {"analytics": True},
                                      "separate": {"abroad": True}},
                                headers={"Authorization": f"Bearer {world.key}"})
    assert r.status_code == 201, r.text
    got = await identify(world, world.hint("M-5"))
    assert granted(got["consent"]) == (["analytics", "necessary"], ["stats"], ["abroad"])
    # when the newest answer is from an older revision, the browser is asked again instead
    await world.svc.storage.append(_person_event(world, "M-6", revision=2))
    assert (await identify(world, world.hint("M-6")))["consent"] is None


def _person_event(w: World, ref: str, revision: int) -> Any:
    from cmp.ledger import NewEvent
    from cmp.types import EventKind

    return NewEvent.build(site="alpha", subject=w.svc.people.person_id("alpha", ref),
                          kind=EventKind.GRANT,
                          payload={"action": "record", "method": "import", "revision": revision,
                                   "choices": {"purposes": {"analytics": True}, "vendors": {},
                                               "separate": {}}})


async def test_bad_hints_change_nothing_answer_like_no_hint_and_are_counted(
        world: World) -> None:
    # the member has a choice a good hint would bring
    await choose(world, {"action": "accept_all"}, hint=world.hint("M-7"))
    own = await choose(world, {"action": "reject_all"})  # this browser's own, unlinked
    before = await world.events()
    bad = {
        "forged": world.hint("M-7", secret=b"not the site's secret, but long enough"),
        "expired": world.hint("M-7", ttl=-60),
        "other_site": world.hint("M-7", site="beta"),  # alpha's key, beta's name: refused
        "too_long": world.hint("M-7", ttl=7 * 86400),
        "malformed": "v1.not-a-hint",
    }
    for token in (None, own["token"]):
        plain = await identify(world, None, token)
        assert plain["identified"] is False and plain["token"] is None
        for outcome, hint in bad.items():
            got = await identify(world, hint, token)
            assert got == plain, outcome
    # signed with beta's secret: on alpha that is a forgery
    beta = make_hint(world.svc.keyring.site("beta").hint_key, "beta", "M-7")
    assert await identify(world, beta) == await identify(world, None)
    # more malformed strings: not base64url, a signature of the wrong length, a wrong version
    good = world.hint("M-7")
    for junk in ("", "v1", "v2" + good[2:], good + "x", good[:-2], "v1..", "x" * 5000,
                 good.replace(".", "..", 1)):
        assert await identify(world, junk) == await identify(world, None), junk
    assert await world.events() == before
    counts = await world.hints()
    assert counts["expired"] == counts["too_long"] == counts["other_site"] == 2
    assert counts["forged"] >= 3 and counts["malformed"] >= 2 + 6
    assert counts.pop("ok") == 1  # the member's own choice above
    assert sum(counts.values()) == 2 * len(bad) + 1 + 8  # every bad one counted
    # nothing linked: the person still has the one browser of the first choice
    assert (await world.person("M-7"))["linked"] == {"consent": 1}
    # a banner choice with a bad hint is recorded, but linked to nobody
    c = await choose(world, {"action": "accept_all"}, hint=bad["forged"])
    assert await world.svc.storage.person_of("alpha", c["consent_id"]) is None
    assert (await world.hints())["forged"] == counts["forged"] + 1


async def test_another_members_browser_keeps_its_choice(world: World) -> None:
    """A shared computer: M-8's browser, then M-9 signs in on it."""
    await choose(world, {"action": "accept_all"}, hint=world.hint("M-9"))  # M-9, elsewhere
    a = await choose(world, {"action": "reject_all"}, hint=world.hint("M-8"))
    got = await identify(world, world.hint("M-9"), a["token"])
    assert got["token"] and got["consent"]["consent_id"] != a["consent_id"]
    assert "marketing" in got["consent"]["purposes"]
    # M-8's consent id and its choice are untouched and still M-8's alone
    assert [e.payload["action"] for e in
            await world.svc.storage.events_for_subject("alpha", a["consent_id"])] == ["reject_all"]
    assert (await world.person("M-8"))["linked"] == {"consent": 1}
    assert (await world.person("M-9"))["linked"] == {"consent": 2}
    # a banner choice by M-9 on M-8's browser starts a consent id of M-9's, too
    c = await choose(world, {"action": "reject_all"}, hint=world.hint("M-9"), token=a["token"])
    assert c["consent_id"] != a["consent_id"] and c["kind"] == "grant"
    assert (await world.person("M-9"))["linked"] == {"consent": 3}
    assert (await verify_site(world.svc.storage, "alpha")).ok


async def test_bad_bodies_are_4xx_naming_the_field(world: World) -> None:
    for body, field in (({"hint": 12}, "hint"), ({"hint": "x", "ref": "M-1"}, "ref"),
                        ({"gpc": 0}, "gpc"), ({"language": "x" * 40}, "language"),
                        ([], "body")):
        r = await world.client.post(IDENTIFY, json=body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)
    r = await world.client.post(IDENTIFY, content=b"{not json")
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = await world.client.post("/v1/sites/nowhere/identify", json={})
    assert r.status_code == 404
    r = await world.client.post("/v1/sites/alpha/consent", json={
        "action": "accept_all", "revision": 3, "hint": ["v1"]})
    assert r.status_code == 400 and r.json()["field"] == "hint"
    assert await world.events() == 0


async def test_only_identifies_that_write_are_rate_limited(tmp_path: Path) -> None:
    _, admin_hash = generate_admin_key()
    path = tmp_path / "limited.toml"
    path.write_text(site_toml("alpha", admin_hash, origin="https://alpha.example"), "utf-8")
    svc = build_services(tmp_path / "limited.db", path, consent_rate_limit=2)
    async with running(svc) as client:
        key = svc.keyring.site("alpha").hint_key
        r = await client.post("/v1/sites/alpha/consent", json={
            "action": "accept_all", "revision": 3, "hint": make_hint(key, "alpha", "M-1")})
        assert r.status_code == 201
        token = r.json()["token"]
        # page views that change nothing are never limited: no hint, a bad one, a synced browser
        for hint in (None, "v1.x.y", make_hint(key, "alpha", "M-1")):
            for _ in range(5):
                r = await client.post(IDENTIFY, json={"hint": hint}, headers=bearer(token))
                assert r.status_code == 200, r.text
        events = await svc.storage.count_events("alpha")
        # a new browser each time writes (a grant and a link): the second is over the limit
        r = await client.post(IDENTIFY, json={"hint": make_hint(key, "alpha", "M-1")})
        assert r.status_code == 200 and r.json()["token"]
        r = await client.post(IDENTIFY, json={"hint": make_hint(key, "alpha", "M-1")})
        assert r.status_code == 429 and r.json()["field"] == "rate"
        assert int(r.headers["retry-after"]) >= 1
        assert await svc.storage.count_events("alpha") == events + 2


async def test_one_browsers_expiry_does_not_undo_a_newer_choice_made_on_another(
        world: World) -> None:
    hint = world.hint("M-9")
    a = await choose(world, {"action": "reject_all"}, hint=hint)  # kept 180 days
    b = await identify(world, hint)
    b2 = await choose(world, {"action": "accept_all"}, hint=hint, token=b["token"])  # 365 days
    # 190 days on, A's reject has run out, B's accept has not
    from datetime import timedelta

    from cmp.ledger import utc_now

    done = await world.svc.consent.purge(now=utc_now() + timedelta(days=190))
    assert done["alpha"]["expired"] == 1
    expired = await world.svc.storage.events_for_subject("alpha", a["consent_id"])
    assert expired[-1].kind == "expire"
    st = await world.person("M-9")
    assert st["purposes"]["marketing"]["granted"] is True  # B's newer yes stands
    assert (await identify(world, hint, b2["token"]))["token"] is None  # B left alone
