"""Impact assessment records (PIPL Art. 55-56): `[sites.X.assessments.ID]` validated with the
key named; `consentry check` warning on a cross-border or sensitive item (per-recipient ones
too) with no assessment, one older than 3 years, or one past its review date, on an injected
day; and the dashboards' Assessments view over HTTP in English and Simplified Chinese, with
overdue reviews marked and operators kept out. (The page reads only the config, so one
backend is enough.)"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.assessments import coverage, expires, file_sha256, matching
from cmp.config import Config, ConfigError, load_config
from cmp.lint import lint
from dashboards.passwords import hash_password
from tests.conftest import build_services, running, site_toml
from tests.test_asks import ITEM

SHA = "ab" * 32
FACE = """
[sites.alpha.separate.face]
kind = "sensitive"
data_categories = ["facial image"]
title.en = "Check my face when I sign"
title.zh-CN = "签约时核验我的人脸"
purpose.en = "Verifying who signs."
purpose.zh-CN = "核验签署人身份。"
"""


def assessment(aid: str, made: date, review: date, items: list[str],
               recipients: list[str] | None = None, title: str | None = None) -> str:
    scope = f"scope.separate = {items!r}".replace("'", '"')
    if recipients is not None:
        scope += "\nscope.recipients = " + repr(recipients).replace("'", '"')
    return f"""
