"""In-context asks and permission prompts in real Chromium, on `consentry demo`'s inquiry page
(strict CSP: the banner's optional modules load by its nonce).

Consentry.ask(token): the modal shows the one buyer of the ask in the page's language, passes
axe, traps focus, records agree and disagree (the backend's grants check says so), and a
withdrawal on the person's self-service page flips the check; expired, forged and
other-person tokens are refused with the API's reason and nothing to agree to.

Permission prompts: with a fake camera and microphone, getUserMedia is held until the
just-in-time dialog is answered; a refusal rejects with NotAllowedError, a grant lets the
stream through, and neither asks again; Notification.requestPermission likewise ("denied").
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from playwright.sync_api import Browser, Page, Playwright, expect

from cmp.keys import Keyring, load_master_secret
from tests.browser.conftest import ARGS, CHROMIUM, LOCAL_ONLY, Server

ITEM = "overseas_buyer_reply"
TEXTS = {
    "en": {"title": "Give Maple & Pine Imports Ltd. my e-mail address and IP address",
           "country": "Canada (CA)", "agree": "I agree", "disagree": "I do not agree",
           "allow": "Allow", "deny": "Don't allow"},
    "zh-CN": {"title": "向Maple & Pine Imports Ltd.提供我的电子邮箱地址和 IP 地址",
              "country": "加拿大 (CA)", "agree": "我同意", "disagree": "我不同意",
              "allow": "允许", "deny": "不允许"},
}


def admin_key(server: Server) -> str:
    deadline = time.time() + 10
    while time.time() < deadline:
        m = re.search(r"^\s+admin key\s+(\S+)", server.log.read_text("utf-8", "replace"), re.M)
        if m:
            return m.group(1)
        time.sleep(0.1)
    raise AssertionError("no admin key in the demo's startup text")


def grant(server: Server, ref: str, recipient: str) -> dict[str, Any]:
    """The backend's check before sharing (the demo's admin key holds every scope)."""
    q = urllib.parse.urlencode({"item": ITEM, "recipient": recipient})
    req = urllib.request.Request(server.url(f"/v1/sites/demo/people/{ref}/grants?{q}"),
                                 headers={"Authorization": f"Bearer {admin_key(server)}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(json.load(r))


def ask_token(server: Server, ref: str, buyer: str = "B-1") -> str:
    req = urllib.request.Request(server.url("/demo/inquiry/ask"), method="POST",
                                 data=json.dumps({"ref": ref, "buyer": buyer}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.load(r)["token"])


def until(page: Page, js: str, timeout: float = 10) -> Any:
    """Poll an expression (the page's CSP refuses wait_for_function's string evaluation)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = page.evaluate(js)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never true: {js}")


def open_inquiry(page: Page, server: Server, ref: str, buyer: str = "B-2") -> None:
    page.goto(server.url(f"/demo/inquiry?ref={ref}&buyer={buyer}"))
    until(page, "!!(window.Consentry && Consentry.ready)")
    page.evaluate("Consentry.ready.then(() => true)")


def reply(page: Page) -> Any:
    page.get_by_role("button", name=re.compile("^(Reply|回复)$")).click()
    dialog = page.locator(".cmp-q [role=dialog]")
    expect(dialog).to_be_visible()
    return dialog


def inside_dialog(page: Page) -> bool:
    return bool(page.evaluate("!!document.activeElement.closest('.cmp-q [role=dialog]')"))


