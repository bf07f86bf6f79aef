"""The e-mail pages (confirmation, unsubscribe, preferences, bad and expired links) in English
and Simplified Chinese over HTTP: the language recorded with the consent first, then
Accept-Language, then the site's default; list titles in the page's language, still escaped."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cmp.adminkeys import generate_admin_key
from cmp.app_state import Services
from cmp.config import load_config
from cmp.settings import Settings
from consentry.app import create_app
from pixel.email import pages
from tests.test_email_flow import BASE, CHROME, HTML, SECRET, Env, path

SITE = """
[sites.shop]
name = "Shop"
origins = ["https://shop.example"]
languages = ["en", "zh-CN", "de"]
admin_key_hashes = ["{admin_hash}"]

[sites.shop.texts]
title = {{ en = "Privacy", "zh-CN" = "隐私", de = "Datenschutz" }}
description = {{ en = "We use cookies.", "zh-CN" = "我们使用 Cookie。", de = "Cookies." }}
accept_all = {{ en = "Accept all", "zh-CN" = "全部接受", de = "Alle akzeptieren" }}
reject_all = {{ en = "Reject all", "zh-CN" = "全部拒绝", de = "Alle ablehnen" }}
customise = {{ en = "Customise", "zh-CN" = "自定义", de = "Anpassen" }}
save = {{ en = "Save", "zh-CN" = "保存", de = "Speichern" }}
preferences = {{ en = "Preferences", "zh-CN" = "偏好", de = "Einstellungen" }}
close = {{ en = "Close", "zh-CN" = "关闭", de = "Schließen" }}

[sites.shop.purposes.necessary]
necessary = true
title = {{ en = "Necessary", "zh-CN" = "必要", de = "Notwendig" }}

[sites.shop.regions]
default = "gdpr"

[sites.shop.email]
sender = "Shop News <news@shop.example>"
base_url = "{base}"

[sites.shop.email.lists.news]
title = {{ en = "Weekly news", "zh-CN" = "每周新闻", de = "Wochennews" }}

[sites.shop.email.lists.deals]
title = {{ en = "Deals <b>&</b> \\"offers\\"", "zh-CN" = "优惠<script>alert(1)</script>" }}