[sites.alpha.assessments.{aid}]
title.en = "{title or 'Assessment ' + aid}"
title.zh-CN = "评估 {aid}"
date = {made.isoformat()}
review_by = {review.isoformat()}
report_sha256 = "{SHA}"
report = "pia/{aid}.pdf"
{scope}
"""


def config_text(extra: str = "", admin_hash: str | None = None) -> str:
    if admin_hash is None:
        _, admin_hash = generate_admin_key()
    return (site_toml("alpha", admin_hash, origin="https://alpha.example")
            + ITEM.format(site="alpha", app=admin_hash, crm=admin_hash) + FACE + extra)


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(text, "utf-8")
    return load_config(path)


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, config_text(extra))
    return exc.value.problems


def pia_lines(tmp_path: Path, extra: str, today: date) -> list[str]:
    """The lint lines about assessments (the base site's other lines are not our business)."""
    return [p for p in lint(load(tmp_path, config_text(extra)), today=today)
            if "assessment" in p]


D = date(2026, 12, 2)


# --- config validation ------------------------------------------------------------------------

def test_a_valid_assessment_loads(tmp_path: Path) -> None:
    cfg = load(tmp_path, config_text(assessment("pia-1", date(2026, 1, 5), date(2027, 1, 5),
                                                ["abroad", "buyer_share"], ["B-77"])))
    a = cfg.sites["alpha"].assessments["pia-1"]
    assert (a.date, a.review_by, a.scope.separate, a.scope.recipients, a.report) == (
        date(2026, 1, 5), date(2027, 1, 5), ["abroad", "buyer_share"], ["B-77"], "pia/pia-1.pdf")


def test_an_unknown_separate_item_in_scope_names_the_key(tmp_path: Path) -> None:
    got = problems(tmp_path, assessment("pia-1", D, D, ["abroad", "nowhere"]))
    assert got == ["sites.alpha.assessments.pia-1.scope.separate: unknown separate item "
                   "'nowhere'"], got


@pytest.mark.parametrize("field, value, needle", [
    ("date", '"2026-02-30"', "is not an ISO date"),
    ("date", "20260102", "is not an ISO date"),
    ("date", '"2.1.2026"', "is not an ISO date"),
    ("date", "2026-01-02T10:00:00", "without a time"),
    ("review_by", '"soon"', "is not an ISO date"),
    ("report_sha256", '"abc"', "String should match pattern"),
])
def test_bad_dates_and_hashes_name_the_key(tmp_path: Path, field: str, value: str,
                                           needle: str) -> None:
    text = assessment("pia-1", D, D, ["abroad"])
    text = re.sub(rf"^{field} = .*$", f"{field} = {value}", text, flags=re.M)
    got = problems(tmp_path, text)
    assert len(got) == 1 and got[0].startswith(f"sites.alpha.assessments.pia-1.{field}: "), got
    assert needle in got[0], got


def test_review_before_the_assessment_and_an_empty_scope_are_refused(tmp_path: Path) -> None:
    got = problems(tmp_path, assessment("pia-1", D, D - timedelta(days=1), []))
    assert "sites.alpha.assessments.pia-1.scope: empty; name the separate items and/or " \
           "recipients it covers" in got, got
    assert "sites.alpha.assessments.pia-1.review_by: 2026-12-01 is before the assessment's " \
           "date 2026-12-02" in got, got
    # recipients alone are a scope
    load(tmp_path, config_text(assessment("pia-1", D, D, [], ["B-77"])))


# --- lint ----------------------------------------------------------------------------------------

def test_lint_is_quiet_when_every_item_has_a_current_assessment(tmp_path: Path) -> None:
    extra = (assessment("pia-x", D - timedelta(days=30), D + timedelta(days=335),
                        ["abroad", "buyer_share"], ["B-77"])
             + assessment("pia-face", D - timedelta(days=30), D + timedelta(days=335), ["face"]))
    assert pia_lines(tmp_path, extra, D) == []


def test_lint_names_each_item_without_an_assessment(tmp_path: Path) -> None:
    lines = pia_lines(tmp_path, assessment("pia-x", D, D, ["abroad"]), D)
    assert lines == [
        "sites.alpha.separate.buyer_share: a cross_border item with no impact assessment (PIPL "
        "Art. 55); record one in assessments.<id> with scope.separate naming it",
        "sites.alpha.separate.face: a sensitive item with no impact assessment (PIPL Art. 55); "
        "record one in assessments.<id> with scope.separate naming it"], lines
    # an assessment naming only recipients covers no item
    lines = pia_lines(tmp_path, assessment("pia-r", D, D, [], ["B-77"]), D)
    assert [ln.split(":")[0] for ln in lines] == [
        "sites.alpha.separate.abroad", "sites.alpha.separate.buyer_share",
        "sites.alpha.separate.face"], lines


def test_lint_warns_when_the_newest_assessment_is_older_than_3_years(tmp_path: Path) -> None:
    made = date(2023, 12, 2)
    extra = (assessment("pia-old", made, date(2030, 1, 1), ["abroad", "buyer_share", "face"]))
    # the day before it turns 3: fine; on the day: assess again
    assert pia_lines(tmp_path, extra, date(2026, 12, 1)) == []
    lines = pia_lines(tmp_path, extra, D)
    assert lines == [f"sites.alpha.separate.{x}: its newest impact assessment "
                     "(assessments.pia-old, 2023-12-02) is more than 3 years old; assess it "
                     "again" for x in ("abroad", "buyer_share", "face")], lines
    # a newer assessment of one item answers for that item only
    extra += assessment("pia-new", date(2026, 6, 1), date(2027, 6, 1), ["abroad"])
    lines = pia_lines(tmp_path, extra, D)
    assert [ln.split(":")[0] for ln in lines] == ["sites.alpha.separate.buyer_share",
                                                  "sites.alpha.separate.face"], lines
    assert expires(date(2024, 2, 29)) == date(2027, 3, 1)


def test_lint_warns_when_review_by_has_passed(tmp_path: Path) -> None:
    extra = (assessment("pia-x", date(2026, 1, 10), date(2026, 12, 1),
                        ["abroad", "buyer_share"])
             + assessment("pia-face", date(2026, 1, 10), D, ["face"]))
    # on its review_by day an assessment is not yet overdue
    assert pia_lines(tmp_path, extra, date(2026, 12, 1)) == []
    lines = pia_lines(tmp_path, extra, D + timedelta(days=1))
    assert lines == [
        "sites.alpha.assessments.pia-x.review_by: 2026-12-01 has passed; review the assessment "
        "and record the result (a new assessment or a later review_by)",
        "sites.alpha.assessments.pia-face.review_by: 2026-12-02 has passed; review the "
        "assessment and record the result (a new assessment or a later review_by)"], lines
    # superseded for every item it covers, an old assessment's review is history
    extra += assessment("pia-x2", date(2026, 11, 30), date(2027, 11, 30),
                        ["abroad", "buyer_share"])
    lines = pia_lines(tmp_path, extra, D + timedelta(days=1))
    assert [ln.split(":")[0] for ln in lines] == [
        "sites.alpha.assessments.pia-face.review_by"], lines
    cov = coverage(load(tmp_path, config_text(extra)).sites["alpha"], D + timedelta(days=1))
    assert {c.item: (c.newest, c.state) for c in cov.items} == {
        "abroad": ("pia-x2", "ok"), "buyer_share": ("pia-x2", "ok"),
        "face": ("pia-face", "review_due")}


def test_lint_checks_the_title_and_a_date_in_the_future(tmp_path: Path) -> None:
    extra = assessment("pia-x", D + timedelta(days=3), D + timedelta(days=300),
                       ["abroad", "buyer_share", "face"]).replace('title.zh-CN = "评估 pia-x"\n',
                                                                  "")
    lines = pia_lines(tmp_path, extra, D)
    assert lines == ["sites.alpha.assessments.pia-x.title.zh-CN: missing",
                     "sites.alpha.assessments.pia-x.date: 2026-12-05 is in the future; an "
                     "assessment is recorded once it is done"], lines


def test_report_hash_helpers(tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 the assessment")
    digest = file_sha256(report)
    cfg = load(tmp_path, config_text(assessment("pia-x", D, D, ["abroad"]).replace(SHA, digest)))
    assert list(matching(cfg.sites["alpha"], digest)) == ["pia-x"]
    assert matching(cfg.sites["alpha"], SHA) == {}


def test_cli_verifies_a_report_file(tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from consentry.cli import main

    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 the assessment")
    digest = file_sha256(report)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config_text(assessment("pia-x", D, D, ["abroad"]).replace(SHA, digest)
                               + assessment("pia-y", D, D, ["face"])), "utf-8")
    base = ["assessments", "verify", "--config", str(cfg), "--site", "alpha"]
    assert main([*base, str(report)]) == 0
    assert capsys.readouterr().out == (
        f"{report}: sha256 {digest} matches sites.alpha.assessments.pia-x (assessed 2026-12-02, "
        "review by 2026-12-02)\n")
    assert main([*base, "--id", "pia-y", str(report)]) == 1
    assert "does not match sites.alpha.assessments.pia-y.report_sha256" in capsys.readouterr().out
    report.write_bytes(b"%PDF-1.7 the assessment, edited")
    assert main([*base, str(report)]) == 1
    assert "does not match any report_sha256 of sites.alpha.assessments" in \
        capsys.readouterr().out
    assert main([*base, str(tmp_path / "missing.pdf")]) == 1
    assert "missing.pdf: cannot read" in capsys.readouterr().out
    assert main([*base, "--id", "nope", str(report)]) == 1
    assert capsys.readouterr().out.startswith("--id: no assessment 'nope'")
    assert main([*base[:-1], "beta", str(report)]) == 1
    assert capsys.readouterr().out.startswith("--site: no site 'beta'")


# --- the dashboards' view ----------------------------------------------------------------------

PASSWORDS = {"ann": "ann-long-password", "lily": "lily-long-password"}
TODAY = datetime.now(UTC).date()


def text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    _, admin_hash = generate_admin_key()
    extra = (
        # current for abroad and buyer_share, but its review date has passed
        assessment("pia-cb", TODAY - timedelta(days=100), TODAY - timedelta(days=1),
                   ["abroad", "buyer_share"], ["B-77", "B-<88>"],
                   title="Cross-border <b>provision</b>")
        # superseded by pia-cb: its passed review is not marked
        + assessment("pia-cb-old", TODAY - timedelta(days=400), TODAY - timedelta(days=40),
                     ["abroad"])
        # older than 3 years
        + assessment("pia-face", TODAY - timedelta(days=3 * 366), TODAY + timedelta(days=30),
                     ["face"])
        + f'\n[sites.alpha.users]\nann = "{hash_password(PASSWORDS["ann"], n=2**10)}"\n'
        + f'\n[sites.alpha.operators]\nlily = "{hash_password(PASSWORDS["lily"], n=2**10)}"\n')
    path = tmp_path / "pia.toml"
    path.write_text(config_text(extra, admin_hash), "utf-8")
    svc = build_services(tmp_path / "pia.db", path)
    async with running(svc) as c:
        yield c


async def login(client: httpx.AsyncClient, name: str) -> None:
    client.cookies.clear()
    page = await client.get("/dashboard/login")
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m
    r = await client.post("/dashboard/login", data={
        "csrf": m.group(1), "username": name, "password": PASSWORDS[name],
        "next": "/dashboard/"})
    assert r.status_code == 303, r.text


async def test_the_assessments_view_in_english(client: httpx.AsyncClient) -> None:
    await login(client, "ann")
    r = await client.get("/dashboard/sites/alpha/assessments", params={"lang": "en"})
    assert r.status_code == 200, r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert 'href="/dashboard/sites/alpha/assessments" aria-current="page"' in r.text
    # newest first, the overdue review marked on the one still relied on only
    assert re.findall(r'data-assessment="([^"]+)"', r.text) == ["pia-cb", "pia-cb-old",
                                                                "pia-face"]
    assert re.findall(r'data-assessment="([^"]+)" data-overdue="1"', r.text) == ["pia-cb"]
    assert r.text.count('data-mark="overdue"') == 1
    row = r.text.split('data-assessment="pia-cb"')[1].split("</tr>")[0]
    assert f'<time datetime="{TODAY - timedelta(days=100)}">' in row
    assert f'<time datetime="{TODAY - timedelta(days=1)}">' in row and "overdue" in row
    assert 'data-scope-item="abroad"' in row and 'data-scope-item="buyer_share"' in row
    assert 'data-scope-recipient="B-&lt;88&gt;"' in row and "pia/pia-cb.pdf" in row
    assert f"<code data-sha256>{SHA}</code>" in row
    # config text is escaped
    assert "Cross-border &lt;b&gt;provision&lt;/b&gt;" in r.text and "<b>provision" not in r.text
    # the items' standing, as lint sees it
    states = dict(re.findall(r'data-item="([^"]+)" data-state="([^"]+)"', r.text))
    assert states == {"abroad": "review_due", "buyer_share": "review_due", "face": "expired"}
    body = text(r.text)
    assert "Impact assessments · Site alpha" in body and "older than 3 years" in body
    assert "review date passed" in body and "Send my data abroad (abroad)" in body
    assert "Give … my e-mail and IP address (buyer_share)" in body
    assert "sensitive personal information" in body
    assert f"Judged on {TODAY} (UTC)." in body


async def test_the_assessments_view_in_chinese(client: httpx.AsyncClient) -> None:
    await login(client, "ann")
    r = await client.get("/dashboard/sites/alpha/assessments", params={"lang": "zh-CN"})
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    body = text(r.text)
    assert "个人信息保护影响评估 · Site alpha" in body
    assert "评估 pia-cb" in body and "已逾期" in body and "已超过 3 年" in body
    assert "已过复核日期" in body and "向境外提供我的数据 (abroad)" in body
    assert "复核期限" in body and "敏感个人信息" in body
    # remembered: the next page without ?lang= is Chinese too
    r = await client.get("/dashboard/sites/alpha/assessments")
    assert '<html lang="zh-CN">' in r.text


async def test_operators_may_not_see_assessments(client: httpx.AsyncClient) -> None:
    await login(client, "lily")
    r = await client.get("/dashboard/sites/alpha/assessments")
    assert r.status_code == 403 and "pia-cb" not in r.text
    people = await client.get("/dashboard/sites/alpha/people")
    assert people.status_code == 200 and "/assessments" not in people.text
    await login(client, "ann")
    assert (await client.get("/dashboard/sites/nope/assessments")).status_code == 404
    client.cookies.clear()
    r = await client.get("/dashboard/sites/alpha/assessments")
    assert r.status_code == 303 and "/dashboard/login" in r.headers["location"]


async def test_a_site_without_assessments(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    path.write_text(config_text(f'\n[sites.alpha.users]\nann = '
                                f'"{hash_password(PASSWORDS["ann"], n=2**10)}"\n'), "utf-8")
    async with running(build_services(tmp_path / "none.db", path)) as c:
        await login(c, "ann")
        r = await c.get("/dashboard/sites/alpha/assessments", params={"lang": "en"})
        assert r.status_code == 200 and 'id="no-assessments"' in r.text
        states = dict(re.findall(r'data-item="([^"]+)" data-state="([^"]+)"', r.text))
        assert states == {"abroad": "missing", "buyer_share": "missing", "face": "missing"}
        assert "no assessment" in text(r.text)