CSP_WATCH = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"""


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_ask_shows_the_buyer_passes_axe_and_records_the_answer(
        demo_server: Server, new_page: Any, lang: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    t, ref = TEXTS[lang], f"M-ask-{lang}"
    page, rec = new_page(locale=lang, init_script=CSP_WATCH)
    open_inquiry(page, demo_server, ref)
    dialog = reply(page)
    # exactly that one item for that buyer, in the page's language, labelled and described
    expect(page.get_by_role("dialog", name=t["title"])).to_be_visible()
    assert dialog.get_attribute("aria-modal") == "true"
    described = page.locator("#" + str(dialog.get_attribute("aria-describedby")))
    assert "Maple & Pine Imports Ltd." in described.inner_text()
    body = dialog.inner_text()
    for shown in ("Maple & Pine Imports Ltd.", "+1 604 555 0142", t["country"]):
        assert shown in body, shown
    assert page.locator(".cmp-q").get_attribute("lang") == lang
    assert page.locator(".cmp-q button").all_inner_texts() == [t["agree"], t["disagree"]]
    # equal weight: the same class, the same box
    yes, no = page.locator(".cmp-q .cmp-yes"), page.locator(".cmp-q .cmp-no")
    assert yes.evaluate("b => getComputedStyle(b).backgroundColor") == \
        no.evaluate("b => getComputedStyle(b).backgroundColor")
    result = Axe().run(page, context=".cmp-q")
    assert result.violations_count == 0, result.generate_report()
    assert inside_dialog(page)
    agreed = lang == "en"
    (yes if agreed else no).click()
    out = page.locator("#demo-ask-result")
    expect(out).to_have_text(re.compile(("agreed " if agreed else "not agreed ") + r"\S+"))
    expect(page.locator(".cmp-q")).to_have_count(0)
    event_id = out.inner_text().split()[-1]
    got = grant(demo_server, ref, "B-2")
    assert got["agreed"] is agreed
    assert got["event_id"] == event_id
    # the answer went with the person hint and the notice hash; nothing failed on the page
    assert not rec.errors, rec.errors
    assert rec.any("/cmp-ask.js?v=")
    # the page's strict CSP (script-src 'self' 'nonce-…'; style-src 'self') saw nothing to refuse
    assert page.evaluate("window.cspViolations") == []


def test_keyboard_focus_is_trapped_escape_dismisses_and_focus_returns(
        demo_server: Server, new_page: Any) -> None:
    page, _ = new_page()
    open_inquiry(page, demo_server, "M-keys")
    page.get_by_role("button", name="Reply").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".cmp-q [role=dialog]")).to_be_visible()
    until(page, "!!document.activeElement.closest('.cmp-q')")
    for _ in range(6):
        page.keyboard.press("Tab")
        assert inside_dialog(page)
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
        assert inside_dialog(page)
    # Escape dismisses: nothing recorded, the promise says so, focus back on Reply
    page.keyboard.press("Escape")
    expect(page.locator(".cmp-q")).to_have_count(0)
    expect(page.locator("#demo-ask-result")).to_have_text("dismissed")
    assert page.evaluate("document.activeElement.id") == "demo-reply"
    assert grant(demo_server, "M-keys", "B-2")["event_id"] is None
    # keyboard alone answers
    page.keyboard.press("Enter")
    expect(page.locator(".cmp-q [role=dialog]")).to_be_visible()
    until(page, "!!document.activeElement.closest('.cmp-q')")
    page.keyboard.press("Tab")  # the notice first (it scrolls when long), then the answers
    assert page.evaluate("document.activeElement.classList.contains('cmp-body')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "I agree"
    page.keyboard.press("Enter")
    expect(page.locator("#demo-ask-result")).to_have_text(re.compile("^agreed "))
    assert grant(demo_server, "M-keys", "B-2")["agreed"] is True


def test_withdrawal_on_the_self_service_page_flips_the_check(
        demo_server: Server, new_page: Any) -> None:
    page, _ = new_page()
    open_inquiry(page, demo_server, "M-withdraw")
    reply(page)
    page.get_by_role("button", name="I agree").click()
    expect(page.locator("#demo-ask-result")).to_have_text(re.compile("^agreed "))
    assert grant(demo_server, "M-withdraw", "B-2")["agreed"] is True
    page.locator("#demo-mine").click()
    expect(page.get_by_role("heading", name="Who may receive my data")).to_be_visible()
    page.get_by_role("button", name="Withdraw: Maple & Pine Imports Ltd.").click()
    expect(page.get_by_role("status")).to_contain_text("Maple & Pine Imports Ltd. will receive "
                                                       "nothing more")
    got = grant(demo_server, "M-withdraw", "B-2")
    assert got["agreed"] is False and got["event_id"]


def _expired_token(server: Server, ref: str) -> str:
    """An ask signed with the demo's own key whose expiry has passed."""
    from cmp.asks import _SIGNER

    keys = Keyring(load_master_secret(server.db.parent / "consentry.secret")).site("demo")
    ser = URLSafeSerializer(keys.token_key, salt="consentry/ask", signer_kwargs=_SIGNER)
    return str(ser.dumps({"s": "demo", "a": "a_old", "i": ITEM, "p": "p_x", "e": int(time.time()) - 5,
                          "r": {"id": "B-1", "name": "Old", "contact": "x", "country": "DE",
                                "data_categories": ["IP address"]}}))


