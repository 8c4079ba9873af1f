"""The Fragility page in a real browser (Debian chromium via Playwright) against `streamlit run app.py` on
loopback: the committed study is drawn before any run, at 1280×720 and 1920×1080 (screenshots saved to
artifacts/screenshots/fragility_<w>x<h>[_full].png). Skipped without chromium / playwright."""
import os

import pytest

from ifexplorer.ui.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CONTENT_HEIGHT,
    SCREENSHOTS,
    Server,
    browser_available,
    settle,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not browser_available() and os.environ.get("IFEXPLORER_REQUIRE_BROWSER") != "1",
                                 reason="needs /usr/bin/chromium and playwright")]


def test_fragility_page_draws_the_committed_study_at_both_window_sizes(tmp_path):
    from playwright.sync_api import sync_playwright

    srv = Server(tmp_path / "streamlit.log")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        srv.wait_healthy()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for w, h in ((1280, 720), (1920, 1080)):
                page = browser.new_context(viewport={"width": w, "height": h}).new_page()
                errors = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.goto(srv.url + "/fragility")
                wait_idle(page, "Correlation with real retraining", 240_000)
                assert page.locator('[data-testid="stException"]').count() == 0
                assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
                assert page.get_by_text("IHVP keeps", exact=True).count() == 1
                page.screenshot(path=str(SCREENSHOTS / f"fragility_{w}x{h}.png"))
                page.set_viewport_size({"width": w, "height": int(page.evaluate(CONTENT_HEIGHT)) + 40})
                settle(page)
                page.screenshot(path=str(SCREENSHOTS / f"fragility_{w}x{h}_full.png"), full_page=True)
                assert not errors, errors
                page.context.close()
            browser.close()
        assert srv.fits() == 1, srv.log()  # two sessions, one fit of the sidebar's model
    finally:
        srv.stop()
