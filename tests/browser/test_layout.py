"""The banner's layout on a desktop and on a phone: every button's label on one line, the
"Choose purposes" button as wide as the others on a phone, and a dialog footer that leaves the
choices room to be read."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 664}  # an iPhone 14's viewport with Safari's bars showing

# Lines of text in each button: a Range over its contents has one box per line.
LINES = """sel => [...document.querySelectorAll(sel)].map(b => {
    const r = document.createRange(); r.selectNodeContents(b);
    const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
    return [b.textContent, tops.size];
})"""


def open_dialog(page: Page, server: Server) -> None:
    page.goto(server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    page.evaluate("Consentry.acceptAll()")  # so the footer has all four buttons
    page.evaluate("Consentry.show()")
    expect(page.locator(".cmp-foot .cmp-btn")).to_have_count(4)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_button_label_fits_on_one_line(demo_server: Server, new_page, viewport: dict[str, int],
                                             lang: str) -> None:
    page, rec = new_page(viewport=viewport, locale=lang)
    page.goto(demo_server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    banner = page.evaluate(LINES, ".cmp-banner .cmp-btn")
    assert len(banner) == 3 and all(n == 1 for _, n in banner), banner
    open_dialog(page, demo_server)
    foot = page.evaluate(LINES, ".cmp-foot .cmp-btn")
    assert all(n == 1 for _, n in foot), foot
    assert rec.errors == []


def test_on_a_phone_every_banner_button_spans_the_banner(demo_server: Server, new_page) -> None:
    page, _ = new_page(viewport=PHONE)
    page.goto(demo_server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    inner = page.evaluate("""() => { const b = document.querySelector('.cmp-banner'),
        s = getComputedStyle(b);
        return b.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }""")
    for name in ("Accept all", "Reject all", "Choose purposes"):
        box = page.locator(".cmp-banner").get_by_role("button", name=name).bounding_box()
        assert box and abs(box["width"] - inner) <= 1, (name, box, inner)


def test_on_a_phone_the_dialog_footer_leaves_room_for_the_choices(demo_server: Server,
                                                                  new_page) -> None:
    page, _ = new_page(viewport=PHONE)
    open_dialog(page, demo_server)
    foot = page.locator(".cmp-foot").bounding_box()
    assert foot and foot["height"] <= 0.25 * PHONE["height"], foot
    # the dialog still fits the screen and its footer sits at the bottom of what is visible
    assert foot["y"] + foot["height"] <= PHONE["height"] + 0.5
    # and every footer button stays inside the screen and big enough to tap
    for b in page.locator(".cmp-foot .cmp-btn").all():
        box = b.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, box
        assert box["height"] >= 44, box