@pytest.mark.parametrize("case", ["expired", "forged", "other person"])
def test_refused_tokens_reject_with_the_reason_and_show_nothing(
        demo_server: Server, new_page: Any, case: str) -> None:
    page, _ = new_page()
    open_inquiry(page, demo_server, "M-mine")
    token = {"expired": lambda: _expired_token(demo_server, "M-mine"),
             "forged": lambda: ask_token(demo_server, "M-mine")[:-3] + "abc",
             "other person": lambda: ask_token(demo_server, "M-else")}[case]()
    message = page.evaluate("t => Consentry.ask(t).then(() => 'resolved', e => e.message)", token)
    want = {"expired": ("expired", "410"), "forged": ("not valid", "400"),
            "other person": ("another person", "403")}[case]
    assert message.startswith("Consentry.ask: ") and all(w in message for w in want), message
    assert page.locator(".cmp-q").count() == 0
    assert grant(demo_server, "M-else", "B-1")["event_id"] is None


# --- permission prompts -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def media_browser(pw: Playwright) -> Iterator[Browser]:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=[
        *ARGS, LOCAL_ONLY, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    yield b
    b.close()


@pytest.fixture
def media_page(media_browser: Browser, demo_server: Server,
               request: pytest.FixtureRequest) -> Iterator[Page]:
    # the browser's own prompts answer yes: a "no" the page sees can only be Consentry's
    ctx = media_browser.new_context(permissions=["camera", "microphone", "notifications"])
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a member of their own: with the page's person hint a choice follows the member, so one
    # test's answer would be the next one's stored choice
    ref = "M-media-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    open_inquiry(page, demo_server, ref, "B-1")
    yield page
    ctx.close()
    assert not errors, errors


CALL = """(what) => {
  window.outcome = null;
  const p = what === 'camera'
    ? navigator.mediaDevices.getUserMedia({video: true, audio: true})
        .then(s => 'stream:' + s.getTracks().map(t => t.kind).sort().join(','))
    : Notification.requestPermission();
  p.then(v => { window.outcome = v; }, e => { window.outcome = e.name; });
}"""


def call(page: Page, what: str) -> None:
    page.evaluate(CALL, what)


def outcome(page: Page) -> Any:
    until(page, "window.outcome !== null")
    return page.evaluate("window.outcome")


def consent(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("Consentry.getConsent()"))


@pytest.mark.parametrize("what", ["camera", "notifications"])
def test_a_refusal_fails_the_call_as_the_browser_would_and_is_not_asked_again(
        demo_server: Server, media_page: Page, what: str) -> None:
    page = media_page
    call(page, what)
    dialog = page.locator(".cmp-q [role=dialog]")
    expect(dialog).to_be_visible()
    title = "Functional" if what == "camera" else "Advertising"
    expect(page.get_by_role("dialog", name=title)).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("window.outcome") is None  # held until the dialog is answered
    page.get_by_role("button", name="Don't allow").click()
    assert outcome(page) == ("NotAllowedError" if what == "camera" else "denied")
    # recorded as a normal consent update, the purpose refused
    c = consent(page)
    purpose = "functional" if what == "camera" else "marketing"
    assert c["purposes"][purpose] is False
    ev = demo_server.events(c["consent_id"])
    assert ev[-1]["action"] == "custom" and ev[-1]["choices"]["purposes"][purpose] is False
    # a later call does not ask again
    call(page, what)
    assert outcome(page) == ("NotAllowedError" if what == "camera" else "denied")
    assert page.locator(".cmp-q").count() == 0
    assert len(demo_server.events(c["consent_id"])) == len(ev)


@pytest.mark.parametrize("what", ["camera", "notifications"])
def test_a_grant_lets_the_browser_answer_and_is_not_asked_again(
        demo_server: Server, media_page: Page, what: str) -> None:
    page = media_page
    call(page, what)
    expect(page.locator(".cmp-q [role=dialog]")).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("window.outcome") is None
    page.get_by_role("button", name="Allow", exact=True).click()
    expected = "stream:audio,video" if what == "camera" else "granted"
    assert outcome(page) == expected
    expect(page.locator(".cmp-q")).to_have_count(0)
    c = consent(page)
    purpose = "functional" if what == "camera" else "marketing"
    assert c["purposes"][purpose] is True
    assert demo_server.events(c["consent_id"])[-1]["choices"]["purposes"][purpose] is True
    # a later call goes straight to the browser
    call(page, what)
    assert outcome(page) == expected
    assert page.locator(".cmp-q").count() == 0


