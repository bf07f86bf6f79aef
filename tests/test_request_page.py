"""The hosted request page over HTTP: both languages, a request becomes a case with a due
date, bad input is a page naming the problem, the rate limit, a strict CSP."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import build_services, running


async def test_the_page_in_both_languages_opens_a_case(tmp_path: Path) -> None:
    svc = build_services(tmp_path / "r.db")
    async with running(svc) as client:
        en = await client.get("/p/demo/request", headers={"Accept-Language": "en-GB"})
        zh = await client.get("/p/demo/request", params={"lang": "zh-CN"})
        assert en.status_code == zh.status_code == 200
        assert '<html lang="en">' in en.text and "Delete my information" in en.text
        assert '<html lang="zh-CN">' in zh.text and "删除我的信息" in zh.text
        csp = en.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "<script" not in en.text
        r = await client.post("/p/demo/request", params={"lang": "zh-CN"},
                              data={"type": "delete", "email": "Li.Lei@Example.com",
                                    "message": "请删除我的账户信息"})
        assert r.status_code == 201, r.text
        case_id = re.search(r'<dd id="case">([^<]+)</dd>', r.text)
        due = re.search(r'<dd id="due">([^<]+)</dd>', r.text)
        assert case_id and due and "已收到您的请求" in r.text
        case = await svc.cases.get("demo", case_id.group(1))
        assert case is not None and case.type == "delete" and case.due == due.group(1)
        # the address is not in the proof, only its pseudonym
        events = await svc.storage.events_for_subject("demo", case_id.group(1))
        assert "li.lei@example.com" not in str([e.payload for e in events]).lower()


async def test_bad_input_is_a_page_that_says_what_to_fix(tmp_path: Path) -> None:
    svc = build_services(tmp_path / "r.db")
    async with running(svc) as client:
        r = await client.post("/p/demo/request", data={"type": "delete", "email": "nope",
                                                       "message": "<b>x</b>"})
        assert r.status_code == 400 and 'role="alert"' in r.text
        assert "Please give an e-mail address" in r.text and 'aria-invalid="true"' in r.text
        assert "&lt;b&gt;x&lt;/b&gt;" in r.text  # what was typed comes back, escaped
        r = await client.post("/p/demo/request", data={"type": "teleport", "email": "a@b.example"})
        assert r.status_code == 400 and "Please choose what you would like" in r.text
        assert (await client.get("/p/nope/request")).status_code == 404
        assert await svc.cases.cases("demo") == []


async def test_the_page_is_rate_limited(tmp_path: Path) -> None:
    svc = build_services(tmp_path / "r.db", consent_rate_limit=2, rate_window_s=60)
    async with running(svc) as client:
        codes = []
        for i in range(4):
            r = await client.post("/p/demo/request", data={"type": "access",
                                                           "email": f"p{i}@example.com"})
            codes.append(r.status_code)
        assert codes == [201, 201, 429, 429]
        assert "try again" in r.text and int(r.headers["retry-after"]) >= 1
        assert len(await svc.cases.cases("demo")) == 2