[sites.shop.email.lists.tips]
title = {{ en = "Tips in English only" }}
"""

EN = "en-US,en;q=0.9"
ZH = "zh-CN,zh;q=0.9,en;q=0.5"
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    key, key_hash = generate_admin_key()
    cfg = tmp_path / "shop.toml"
    cfg.write_text(SITE.format(admin_hash=key_hash, base=BASE), "utf-8")
    db = tmp_path / "c.db"
    settings = Settings.load(cfg, database=f"sqlite:///{db}", secret_file=str(tmp_path / "s"),
                             public_url=BASE)
    svc = Services.build(load_config(cfg), settings, master_secret=SECRET)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE,
                                     headers={"User-Agent": CHROME}) as client:
            yield Env(client, svc, app.state.email, key, db)


async def signup(env: Env, address: str, language: str | None,
                 lists: tuple[str, ...] = ("news", "deals", "tips")) -> str:
    body: dict[str, object] = {"email": address, "lists": list(lists), "tracking": False,
                               "country": "DE"}
    if language is not None:
        body["language"] = language
    r = await env.client.post("/v1/sites/shop/email/signup", json=body,
                              headers={"Authorization": f"Bearer {env.key}"})
    assert r.status_code == 202, r.text
    return path(r.json()["confirm_url"])


async def subscribe(env: Env, address: str, language: str | None,
                    accept: str | None = None) -> None:
    url = await signup(env, address, language)
    r = await env.client.post(url, headers={"Accept-Language": accept} if accept else {})
    assert r.status_code == 200, r.text


async def unsub_url(env: Env, address: str, list_id: str = "news") -> str:
    prep = await env.email.preparer.prepare("shop", campaign="c", list_id=list_id, to=address,
                                            html_body=HTML)
    return path(prep.unsubscribe_url)


def lang_of(r: httpx.Response) -> str:
    m = re.search(r'<html lang="([^"]+)">', r.text)
    assert m, r.text[:200]
    # The header says the same as the markup; the page varies by Accept-Language.
    assert r.headers["content-language"] == m.group(1)
    assert "accept-language" in r.headers["vary"].lower()
    assert r.headers["content-security-policy"] == CSP and "<script" not in r.text
    return m.group(1)


def ledger_languages(env: Env) -> list[str]:
    conn = sqlite3.connect(env.db)
    try:
        rows = conn.execute("SELECT payload FROM consent_events ORDER BY rowid").fetchall()
    finally:
        conn.close()
    return [json.loads(p)["language"] for (p,) in rows]


def test_both_tables_have_the_same_keys_and_no_markup() -> None:
    assert set(pages.TEXTS) == set(pages.LANGUAGES)
    assert set(pages.TEXTS["en"]) == set(pages.TEXTS["zh-CN"])
    for lang, texts in pages.TEXTS.items():
        for key, text in texts.items():
            assert not re.search(r"[<>&\"]", text), (lang, key)
            # Same slots in both languages, or a page would drop the site or the list.
            assert set(re.findall(r"\{\w+\}", text)) == set(
                re.findall(r"\{\w+\}", pages.TEXTS["en"][key])), (lang, key)


@pytest.mark.parametrize("recorded,header,default,expected", [
    ("zh-CN", EN, "en", "zh-CN"),  # recorded beats the browser
    ("en", ZH, "zh-CN", "en"),
    ("zh", None, "en", "zh-CN"),
    ("zh-Hans-CN", None, "en", "zh-CN"),
    ("de", "zh;q=0.8, de", "en", "zh-CN"),  # recorded, but no texts for it: the browser's
    ("de", "fr, en-GB;q=0.4", "zh-CN", "en"),
    (None, "fr, zh-Hans;q=0.3", "en", "zh-CN"),
    (None, "zh-CN;q=0, en;q=0.1", "zh-CN", "en"),  # q=0: not this one
    (None, "zh-TW", "en", "en"),  # Traditional is not Simplified: next choice
    (None, "fr", "zh-CN", "zh-CN"),  # nothing of ours: the site's default
    (None, "<script>", "de", "en"),  # nothing at all: English
    (None, ";q=1," * 500, None, "en"),
])
def test_choice_of_language(recorded: str | None, header: str | None, default: str | None,
                            expected: str) -> None:
    assert pages.choose(recorded, header, default) == expected


async def test_confirmation_page_follows_the_signup_language(env: Env) -> None:
    url = await signup(env, "ann@example.com", "zh-CN")
    # The signup said zh-CN; an English browser (a mail app's viewer, a shared computer)
    # does not override what the person chose the consent in.
    g = await env.client.get(url, headers={"Accept-Language": EN})
    assert g.status_code == 200 and lang_of(g) == "zh-CN"
    assert "<title>确认订阅</title>" in g.text and "每周新闻" in g.text and ">确认</button>" in g.text
    assert "打开此页面不会更改任何设置" in g.text
    assert "Tips in English only" in g.text  # no Chinese title configured: the default's
    assert ledger_languages(env) == []  # GET changed nothing
    p = await env.client.post(url, headers={"Accept-Language": EN})
    assert p.status_code == 200 and lang_of(p) == "zh-CN" and "订阅已确认" in p.text
    assert ledger_languages(env) == ["zh-CN"]

    url = await signup(env, "bob@example.com", "en")
    g = await env.client.get(url, headers={"Accept-Language": ZH})
    assert lang_of(g) == "en" and "Confirm your subscription" in g.text and "Weekly news" in g.text
    p = await env.client.post(url, headers={"Accept-Language": ZH})
    assert lang_of(p) == "en" and "Subscription confirmed" in p.text


async def test_confirmation_page_without_a_signup_language_follows_the_browser(env: Env) -> None:
    url = await signup(env, "cat@example.com", None)
    g = await env.client.get(url, headers={"Accept-Language": "fr, zh-Hans;q=0.8"})
    assert lang_of(g) == "zh-CN" and "每周新闻" in g.text
    g = await env.client.get(url, headers={"Accept-Language": EN})
    assert lang_of(g) == "en" and "Weekly news" in g.text
    p = await env.client.post(url, headers={"Accept-Language": "zh"})
    assert lang_of(p) == "zh-CN" and "订阅已确认" in p.text
    # The consent records the language the person confirmed in, so later pages follow it.
    assert ledger_languages(env) == ["zh-CN"]
    u = await env.client.get(await unsub_url(env, "cat@example.com"),
                             headers={"Accept-Language": EN})
    assert lang_of(u) == "zh-CN"

    # A signup language we have no page texts for: the browser's, else the site's default.
    url = await signup(env, "dan@example.com", "de")
    assert lang_of(await env.client.get(url, headers={"Accept-Language": ZH})) == "zh-CN"
    g = await env.client.get(url)
    assert lang_of(g) == "en" and "Wochennews" not in g.text and "Weekly news" in g.text


async def test_unsubscribe_and_preferences_in_the_recorded_language(env: Env) -> None:
    await subscribe(env, "eve@example.com", "zh-CN")
    url = await unsub_url(env, "eve@example.com")
    g = await env.client.get(url, headers={"Accept-Language": EN})
    assert g.status_code == 200 and lang_of(g) == "zh-CN"
    for text in ("<title>退订</title>", "不再接收<strong>Shop</strong>关于<strong>每周新闻</strong>的邮件",
                 "退订此邮件列表", "<legend>偏好设置</legend>", "仅此列表（每周新闻）", "所有营销邮件",
                 "不再统计我是否打开或点击邮件", "保存偏好设置"):
        assert text in g.text, text
    assert 'name="List-Unsubscribe" value="One-Click"' in g.text  # the form is unchanged
    assert ledger_languages(env) == ["zh-CN"]  # GET: nothing recorded
    # RFC 8058: a mailbox provider's POST, no Accept-Language, no cookies: 200, no redirect.
    env.client.cookies.clear()
    r = await env.client.post(url, content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "location" not in r.headers and "set-cookie" not in r.headers
    assert lang_of(r) == "zh-CN" and "您已退订" in r.text and "已完成。" in r.text
    assert "<strong>Shop</strong>将不再向您发送关于每周新闻的邮件" in r.text
    r = await env.client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200 and "您此前已经退订" in r.text
    r = await env.client.post(url, data={"preferences": "1", "scope": "all", "tracking": "off"},
                              headers={"Accept-Language": EN})
    assert r.status_code == 200 and lang_of(r) == "zh-CN" and "其任何列表" in r.text
    r = await env.client.post(url, data={"something": "else"}, headers={"Accept-Language": EN})
    assert r.status_code == 400 and lang_of(r) == "zh-CN" and "未做任何更改" in r.text
    # The withdrawals keep the consent's language.
    assert ledger_languages(env) == ["zh-CN", "zh-CN", "zh-CN"]

    await subscribe(env, "fay@example.com", "en")
    url = await unsub_url(env, "fay@example.com")
    g = await env.client.get(url, headers={"Accept-Language": ZH})
    assert lang_of(g) == "en" and "Stop e-mails from <strong>Shop</strong> about" in g.text
    r = await env.client.post(url, data={"List-Unsubscribe": "One-Click"},
                              headers={"Accept-Language": ZH})
    assert lang_of(r) == "en" and "You are unsubscribed" in r.text and "Done." in r.text


async def test_unsubscribe_page_by_accept_language(env: Env) -> None:
    await subscribe(env, "gus@example.com", "de")  # recorded, but no page texts in German
    url = await unsub_url(env, "gus@example.com")
    g = await env.client.get(url, headers={"Accept-Language": "de-DE, zh-Hans;q=0.7"})
    assert lang_of(g) == "zh-CN" and "每周新闻" in g.text and "Wochennews" not in g.text
    g = await env.client.get(url, headers={"Accept-Language": "en-GB"})
    assert lang_of(g) == "en" and "Weekly news" in g.text
    g = await env.client.get(url, headers={"Accept-Language": "zh-TW"})
    assert lang_of(g) == "en"  # the site's default: no Traditional Chinese texts
    r = await env.client.post(url, data={"preferences": "1", "scope": "list"},
                              headers={"Accept-Language": "zh"})
    assert r.status_code == 200 and lang_of(r) == "zh-CN" and "关于每周新闻的邮件" in r.text


async def test_list_titles_stay_escaped_in_both_languages(env: Env) -> None:
    await subscribe(env, "hal@example.com", "en")
    url = await unsub_url(env, "hal@example.com", "deals")
    for header, shown in ((EN, "Deals &lt;b&gt;&amp;&lt;/b&gt; &quot;offers&quot;"),
                          (ZH, "Deals &lt;b&gt;&amp;&lt;/b&gt; &quot;offers&quot;")):
        g = await env.client.get(url, headers={"Accept-Language": header})
        assert shown in g.text and "<b>" not in g.text
    await subscribe(env, "ian@example.com", "zh-CN")
    url = await unsub_url(env, "ian@example.com", "deals")
    g = await env.client.get(url)
    assert "优惠&lt;script&gt;alert(1)&lt;/script&gt;" in g.text and "<script" not in g.text
    r = await env.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert "优惠&lt;script&gt;" in r.text and "<script" not in r.text
    c = await env.client.get(await signup(env, "jo@example.com", "zh-CN", ("deals",)))
    assert "<li>优惠&lt;script&gt;alert(1)&lt;/script&gt;</li>" in c.text
    c = await env.client.get(await signup(env, "ken@example.com", "en", ("deals",)))
    assert "<li>Deals &lt;b&gt;&amp;&lt;/b&gt; &quot;offers&quot;</li>" in c.text


async def test_bad_and_expired_links_in_both_languages(env: Env) -> None:
    for link in ("/e/u/garbage", "/e/s/garbage", "/e/c/garbage", "/e/u", "/e/s/a/b"):
        r = await env.client.get(link, headers={"Accept-Language": ZH})
        assert r.status_code == 400 and lang_of(r) == "zh-CN", link
        assert "此链接无效" in r.text and "location" not in r.headers
        r = await env.client.get(link, headers={"Accept-Language": "en-AU"})
        assert r.status_code == 400 and lang_of(r) == "en" and "This link is not valid" in r.text
    r = await env.client.post("/e/u/garbage", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 400 and lang_of(r) == "en"

    url = await signup(env, "lee@example.com", "zh-CN")
    conn = sqlite3.connect(env.db)
    with conn:
        conn.execute("UPDATE email_signups SET created = '2000-01-01T00:00:00Z'")
    conn.close()
    r = await env.client.post(url, headers={"Accept-Language": EN})
    assert r.status_code == 410 and lang_of(r) == "zh-CN" and "此链接已过期" in r.text
    assert "请重新订阅" in r.text and ledger_languages(env) == []
    url = await signup(env, "max@example.com", None)
    with sqlite3.connect(env.db) as conn:
        conn.execute("UPDATE email_signups SET created = '2000-01-01T00:00:00Z'")
    conn.close()
    r = await env.client.post(url, headers={"Accept-Language": EN})
    assert r.status_code == 410 and lang_of(r) == "en" and "This link has expired" in r.text
