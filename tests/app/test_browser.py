"""The app in a real browser (Debian chromium via Playwright) against `streamlit run app.py` on loopback.
Skipped when chromium or playwright is missing; .ci/run installs both. Prints the timings it measures
and saves screenshots to artifacts/screenshots/. Timings are recorded, never asserted: their budgets
are checked by benchmarks/bench_app.py on a quiet machine."""
import os
import re
import time

import pytest

from ifexplorer.ui.browser import SCREENSHOTS, Server, browser_available, settle, thumbnail, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not browser_available() and os.environ.get("IFEXPLORER_REQUIRE_BROWSER") != "1",
                                 reason="needs /usr/bin/chromium and playwright")]  # in CI: a failure, not a skip

PAGES = [("Overview", "Train accuracy"), ("Influence gallery", "Most helpful"),
         ("Training dynamics", "Most helpful at"), ("IHVP error", "Error rate against density"),
         ("Network check", "Network check"), ("Influence 101", "From the line")]
TIMINGS: dict = {}
TIMINGS_FILE = "browser_timings.json"  # written by the server fixture (tests/app/conftest.py)


def _page(browser, height=1600):
    page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.on("response", lambda r: page.console_errors.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 and not _PROBE.search(r.url) else None)
    return page


# On a deep link (/gallery) Streamlit's frontend first probes /gallery/_stcore/{health,host-config}, gets a 404,
# then uses the server root: expected. A fragment rerun can also retire an image's /media/ URL while the browser
# still fetches it (Streamlit's in-memory media store). Every other failed request is reported.
_PROBE = re.compile(r"(/[^/]+/_stcore/(health|host-config)|/media/[0-9a-f]+\.\w+)$")


def _errors(page) -> list:
    return [e for e in page.console_errors if "status of 404" not in e]


def _goto(page, title, text):
    start = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_idle(page, text, 120_000)
    settle(page)
    return time.perf_counter() - start


def _metrics(page) -> dict:
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    return dict(zip([s.strip() for s in labels], [s.strip() for s in values]))


def test_five_sessions_at_once_get_correct_pages_and_one_fit(server, browser):
    start = time.perf_counter()
    pages = [_page(browser) for _ in range(5)]
    for page in pages:
        page.goto(server.url, wait_until="commit")
    seen = []
    for page in pages:
        wait_idle(page, "Train accuracy", 180_000)
        seen.append(_metrics(page))
    TIMINGS["five_sessions_cold_to_overview"] = round(time.perf_counter() - start, 2)
    assert server.fits() == 1, server.log()
    assert all(m == seen[0] for m in seen) and seen[0]["Training points"] == "800"
    assert 0.9 < float(seen[0]["Test accuracy"].rstrip("%")) / 100 <= 1.0
    for page in pages:
        assert not _errors(page), page.console_errors
        page.context.close()


