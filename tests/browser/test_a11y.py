"""Keyboard, focus and axe checks on both layers of the banner."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server


def inside(page: Page, selector: str) -> bool:
    return bool(page.evaluate(f"!!document.activeElement.closest({selector!r})"))


def test_focus_moves_into_the_banner_and_keyboard_alone_works(demo_server: Server, new_page) -> None:
    page, _ = new_page()
    page.goto(demo_server.url("/"))
    banner = page.get_by_role("region", name="Your privacy on Tuiqiqi")
    expect(banner).to_be_visible()
    # focus follows the banner's first frame (not the task that builds it): wait, then assert
    page.wait_for_function("!!document.activeElement.closest('.cmp-banner')", timeout=5000)
    assert inside(page, ".cmp-banner")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Accept all"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Choose purposes"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # visible focus
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Privacy settings")
    expect(dialog).to_be_visible()
    assert inside(page, "[role=dialog]")
    for _ in range(80):  # more stops than the dialog has: focus must wrap, never leave
        page.keyboard.press("Tab")
        assert inside(page, "[role=dialog]")
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        assert inside(page, "[role=dialog]")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("document.activeElement.textContent") == "Choose purposes"  # back
    # choose with the keyboard only
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".cmp-fab")).to_be_visible()
    assert page.evaluate("Consentry.getConsent().purposes.analytics") is False


def test_axe_reports_no_violations_on_both_layers(demo_server: Server, new_page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    page, _ = new_page()
    page.goto(demo_server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    first = axe.run(page, context=".cmp-banner")
    assert first.violations_count == 0, first.generate_report()
    page.get_by_role("button", name="Choose purposes").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.locator(".cmp-dialog details").first.evaluate("d => d.open = true")
    second = axe.run(page, context=".cmp-modal")
    assert second.violations_count == 0, second.generate_report()
    page.get_by_role("dialog").get_by_role("button", name="Reject all").click()
    expect(page.locator(".cmp-fab")).to_be_visible()
    whole = axe.run(page)
    assert whole.violations_count == 0, whole.generate_report()


def test_right_to_left_layout_mirrors(demo_server: Server, new_page) -> None:
    page, _ = new_page()
    page.goto(demo_server.url("/"))
    expect(page.locator(".cmp-banner")).to_be_visible()
    page.evaluate("document.querySelector('.cmp-banner').dir = 'rtl'")
    first, reject = (page.locator(".cmp-banner .cmp-btn").nth(i).bounding_box() for i in (0, 1))
    assert first and reject and first["x"] > reject["x"]  # Accept all starts on the right
