"""A vendor whose purposes are all necessary is granted whatever the person does: in the API's
answer, the stored ledger event, the token, and what the tag gate and config hand the banner.

Reject all once recorded the demo's bot check, payment and security vendors as refused, a false
statement in the proof (and the banner then blocked them)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

from cmp.app_state import Services

from .conftest import COUNTRY_HEADER, db_rows

CONSENT = "/v1/sites/demo/consent"


def necessary_only(svc: Services) -> set[str]:
    site = svc.config.sites["demo"]
    nec = {p for p, d in site.purposes.items() if d.necessary}
    return {v for v, d in site.vendors.items() if d.purposes and set(d.purposes) <= nec}


def stored_vendors(db: Path, event_id: str) -> dict[str, bool]:
    (payload,), = db_rows(db, "SELECT payload FROM consent_events WHERE event_id = ?", (event_id,))
    return dict(json.loads(payload)["choices"]["vendors"])


def assert_kept(svc: Services, db: Path, answer: dict, nec: set[str]) -> None:
    assert {v for v, on in answer["choices"]["vendors"].items() if on} >= nec
    assert {v for v, on in stored_vendors(db, answer["event_id"]).items() if on} >= nec
    assert svc.tokens.verify("demo", answer["token"]).vendors >= nec


@pytest.mark.parametrize("body", [
    {"action": "reject_all"},
    {"action": "accept_all"},
    {"action": "custom", "purposes": {"analytics": False, "marketing": False}},
    # refusing such a vendor on its own does not refuse it: it needs no consent
    {"action": "custom", "vendors": {"stripe": False, "netease_yidun": False}},
], ids=["reject_all", "accept_all", "custom", "custom_refusing_them"])
async def test_every_action_keeps_necessary_vendors(client: httpx.AsyncClient, svc: Services,
                                                    db: Path, body: dict) -> None:
    nec = necessary_only(svc)
    assert {"netease_yidun", "stripe"} <= nec  # the demo's bot check and payments
    r = await client.post(CONSENT, json={"revision": 1, **body}, headers={COUNTRY_HEADER: "CN"})
    assert r.status_code == 201, r.text
    answer = r.json()
    assert_kept(svc, db, answer, nec)
    # what the banner gets back on its next page view, and what the tag gate hands out
    auth = {"Authorization": f"Bearer {answer['token']}", COUNTRY_HEADER: "CN"}
    cfg = (await client.get("/v1/sites/demo/config", headers=auth)).json()
    assert set(cfg["consent"]["vendors"]) >= nec
    gate = (await client.get("/v1/sites/demo/tags", headers=auth)).json()
    yidun = [t for t in gate["tags"] if t["vendor"] == "netease_yidun"]
    assert yidun, gate["withheld"]


async def test_withdraw_and_expiry_keep_necessary_vendors(client: httpx.AsyncClient,
                                                          svc: Services, db: Path) -> None:
    nec = necessary_only(svc)
    r = await client.post(CONSENT, json={"revision": 1, "action": "accept_all"})
    cid, token = r.json()["consent_id"], r.json()["token"]
    w = await client.delete(f"{CONSENT}/{cid}", headers={"Authorization": f"Bearer {token}"})
    assert w.status_code == 200, w.text
    assert_kept(svc, db, w.json(), nec)
    assert not any(on for v, on in w.json()["choices"]["vendors"].items() if v not in nec)

    r = await client.post(CONSENT, json={"revision": 1, "action": "accept_all"})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
    out = await svc.consent.purge(now=later)
    assert out["demo"]["expired"] >= 1
    rows = db_rows(db, "SELECT payload FROM consent_events WHERE kind = 'expire'")
    for (payload,) in rows:
        vendors = json.loads(payload)["choices"]["vendors"]
        assert {v for v, on in vendors.items() if on} == nec