def test_every_page_renders_and_warm_switches_are_fast(server, browser):
    page = _page(browser, height=2900)
    page.goto(server.url)
    wait_idle(page, "Train accuracy", 120_000)
    first, warm = {}, {}
    for title, text in PAGES:
        first[title] = round(_goto(page, title, text), 2)
        page.screenshot(path=str(SCREENSHOTS / f"{title.lower().replace(' ', '_')}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, title
    for title, text in PAGES:
        warm[title] = round(_goto(page, title, text), 2)
    TIMINGS["first_visit"], TIMINGS["warm_switch"] = first, warm
    assert server.fits() == 1
    assert not _errors(page), page.console_errors


def test_picking_a_test_image_changes_image_and_neighbours(server, browser):
    page = _page(browser)
    page.goto(server.url + "/gallery")
    wait_idle(page, "Most helpful", 120_000)
    settle(page)
    captions = page.locator('.st-key-result [data-testid="stImageCaption"]')
    helpful = page.locator('[class*="st-key-topk_table_help"] .ifx-grid').first
    picks = []
    for j in (5, 12, 5):
        before = helpful.inner_html()
        cell = thumbnail(page, "browse_grid_", j)
        cell.scroll_into_view_if_needed()
        start = time.perf_counter()
        cell.click()
        captions.get_by_text(f"test #{j}", exact=True).wait_for(timeout=30_000)
        settle(page)
        picks.append(round(time.perf_counter() - start, 3))
        assert helpful.inner_html() != before and captions.first.inner_text() == f"test #{j}"
    TIMINGS["new_test_image"] = picks
    assert "test=5" in page.url  # the chosen index is shareable
    page.screenshot(path=str(SCREENSHOTS / "gallery_test5.png"), full_page=True)
    # the URL alone restores the choice in a new session
    other = _page(browser)
    other.goto(server.url + "/gallery?test=5")
    wait_idle(other, "Most helpful", 60_000)
    assert other.locator('.st-key-result [data-testid="stImageCaption"]').first.inner_text() == "test #5"
    cell = thumbnail(page, "browse_grid_", 7)  # the keyboard picks too: Tab to a thumbnail, Enter
    cell.focus()
    page.keyboard.press("Enter")
    captions.get_by_text("test #7", exact=True).wait_for(timeout=30_000)
    assert not _errors(page) + _errors(other), page.console_errors + other.console_errors


def test_time_slider_moves_only_its_panel_quickly(server, browser):
    page = _page(browser)
    page.goto(server.url)
    wait_idle(page, "Train accuracy", 120_000)
    _goto(page, "Training dynamics", "Most helpful at")
    time.sleep(0.3)
    heading = page.get_by_text("Most helpful at t =", exact=False).first
    before = heading.inner_text()
    slider = page.get_by_role("slider", name="Training time t (log scale)")
    moves = []
    for key in ("ArrowRight", "ArrowRight", "ArrowLeft"):
        old = heading.inner_text()
        slider.focus()
        start = time.perf_counter()
        slider.press(key)
        deadline = start + 10
        while heading.inner_text() == old and time.perf_counter() < deadline:
            time.sleep(0.02)
        settle(page)
        moves.append(round(time.perf_counter() - start, 3))
    TIMINGS["time_slider_move"] = moves
    assert heading.inner_text() != before
    page.screenshot(path=str(SCREENSHOTS / "dynamics_moved.png"))
    # the play button steps t on its own (a fragment with run_every), and stops when switched off
    old = heading.inner_text()
    page.get_by_text("Play", exact=True).click()
    page.wait_for_function("old => !document.body.innerText.includes(old)", arg=old, timeout=15_000)
    page.get_by_text("Play", exact=True).click()
    settle(page)
    time.sleep(0.3)
    stopped = heading.inner_text()
    time.sleep(2.5)  # more than two play steps
    assert heading.inner_text() == stopped
    assert not _errors(page), page.console_errors


def test_stopping_the_network_check_keeps_the_finished_retrains(server, browser):
    """Stop while width 1024 is retraining: width 256 (finished) is kept and shown, the networks of width 1024 being
    retrained are dropped at the next progress report (Stop acts within a step, not after the batch)."""
    page = _page(browser, height=2000)
    page.goto(server.url + "/network")
    wait_idle(page, "Run the network check", 120_000)
    page.get_by_role("button", name="Run the network check").click()
    page.get_by_text("width 1024: retrain", exact=False).first.wait_for(timeout=240_000)
    start = time.perf_counter()
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped early", exact=False).first.wait_for(timeout=120_000)
    TIMINGS["network_check_stop_to_message"] = round(time.perf_counter() - start, 2)
    wait_idle(page, "Stopped early", 120_000)
    TIMINGS["network_check_stop_to_drawn"] = round(time.perf_counter() - start, 2)  # the result's charts included
    warning = page.get_by_test_id("stAlert").inner_text()
    assert re.search(r"Finished retrains kept: 12 at width 256 \(of 12 per width\)", warning), warning
    assert "1024" not in warning
    assert page.get_by_text("Pearson correlation with real retraining at width 256").count() == 1
    assert page.get_by_role("button", name="Stop").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "network_stopped.png"), full_page=True)
    assert not _errors(page), page.console_errors


def test_changing_the_dataset_shows_its_own_default_sizes(server, browser):
    """The size inputs must show the sizes the app uses (the backend value alone is not enough)."""
    page = _page(browser)
    page.goto(server.url)
    wait_idle(page, "Train accuracy", 120_000)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Iris flowers (tabular, 3 classes)").click()
    wait_idle(page, "for 120 points × 4 features", 120_000)
    sizes = page.get_by_test_id("stSidebar").get_by_test_id("stNumberInputField")
    assert [sizes.nth(k).input_value() for k in range(2)] == ["120", "30"]
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().strip() == "120"
    assert "was created with a default value" not in server.log()
    assert not _errors(page), page.console_errors


DEEP_LINKS = [("/", "IF Explorer"), ("/gallery?test=3", "Influence gallery"), ("/dynamics?test=5", "Training dynamics"),
              ("/ihvp?test=9", "IHVP error"), ("/network", "Network check"), ("/influence101", "Influence 101"),
              ("/gallery?test=7", "Influence gallery"), ("/dynamics", "Training dynamics")]
ROUTED_WITHIN = 300  # s: eight sessions of a cold server on a shared 2-core box, each with the sidebar and its page


