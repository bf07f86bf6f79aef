"""Tamper evidence: `consentry ledger verify` finds edited, deleted, reordered and cut rows;
erasure keeps the chain verifiable; export carries events and the notices shown."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from consentry import cli

from .conftest import (
    COUNTRY_HEADER,
    TwoSites,
    build_services,
    canonical,
    clean_env,
    consentry_cmd,
    db_rows,
    running,
)

ALPHA_EVENTS = 6


def populate(db: Path, config: Path) -> dict[str, list[str]]:
    """Six events on alpha (five subjects, one update), three on beta, through the real API."""

    async def go() -> dict[str, list[str]]:
        svc = build_services(db, config)
        subjects: dict[str, list[str]] = {"alpha": [], "beta": []}
        async with running(svc) as c:
            for site, n in (("alpha", 5), ("beta", 3)):
                for i in range(n):
                    r = await c.post(f"/v1/sites/{site}/consent",
                                     json={"action": "accept_all", "revision": 3},
                                     headers={COUNTRY_HEADER: "DE"})
                    assert r.status_code == 201
                    subjects[site].append(r.json()["consent_id"])
                    if site == "alpha" and i == 0:  # an update: seq 2 is the same subject
                        r = await c.post("/v1/sites/alpha/consent",
                                         json={"action": "reject_all", "revision": 3,
                                               "language": "zh-CN"},
                                         headers={"Authorization": f"Bearer {r.json()['token']}"})
                        assert r.json()["kind"] == "update"
        return subjects

    return asyncio.run(go())


@pytest.fixture
def ledger(two_sites: TwoSites, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[Path, dict[str, list[str]]]:
    monkeypatch.chdir(tmp_path)  # no consentry.toml here: verify needs only the database
    db = tmp_path / "ledger.db"
    subjects = populate(db, two_sites.config_path)
    assert db_rows(db, "SELECT COUNT(*) FROM consent_events WHERE site='alpha'")[0][0] == ALPHA_EVENTS
    return db, subjects


def verify(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["ledger", "verify", "--database", f"sqlite:///{db}"])
    return code, capsys.readouterr().out


def sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for s in statements:
            conn.execute(s)
    finally:
        conn.close()


def test_untouched_ledger_verifies(ledger: tuple[Path, dict[str, list[str]]],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    db, _ = ledger
    code, out = verify(db, capsys)
    assert code == 0, out
    assert f"alpha: ok, {ALPHA_EVENTS} events" in out and "beta: ok, 3 events" in out


def _recompute_row(db: Path, seq: int) -> None:
    """An attacker who edits a row and also recomputes its hash (the link to the next breaks)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        row = conn.execute("SELECT event_id, kind, ts, payload, personal_digest, prev_hash "
                           "FROM consent_events WHERE site='alpha' AND seq=?", (seq,)).fetchone()
        event_id, kind, ts, payload, digest, prev = row
        p = json.loads(payload)
        p["action"] = "custom"
        h = hashlib.sha256(canonical(["alpha", seq, event_id, kind, ts, p, digest, prev])).hexdigest()
        conn.execute("UPDATE consent_events SET payload=?, hash=? WHERE site='alpha' AND seq=?",
                     (canonical(p).decode(), h, seq))
    finally:
        conn.close()


