"""What a user does, in Debian's chromium (Playwright) against `streamlit run app.py`: click a test thumbnail,
press →, open a link in a fresh browser context and see the same view, open a link to an upload the new
context lacks, click a training thumbnail; screenshots of the touched pages at 1280×720 and 1920×1080, light
and dark. Timings are recorded (artifacts/screenshots/../browser_links_timings.json), never asserted."""
import os
import time

import pytest

from ifexplorer.ui.browser import SCREENSHOTS, browser_available, settle, thumbnails, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not browser_available() and os.environ.get("IFEXPLORER_REQUIRE_BROWSER") != "1",
                                 reason="needs /usr/bin/chromium and playwright")]
TIMINGS: dict = {}
TIMINGS_FILE = "browser_links_timings.json"  # written by the server fixture (tests/app/conftest.py)


def _page(browser, width=1280, height=720, dark=False):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  color_scheme="dark" if dark else "light")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def _open(page, url, text="Most helpful"):
    page.goto(url)
    wait_idle(page, text, 180_000)
    settle(page)


def _result_caption(page) -> str:
    return page.locator('.st-key-result [data-testid="stImageCaption"]').first.inner_text()


def _result_text(page) -> str:
    return page.locator(".st-key-result").inner_text()


def _click_cell(page, key_prefix: str, position: int):
    """Click the position-th thumbnail (row by row) of the grid whose key starts with key_prefix."""
    thumbnails(page, key_prefix).nth(position).click()


def test_click_a_test_thumbnail_then_step_with_the_arrow_keys(server, browser):
    page = _page(browser)
    _open(page, server.url + "/gallery")
    assert _result_caption(page) == "test #0"
    start = time.perf_counter()
    _click_cell(page, "browse_grid_", 3)
    page.locator(".st-key-result").get_by_text("test #3", exact=True).wait_for(timeout=30_000)
    settle(page)
    TIMINGS["pick_a_thumbnail"] = round(time.perf_counter() - start, 3)
    top = page.locator(".st-key-result").bounding_box()["y"]
    assert -5 <= top < 200, top  # the result was scrolled into view, not left above the fold
    page.screenshot(path=str(SCREENSHOTS / "gallery_after_pick_1280x720.png"))
    start = time.perf_counter()
    page.keyboard.press("ArrowRight")
    page.locator(".st-key-result").get_by_text("test #4", exact=True).wait_for(timeout=30_000)
    settle(page)
    TIMINGS["arrow_right"] = round(time.perf_counter() - start, 3)
    page.keyboard.press("ArrowLeft")
    page.locator(".st-key-result").get_by_text("test #3", exact=True).wait_for(timeout=30_000)
    assert "test=3" in page.url
    assert not page.errors, page.errors


def test_a_link_opened_in_a_fresh_browser_context_shows_the_same_view(server, browser):
    page = _page(browser, 1920, 1080)
    _open(page, server.url + "/gallery")
    page.get_by_text("Misclassified only", exact=True).click()
    settle(page)
    page.locator(".st-key-k").get_by_role("slider").focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")  # k = 5
    settle(page)
    _click_cell(page, "browse_grid_", 1)
    page.wait_for_function("() => /test=\\d+/.test(location.href) && !location.href.includes('test=0&')")
    settle(page)
    time.sleep(0.5)
    settle(page)
    url, text = page.url, _result_text(page)
    assert "mis=1" in url and "k=5" in url
    other = _page(browser, 1920, 1080)  # a new context: a new browser session, no shared state
    start = time.perf_counter()
    _open(other, url)
    TIMINGS["open_a_link"] = round(time.perf_counter() - start, 3)
    assert _result_text(other) == text
    assert other.get_by_role("switch", name="Misclassified only").is_checked()
    other.screenshot(path=str(SCREENSHOTS / "gallery_from_link_1920x1080.png"))
    assert not page.errors + other.errors


def test_a_link_to_an_upload_shows_the_message_in_a_fresh_context(server, browser):
    page = _page(browser)
    _open(page, server.url + "/gallery?ds=upload&up=0123456789abcdef&file=cats.zip&test=5", "does not have")
    main = page.get_by_test_id("stMain").inner_text()
    assert "cats.zip" in main and "does not have" in main and "Most helpful" not in main
    page.screenshot(path=str(SCREENSHOTS / "upload_link_missing_1280x720.png"))


def test_clicking_a_training_thumbnail_selects_it(server, browser):
    page = _page(browser, 1920, 1080)
    _open(page, server.url + "/gallery")
    page.locator('[class*="st-key-topk_table_help"]').first.scroll_into_view_if_needed()
    _click_cell(page, "topk_table_help", 0)
    page.get_by_text("Training image #", exact=False).first.wait_for(timeout=30_000)  # toast, or the reverse view
    assert not page.errors


SHOTS = [("overview", "", "Train accuracy"), ("gallery", "/gallery", "Most helpful"),
         ("dynamics", "/dynamics", "Most helpful at"), ("network", "/network", "Run the network check"),
         ("influence101", "/influence101", "From the line")]
NO_CLIP = """() => { const m = document.querySelector('[data-testid="stMain"]');
  return m.scrollWidth <= m.clientWidth + 1; }"""


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_screenshots_of_the_touched_pages_without_horizontal_clipping(server, browser, dark):
    for width, height in ((1280, 720), (1920, 1080)):
        page = _page(browser, width, height, dark)
        for name, path, text in SHOTS:
            _open(page, server.url + path, text)
            theme = "dark" if dark else "light"
            page.screenshot(path=str(SCREENSHOTS / f"{name}_{width}x{height}_{theme}.png"))
            assert page.evaluate(NO_CLIP), f"{name} scrolls sideways at {width}×{height}"
        page.context.close()