def test_eight_simultaneous_deep_links_to_a_fresh_server_all_get_the_router(browser, tmp_path):
    """A fresh server runs its first sessions in Streamlit's pages/-folder mode (a deep link would run its page
    alone: no sidebar, "Choose your images …"); router.ensure_routed must route every one of eight sessions
    that arrive at once, whichever is first. Then a click on a point of the IHVP scatter shows that image."""
    srv = Server(tmp_path / "streamlit.log")
    try:
        srv.wait_healthy()
        pages = [_page(browser, height=1200) for _ in DEEP_LINKS]
        start = time.perf_counter()
        for page, (link, _) in zip(pages, DEEP_LINKS):  # all eight sessions open before any has run
            page.goto(srv.url + link, wait_until="commit")
        for page, (link, title) in zip(pages, DEEP_LINKS):
            left = max(1.0, ROUTED_WITHIN - (time.perf_counter() - start))
            page.get_by_test_id("stSidebar").get_by_text("Dataset", exact=True).wait_for(timeout=left * 1000)
            page.get_by_role("heading", name=title, level=1).wait_for(timeout=left * 1000)
            settle(page, left * 1000)
            nav = page.get_by_test_id("stSidebarNav")
            assert nav.get_by_text("Influence gallery", exact=True).count() == 1, link  # the router's navigation
            assert "Choose your images" not in page.inner_text("body"), link
            assert page.locator('[data-testid="stException"]').count() == 0, link
            if "test=" in link:
                shown = page.get_by_test_id("stMain").get_by_label("Test image #", exact=True).input_value()
                assert shown == link.rsplit("=", 1)[1], link
        TIMINGS["eight_deep_links_routed"] = round(time.perf_counter() - start, 2)
        assert srv.fits() == 1, srv.log()
        ihvp = pages[3]  # clicking a point of the IHVP scatter (plotly on_select) shows that training image
        points = ihvp.get_by_test_id("stPlotlyChart").first.locator(".scatterlayer .trace").nth(1).locator("path.point")
        assert points.count() == 800
        points.nth(799).click(force=True)
        ihvp.get_by_text("training #799 · label", exact=False).wait_for(timeout=30_000)
        wait_idle(ihvp)
        assert ihvp.get_by_test_id("stImageCaption").first.inner_text().startswith("training #799 · label")
        for page in pages:
            assert not _errors(page), page.console_errors
            page.context.close()
    finally:
        srv.stop()


PWN, CLICK = "![pwn](http:127.0.0.1:8739)", "[click me](javascript:alert(1))"
TAG = "<img src=x onerror=alert(1)>"  # HTML: the training-time charts' tooltips are HTML in ECharts
FOREIGN = """base => {  // the page and every component's shadow root (the thumbnail grids)
  const roots = [document, ...Array.from(document.querySelectorAll('*')).map(e => e.shadowRoot).filter(r => r)];
  const all = s => roots.flatMap(r => Array.from(r.querySelectorAll(s)));
  return {
    images: all('img').map(i => i.getAttribute('src'))
      .filter(src => !(src.startsWith('data:') || src.startsWith('/media/') || src.startsWith(base + '/media/'))),
    links: all('a[href]').map(a => a.href).filter(h => !h.startsWith(base + '/')),
    grids: all('.ifx-grid').length,
  };
}"""


def test_uploaded_class_and_file_names_show_as_text_not_markup(server, browser):
    """Class folders named like a markdown image, a javascript: link and an HTML tag, in a zip whose name is
    markdown too: the overview and the gallery show them literally, with no image or link that is not the app's
    own, and so does the hovered tooltip of Training dynamics' curves (one per class, named by class)."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, cls in enumerate((PWN, CLICK, TAG)):
            for j in range(8):
                png = io.BytesIO()
                Image.fromarray(np.clip(40 + 80 * k + rng.normal(0, 30, (12, 12)), 0, 255).astype(np.uint8)).save(
                    png, format="PNG")
                zf.writestr(f"{cls}/img{j}.png", png.getvalue())
    page = _page(browser)
    page.goto(server.url)
    wait_idle(page, "Train accuracy", 120_000)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Your own images").click()
    wait_idle(page, "Upload a file to use it", 60_000)
    page.get_by_test_id("stSidebar").locator('input[type="file"]').set_input_files(
        files=[{"name": f"{PWN} shapes.zip", "mimeType": "application/zip", "buffer": buf.getvalue()}])
    wait_idle(page, f"classes {PWN}", 120_000)  # the overview's caption, once the upload is fitted
    for title, text in (("Overview", "A sample of the training data"), ("Influence gallery", "Most helpful")):
        if title != "Overview":
            _goto(page, title, text)
        body = page.get_by_test_id("stMain").inner_text()
        assert PWN in body and CLICK in body, title  # literal text …
        found = page.evaluate(FOREIGN, server.url)
        assert (found["images"], found["links"]) == ([], []) and found["grids"] >= 1, (title, found)  # … no markup
        hovers = page.locator("button.ifx-cell").evaluate_all("cells => cells.map(c => c.title)")
        assert any(PWN in h for h in hovers) and any(CLICK in h for h in hovers), hovers  # the grids' tooltips
        assert page.locator('a[href^="javascript"]').count() == 0
        page.screenshot(path=str(SCREENSHOTS / f"escaped_{title.lower().replace(' ', '_')}.png"), full_page=True)
    _goto(page, "Training dynamics", "Most helpful at")
    chart = page.locator('.st-key-dyn_path [data-testid="stEChartsChart"]')
    box = chart.bounding_box()
    page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.5 * box["height"], steps=4)
    page.wait_for_function("tag => Array.from(document.querySelectorAll('.st-key-dyn_path div'))"
                           ".some(d => d.textContent.includes('class ' + tag))", arg=TAG, timeout=30_000)
    found = page.evaluate(FOREIGN, server.url)
    assert (found["images"], found["links"]) == ([], []), found  # the tooltip shows the tag as text
    page.screenshot(path=str(SCREENSHOTS / "escaped_training_dynamics.png"))
    assert not _errors(page), page.console_errors