def test_the_page_button_works_unchanged(demo_server: Server, media_page: Page) -> None:
    """The demo's own button calls getUserMedia as any page would; focus returns to it."""
    page = media_page
    join = page.get_by_role("button", name="Join the cloud exhibition (camera and microphone)")
    join.focus()  # the banner (no choice yet) covers the bottom of the page
    page.keyboard.press("Enter")
    expect(page.locator(".cmp-q [role=dialog]")).to_be_visible()
    page.keyboard.press("Escape")  # dismissed: fails like a dismissed browser prompt
    expect(page.locator("#demo-perm-result")).to_have_text(re.compile("^NotAllowedError: "
                                                                      "Permission dismissed"))
    assert page.evaluate("document.activeElement.id") == "demo-join"
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Allow", exact=True).click()
    expect(page.locator("#demo-perm-result")).to_have_text(re.compile("^camera and microphone on"))


def test_the_ask_module_loads_only_when_asked(demo_server: Server, new_page: Any) -> None:
    """The demo site maps permissions, so that module comes with the config; the ask modal
    only with the first Consentry.ask."""
    page, rec = new_page()
    page.goto(demo_server.url("/demo/tags"))
    page.evaluate("Consentry.ready.then(() => true)")
    until(page, "!!document.querySelector('script[src*=\"/cmp-permissions.js\"]')")
    page.wait_for_timeout(200)
    assert rec.any("/cmp-permissions.js") and not rec.any("/cmp-ask.js")


def test_module_assets_are_cached_like_the_banner(demo_server: Server) -> None:
    for name in ("cmp-ask.js", "cmp-permissions.js"):
        req = urllib.request.Request(demo_server.url(f"/{name}?v=x"),
                                     headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req) as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.headers["Content-Encoding"] == "gzip" and r.headers["ETag"]
            assert r.headers["X-Content-Type-Options"] == "nosniff"


# --- geolocation, on the demo config with a geolocation mapping ------------------------------

@pytest.fixture(scope="module")
def geo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`consentry serve` over the demo config plus `geolocation = "personalisation"`."""
    from tests.browser.conftest import DEMO_TOML, _start, _stop, free_port

    tmp = tmp_path_factory.mktemp("geo")
    port = free_port()
    text = DEMO_TOML.read_text("utf-8")
    old = 'notifications = "marketing"\n'
    assert old in text
    text = text.replace(old, old + 'geolocation = "personalisation"\n').replace(
        'origins = ["http://127.0.0.1:8000", "http://localhost:8000"]',
        f'origins = ["http://127.0.0.1:{port}"]')
    cfg = tmp / "consentry.toml"
    cfg.write_text(text, "utf-8")
    db = tmp / "ledger.db"
    proc = _start([sys.executable, "-m", "consentry", "serve", "--config", str(cfg), "--port",
                   str(port), "--database", f"sqlite:///{db}"],
                  {"CONSENTRY_DEMO": "1", "CONSENTRY_SECRET_FILE": str(tmp / "secret"),
                   "CONSENTRY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port, tmp)
    yield Server(f"http://127.0.0.1:{port}", db, proc, tmp / "server.log")
    _stop(proc)


GEO = """(kind) => {
  window.outcome = null;
  const ok = p => { window.outcome = 'position:' + p.coords.latitude; };
  const err = e => { window.outcome = 'error:' + e.code + ':' + (e.code === e.PERMISSION_DENIED); };
  if (kind === 'once') navigator.geolocation.getCurrentPosition(ok, err);
  else window.watchId = navigator.geolocation.watchPosition(ok, err);
}"""


def test_geolocation_waits_for_consent_and_fails_through_the_error_callback(
        geo_server: Server, browser: Browser) -> None:
    for answer in ("Don't allow", "Allow"):
        ctx = browser.new_context(permissions=["geolocation"],
                                  geolocation={"latitude": 22.5, "longitude": 114.0})
        page = ctx.new_page()
        try:
            open_inquiry(page, geo_server, f"M-geo-{answer[:3]}", "B-1")
            page.evaluate(GEO, "once")
            expect(page.get_by_role("dialog", name="Personalised recommendations")).to_be_visible()
            assert page.evaluate("window.outcome") is None
            page.get_by_role("button", name=answer, exact=True).click()
            if answer == "Allow":
                assert outcome(page) == "position:22.5"
                # watchPosition: an id at once, the browser's watch behind it, clearWatch works
                page.evaluate(GEO, "watch")
                assert outcome(page) == "position:22.5"
                assert isinstance(page.evaluate("window.watchId"), int)
                page.evaluate("navigator.geolocation.clearWatch(window.watchId)")
            else:
                assert outcome(page) == "error:1:true"
                page.evaluate(GEO, "watch")  # not asked again: the error callback at once
                assert outcome(page) == "error:1:true"
                assert page.locator(".cmp-q").count() == 0
        finally:
            ctx.close()
