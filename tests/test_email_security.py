"""Tokens cannot be forged, altered, cut short or moved between sites; clicks never redirect
anywhere but the signed destination; the UA table classifies opens as expected."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cmp.keys import Keyring
from consentry.app import create_app
from pixel.email.classify import OpenClass, classify_open, scanner_ua
from pixel.email.tokens import BadToken, EmailTokens
from pixel.email.urls import safe_destination
from tests.test_email_flow import HTML, SECRET, Env, build, links, path

ATTACKS = [
    "//evil.example", "///evil.example", "https:evil.example", "https:/evil.example",
    "\\\\evil.example", "/\\evil.example", "https:\\\\evil.example", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox",
    "https://shop.example@evil.example", "https://shop.example%40evil.example",
    "https://evil%2Eexample", "https://%65vil.example/", "http://evil.example%2F@shop.example",
    "https://shop.example\\@evil.example", "https://shop.example\r\nLocation: https://evil",
    "https://shop.example/\x00", "https://shop.example\t.evil.example", " https://evil.example",
    "%2F%2Fevil.example", "ftp://evil.example/", "https://", "https:///evil.example",
    "//%09/evil.example", "/%2F/evil.example", "https://evil.example:99999/",
]


@pytest.mark.parametrize("url", ATTACKS)
def test_attack_destinations_are_never_signed(url: str) -> None:
    assert safe_destination(url) is None


def test_good_destinations_pass_unchanged() -> None:
    for u in ("https://shop.example/", "http://shop.example:8080/a?b=1&c=%20#f",
              "https://[2001:db8::1]/x"):
        assert safe_destination(u) == u
    assert safe_destination("https://shop.example/straße") == "https://shop.example/stra%C3%9Fe"


def tokens(secret: bytes = SECRET) -> EmailTokens:
    return EmailTokens(Keyring(secret), {"shop", "other"})


def test_altered_truncated_wrong_key_wrong_kind_and_foreign_site_tokens_fail() -> None:
    t = tokens()
    good = t.click_token("shop", "c1", "m1", "r_abc", "news", True, 5, 0, "https://shop.example/")
    assert t.verify_click(good).destination == "https://shop.example/"
    evil = t.click_token("shop", "c1", "m1", "r_abc", "news", True, 5, 0, "https://evil.example/")
    payload, sig = good.rsplit(".", 1)
    bad = [
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # signature altered
        good[:-10], good[: len(good) // 2], payload, payload + ".", "",  # truncated
        evil.rsplit(".", 1)[0] + "." + sig,  # payload swapped under the old signature
        payload.replace("~0~", "~1~") + "." + sig,  # link index altered
        tokens(b"another-deployment-secret-" + b"q" * 40).click_token(
            "shop", "c1", "m1", "r_abc", "news", True, 5, 0, "https://shop.example/"),  # wrong key
        t.click_token("other", "c1", "m1", "r_abc", "news", True, 5, 0,
                      "https://shop.example/").replace("~other~", "~shop~", 1),  # other site's
        "c~nosuch~" + good.split("~", 2)[2],  # unknown site
        t.open_token("shop", "c1", "m1", "r_abc", "news", True, 5),  # another kind
    ]
    for b in bad:
        with pytest.raises(BadToken):
            t.verify_click(b)
    with pytest.raises(BadToken):
        t.verify_open(good)
    with pytest.raises(BadToken):
        t.verify_unsub(t.open_token("shop", "c1", "m1", "r_abc", "news", True, 5))


async def test_click_route_never_redirects_on_bad_tokens(tmp_path: Path) -> None:
    svc, key, db = build(tmp_path)
    app = create_app(svc)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://cmp.example") as client:
            env = Env(client, svc, app.state.email, key, db)
            await env.subscribe("ann@example.com", ["news"], tracking=True)
            prep = await env.prepare("ann@example.com", HTML, now=1)
            url = next(u for u in links(prep.html, "c")
                       if "sale" in env.email.tokens.verify_click(path(u).split("/")[-1]).destination)
            tok = path(url).split("/")[-1]
            attempts = [f"/e/c/{tok[:-2]}", f"/e/c/{tok}x", f"/e/c/{tok[:20]}",
                        "/e/c/%2F%2Fevil.example", "/e/c/https:%2F%2Fevil.example",
                        "/e/c/javascript:alert(1)", "/e/c/%5C%5Cevil.example",
                        f"/e/c/{tok.replace('~news~', '~deals~')}", "/e/c/.", "/e/c/~"]
            for a in attempts:
                r = await client.get(a)
                assert r.status_code in (400, 404), a
                assert "location" not in r.headers, a
            for a in ATTACKS:
                if any(ord(ch) < 0x21 for ch in a):
                    continue  # not a sendable path; covered by safe_destination above
                forged = env.email.tokens.click_token("shop", "c", "m", "r_x", "news", True, 1, 0, a)
                r = await client.get(f"/e/c/{forged}")  # even a signed bad URL never redirects
                assert r.status_code == 400 and "location" not in r.headers, a
            for q in ("?next=https://evil.example", "?url=//evil.example", "/../evil"):
                r = await client.get(f"/e/c/{tok}{q}")
                assert r.status_code in (302, 400, 404)
                assert r.headers.get("location") in (None, "https://shop.example/sale?x=1&y=2")
            r = await client.get(f"/e/u/{tok}")  # a click token is not an unsubscribe token
            assert r.status_code == 400
            r = await client.get(f"/e/o/{tok}.gif")  # nor an open token: same GIF, nothing stored
            assert r.status_code == 200 and len(r.content) == 43
            r = await client.get("/e/o/garbage.gif")
            assert r.status_code == 200 and len(r.content) == 43
            assert env.engagement("open") == []
            drops = env.email.pipeline.counters.totals()
            assert drops[("open", "bad_token")] == 2 and drops[("click", "bad_token")] >= 3


UA_TABLE = [
    ("Mozilla/5.0", OpenClass.APPLE_MPP),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
     OpenClass.APPLE_MPP),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
     OpenClass.APPLE_MPP),
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     OpenClass.GMAIL_PROXY),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0", OpenClass.GMAIL_PREFETCH),
    ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
     OpenClass.OTHER_PROXY),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)", OpenClass.HUMAN),
    ("Mozilla/4.0 (compatible; ms-office; MSOffice 16)", OpenClass.HUMAN),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", OpenClass.HUMAN),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Safari/605.1.15", OpenClass.HUMAN),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.4 Mobile/15E148 Safari/604.1", OpenClass.HUMAN),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", OpenClass.HUMAN),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", OpenClass.BOT),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0.0.0 Safari/537.36", OpenClass.BOT),
    ("Mozilla/5.0 (compatible; BingPreview/1.0b)", OpenClass.BOT),
    ("python-requests/2.31.0", OpenClass.BOT),
    ("Proofpoint URL Defense", OpenClass.BOT),
    ("Mimecast-URL-Scanner/1.0", OpenClass.BOT),
    ("Barracuda Sentinel (EE)", OpenClass.BOT),
    ("", OpenClass.BOT),
    (None, OpenClass.BOT),
]


@pytest.mark.parametrize("ua,expected", UA_TABLE)
def test_open_classification_table(ua: str | None, expected: OpenClass) -> None:
    assert classify_open(ua) is expected


def test_scanner_user_agents_for_clicks() -> None:
    for ua in ("Mimecast-URL-Scanner/1.0", "Proofpoint URL Defense", "", None, "Mozilla/5.0",
               "Barracuda Sentinel (EE)", "curl/8.5.0"):
        assert scanner_ua(ua), ua
    assert not scanner_ua(UA_TABLE[8][0])
    assert not scanner_ua("Mozilla/4.0 (compatible; ms-office; MSOffice 16)")
    assert classify_open(UA_TABLE[8][0], head=True) is OpenClass.BOT