TAMPERING: dict[str, tuple[Callable[[Path], None], str]] = {
    "payload edited": (lambda db: sql(db, "UPDATE consent_events SET payload = "
                                          "replace(payload, '\"accept_all\"', '\"reject_all\"') "
                                          "WHERE site='alpha' AND seq=3"), "seq 3"),
    "choice flipped": (lambda db: sql(db, "UPDATE consent_events SET payload = json_set(payload, "
                                          "'$.choices.separate.abroad', json('true')) "
                                          "WHERE site='alpha' AND seq=4"), "seq 4"),
    "timestamp edited": (lambda db: sql(db, "UPDATE consent_events SET ts = '2020-01-01T00:00:00.000Z' "
                                            "WHERE site='alpha' AND seq=5"), "seq 5"),
    "subject edited": (lambda db: sql(db, "UPDATE consent_events SET subject = 'c_someone' "
                                          "WHERE site='alpha' AND seq=3"), "seq 3"),
    "personal edited": (lambda db: sql(db, "UPDATE consent_events SET personal = json_set(personal, "
                                           "'$.ip', '198.51.100.0') WHERE site='alpha' AND seq=2"),
                        "seq 2"),
    "hash recomputed": (lambda db: _recompute_row(db, 3), "seq 4"),
    "middle row deleted": (lambda db: sql(db, "DELETE FROM consent_events "
                                              "WHERE site='alpha' AND seq=3"), "seq 3"),
    "rows swapped": (lambda db: sql(
        db,
        "UPDATE consent_events SET seq = -1 WHERE site='alpha' AND seq = 2",
        "UPDATE consent_events SET seq = 2 WHERE site='alpha' AND seq = 3",
        "UPDATE consent_events SET seq = 3 WHERE site='alpha' AND seq = -1"), "seq 2"),
    "last row deleted": (lambda db: sql(db, f"DELETE FROM consent_events "
                                            f"WHERE site='alpha' AND seq={ALPHA_EVENTS}"),
                         "chain head"),
    "first row deleted": (lambda db: sql(db, "DELETE FROM consent_events "
                                             "WHERE site='alpha' AND seq=1"), "seq 1"),
    "row moved to another site": (lambda db: sql(db, "UPDATE consent_events SET site='beta', "
                                                     "seq=4 WHERE site='alpha' AND seq=6"),
                                  "alpha: BROKEN"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_reported(case: str, ledger: tuple[Path, dict[str, list[str]]],
                               capsys: pytest.CaptureFixture[str]) -> None:
    db, _ = ledger
    tamper, where = TAMPERING[case]
    tamper(db)
    code, out = verify(db, capsys)
    assert code == 1, out
    broken = [ln for ln in out.splitlines() if "BROKEN" in ln]
    assert broken, out
    assert any(where in ln for ln in broken), out
    if case != "row moved to another site":
        assert broken[0].startswith("alpha: BROKEN")
        assert "beta: ok, 3 events" in out  # the other site's chain is judged on its own


def test_verify_subprocess_exit_codes(ledger: tuple[Path, dict[str, list[str]]],
                                      tmp_path: Path) -> None:
    db, _ = ledger
    cmd = consentry_cmd() + ["ledger", "verify", "--database", f"sqlite:///{db}"]
    ok = subprocess.run(cmd, cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    sql(db, "UPDATE consent_events SET payload = json_set(payload, '$.gpc', json('true')) "
            "WHERE site='beta' AND seq=2")
    bad = subprocess.run(cmd + ["--site", "beta"], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "beta: BROKEN" in bad.stdout and "seq 2" in bad.stdout
    assert "alpha" not in bad.stdout  # --site limits the check


async def test_erase_keeps_chain_verifiable_and_export_has_notices(
        two_sites: TwoSites, tmp_path: Path) -> None:
    db = tmp_path / "erase.db"
    svc = build_services(db, two_sites.config_path)
    key = {"Authorization": f"Bearer {two_sites.keys['alpha']}"}
    site = svc.config.sites["alpha"]
    async with running(svc) as c:
        g = (await c.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3},
                          headers={COUNTRY_HEADER: "CN"})).json()
        cid = g["consent_id"]
        u = (await c.post("/v1/sites/alpha/consent",
                          json={"action": "custom", "revision": 3, "language": "zh-CN",
                                "separate": {"abroad": True}},
                          headers={"Authorization": f"Bearer {g['token']}"})).json()
        keep = (await c.post("/v1/sites/alpha/consent",
                             json={"action": "reject_all", "revision": 3})).json()["consent_id"]

        r = await c.get(f"/v1/sites/alpha/subjects/{cid}", headers=key)
        assert r.status_code == 200
        doc = r.json()
        assert doc["subject"] == cid and doc["site"] == "alpha"
        assert [e["kind"] for e in doc["events"]] == ["grant", "update"]
        assert [e["language"] for e in doc["events"]] == ["en", "zh-CN"]
        assert doc["current"]["separate"]["abroad"] is True
        assert doc["notices"] == {site.texts_hash("en"): site.texts_for("en"),
                                  site.texts_hash("zh-CN"): site.texts_for("zh-CN")}
        for h, texts in doc["notices"].items():
            assert hashlib.sha256(canonical(texts)).hexdigest() == h

        digests_before = db_rows(db, "SELECT seq, personal_digest, hash FROM consent_events "
                                     "WHERE site='alpha' ORDER BY seq")
        r = await c.delete(f"/v1/sites/alpha/subjects/{cid}", headers=key)
        assert r.status_code == 200 and r.json()["events_anonymised"] == 2

        rows = db_rows(db, "SELECT seq, subject, personal, kind, payload FROM consent_events "
                           "WHERE event_id IN (?, ?)", (g["event_id"], u["event_id"]))
        assert len(rows) == 2
        assert all(subject is None and personal is None for _, subject, personal, _, _ in rows)
        # The proof (what was shown and chosen) stays; the person does not.
        assert {json.loads(p)["texts_hash"] for *_, p in rows} == {site.texts_hash("en"),
                                                                   site.texts_hash("zh-CN")}
        dump = "\n".join(sqlite3.connect(db).iterdump())
        assert cid not in dump
        # Existing links are untouched; the erasure is itself an event.
        after = db_rows(db, "SELECT seq, personal_digest, hash FROM consent_events "
                            "WHERE site='alpha' ORDER BY seq")
        assert after[:len(digests_before)] == digests_before
        last = db_rows(db, "SELECT kind, subject, payload FROM consent_events "
                           "WHERE site='alpha' ORDER BY seq DESC LIMIT 1")[0]
        assert last[0] == "erase" and json.loads(last[2])["events_anonymised"] == 2

        reports = await svc.consent.verify()
        assert all(r.ok for r in reports), [r.line() for r in reports]
        assert (await c.get(f"/v1/sites/alpha/subjects/{cid}", headers=key)).status_code == 404
        assert (await c.delete(f"/v1/sites/alpha/subjects/{cid}", headers=key)).status_code == 404
        r = await c.get(f"/v1/sites/alpha/consent/{cid}",
                        headers={"Authorization": f"Bearer {u['token']}"})
        assert r.status_code == 404
        # Other subjects are untouched.
        other = (await c.get(f"/v1/sites/alpha/subjects/{keep}", headers=key)).json()
        assert other["events"][0]["erased"] is False
        r = await c.get("/v1/sites/alpha/ledger/verify", headers=key)
        assert r.json() == {"site": "alpha", "ok": True, "events": 4, "problem": None}
