"""`ledger verify` covers every column and table the proof relies on, on both backends:
an erased event given a subject again, an anonymisation nobody recorded, a site whose chain
head is gone, and the notices (texts shown) edited or deleted are all reported; a legitimate
erasure and a retention sweep still verify."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from consentry import cli

from .conftest import COUNTRY_HEADER, TwoSites, build_services, running


def raw_sql(url: str, *statements: str) -> list[list[tuple[object, ...]]]:
    """Run statements outside the app, as someone with write access to the database would."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            return [conn.execute(s).fetchall() for s in statements]
        finally:
            conn.close()

    async def go() -> list[list[tuple[object, ...]]]:
        c = await asyncpg.connect(url)
        try:
            return [[tuple(r) for r in await c.fetch(s)] for s in statements]
        finally:
            await c.close()

    return asyncio.run(go())


@dataclass
class Ledger:
    url: str
    config: Path
    erased: str  # a subject erased through the API (seqs 1 and 2 of alpha)
    kept: str  # a subject left alone (seq 3)
    other: str  # another visitor (seq 4)


def populate(url: str, two_sites: TwoSites, tmp_path: Path) -> Ledger:
    async def go() -> Ledger:
        svc = build_services(tmp_path / "unused.db", two_sites.config_path, database=url)
        ids = []
        async with running(svc) as c:
            for i in range(3):
                r = await c.post("/v1/sites/alpha/consent",
                                 json={"action": "accept_all", "revision": 3},
                                 headers={COUNTRY_HEADER: "DE"})
                assert r.status_code == 201
                ids.append(r.json()["consent_id"])
                if i == 0:
                    r = await c.post("/v1/sites/alpha/consent",
                                     json={"action": "reject_all", "revision": 3,
                                           "language": "zh-CN"},
                                     headers={"Authorization": f"Bearer {r.json()['token']}"})
                    assert r.json()["kind"] == "update"
            r = await c.delete(f"/v1/sites/alpha/subjects/{ids[0]}",
                               headers={"Authorization": f"Bearer {two_sites.keys['alpha']}"})
            assert r.json()["events_anonymised"] == 2
            r = await c.post("/v1/sites/beta/consent", json={"action": "accept_all", "revision": 3})
            assert r.status_code == 201
        return Ledger(url, two_sites.config_path, ids[0], ids[1], ids[2])

    return asyncio.run(go())


@pytest.fixture
def ledger(database_url: str, two_sites: TwoSites, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.chdir(tmp_path)  # no consentry.toml here: verify reads only the database
    yield populate(database_url, two_sites, tmp_path)


def verify(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["ledger", "verify", "--database", url])
    return code, capsys.readouterr().out


def test_legitimate_erasure_verifies(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(ledger.url, capsys)
    assert code == 0, out
    assert "alpha: ok, 5 events" in out and "beta: ok, 1 events" in out
    # The erasure is recorded, naming the rows it anonymised.
    (payload,), = raw_sql(ledger.url, "SELECT payload FROM consent_events "
                                      "WHERE site='alpha' AND kind='erase'")[0]
    assert json.loads(str(payload))["erased_seqs"] == [1, 2]


def _tamper_cases(led: Ledger) -> dict[str, tuple[list[str], str]]:
    return {
        # An erased event handed back to the person who was erased, or to someone else.
        "erased event given its subject again": (
            [f"UPDATE consent_events SET subject = '{led.erased}' WHERE site='alpha' AND seq=1"],
            "seq 1"),
        "erased event moved to another visitor": (
            [f"UPDATE consent_events SET subject = '{led.other}' WHERE site='alpha' AND seq=2"],
            "seq 2"),
        "erased event given forged personal fields": (
            [f"UPDATE consent_events SET subject = '{led.other}', personal = "
             f"'{{\"ip\":null,\"salt\":\"00\",\"subject\":\"{led.other}\"}}' "
             "WHERE site='alpha' AND seq=2"], "seq 2"),
        # Anonymising a row hides who chose; only a recorded erasure may do it.
        "anonymised without a record": (
            ["UPDATE consent_events SET subject = NULL, personal = NULL "
             "WHERE site='alpha' AND seq=3"], "seq 3"),
        # Cut the tail and drop the head so nothing says where the chain ended.
        "tail cut and head dropped": (
            ["DELETE FROM consent_events WHERE site='alpha' AND seq=5",
             "DELETE FROM chain_heads WHERE site='alpha'"], "no chain head"),
        "head dropped": (["DELETE FROM chain_heads WHERE site='alpha'"], "no chain head"),
        # What the visitor saw: edited or deleted notices.
        "notice texts edited": (
            ["UPDATE notices SET texts = replace(texts, 'We use cookies.', 'We use nothing.') "
             "WHERE site='alpha'"], "texts edited"),
        "notice deleted": (["DELETE FROM notices WHERE site='alpha'"], "texts deleted"),
    }


CASES = list(_tamper_cases(Ledger("", Path(), "", "", "")))


@pytest.mark.parametrize("case", CASES)
def test_tampering_is_reported(case: str, ledger: Ledger,
                               capsys: pytest.CaptureFixture[str]) -> None:
    statements, where = _tamper_cases(ledger)[case]
    raw_sql(ledger.url, *statements)
    code, out = verify(ledger.url, capsys)
    assert code == 1, out
    broken = [ln for ln in out.splitlines() if ln.startswith("alpha: BROKEN")]
    assert broken and where in broken[0], out
    assert "beta: ok, 1 events" in out


async def test_service_verify_covers_notices(ledger: Ledger, tmp_path: Path) -> None:
    """The API's and dashboard's verify (ConsentService.verify) applies the same checks."""
    await asyncio.to_thread(raw_sql, ledger.url, "DELETE FROM notices WHERE site='alpha'")
    svc = build_services(tmp_path / "unused.db", ledger.config, database=ledger.url)
    async with running(svc):
        (report,) = await svc.consent.verify("alpha")
    assert not report.ok and "texts deleted" in (report.problem or "")


async def test_retention_sweep_is_recorded_and_verifies(ledger: Ledger, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db", ledger.config, database=ledger.url)
    async with running(svc):
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1095 + 1)
        out = await svc.consent.purge(now=later)
        # seq 3 and 4 (the two subjects left) are anonymised; the expiries purge wrote are
        # older than the cutoff too, as on today's code.
        assert out["alpha"]["anonymised"] >= 2
        reports = {r.site: r for r in await svc.consent.verify()}
        assert reports["alpha"].ok and reports["beta"].ok, [r.line() for r in reports.values()]
    rows = await asyncio.to_thread(
        raw_sql, ledger.url, "SELECT payload FROM consent_events WHERE site='alpha' "
                             "AND kind='erase' ORDER BY seq")
    assert json.loads(str(rows[0][-1][0]))["action"] == "retention"
