"""The classroom pages in a real browser (Debian chromium via Playwright) against `streamlit run app.py` on loopback:
draw on the canvas with the mouse, click and lasso points of the map, step through the lesson. Timings are printed and
saved (artifacts/screenshots/classroom_timings.json), never asserted: benchmarks/bench_app.py checks the budgets."""
import os
import time

import pytest

from ifexplorer.ui.browser import SCREENSHOTS, browser_available, settle, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not browser_available() and os.environ.get("IFEXPLORER_REQUIRE_BROWSER") != "1",
                                 reason="needs /usr/bin/chromium and playwright")]
TIMINGS: dict = {}
TIMINGS_FILE = "classroom_timings.json"  # written by the server fixture (tests/app/conftest.py)
# [training index, x, y] (pixels from the plot's top-left corner, from plotly's own axes) of the map's most isolated
# point (farthest from its nearest neighbour on screen), so that a click there can only hit that point
ISOLATED_POINT = """gd => { const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const pts = []; for (const t of gd._fullData) { if (t.name === 'chosen' || !t.customdata) continue;
    for (let k = 0; k < t.x.length; k++) pts.push([t.customdata[k], xa._offset + xa.l2p(t.x[k]),
                                                  ya._offset + ya.l2p(t.y[k])]); }
  let best = null, far = -1;
  for (const p of pts) { let near = Infinity;
    for (const q of pts) if (q !== p) near = Math.min(near, Math.hypot(p[1] - q[1], p[2] - q[2]));
    const inside = p[1] > xa._offset + 20 && p[1] < xa._offset + xa._length - 20 && p[2] > ya._offset + 20
                   && p[2] < ya._offset + ya._length - 20;
    if (inside && near > far) { far = near; best = p; } }
  return best; }"""
# the plot's centre, in pixels from its top-left corner
CENTRE = "gd => [gd._fullLayout.xaxis._offset + gd._fullLayout.xaxis._length / 2, " \
         "gd._fullLayout.yaxis._offset + gd._fullLayout.yaxis._length / 2]"


def _page(browser, width=1280, height=720):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def _no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not page.errors, page.errors


# the answer on the page: the "Answered in N ms" caption and the page's images (two answers can take the same whole
# number of milliseconds; a new drawing shows a new "as the model sees it" image)
ANSWER = ("() => { const p = Array.from(document.querySelectorAll('p'))"
          ".find(e => e.textContent.startsWith('Answered in'));"
          " const srcs = Array.from(document.querySelectorAll('[data-testid=\"stMain\"] img')).map(i => i.src);"
          " return p ? p.textContent + ' ' + srcs.join(' ') : null; }")


def draw(page, strokes, canvas=None):
    """Draw each stroke (a list of (x, y) canvas pixels) with the mouse on the drawable canvas; returns the seconds
    from the last mouse-up to the answer (the "Answered in" caption changed and the page settled)."""
    canvas = canvas or page.locator("canvas.upper-canvas").first
    box = canvas.bounding_box()
    seconds = None
    for stroke in strokes:
        old = page.evaluate(ANSWER)
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        start = time.perf_counter()
        page.mouse.up()
        page.wait_for_function(f"old => {{ const now = ({ANSWER})(); return now !== null && now !== old; }}",
                               arg=old, timeout=60_000)
        settle(page)
        seconds = time.perf_counter() - start
    return seconds


SEVEN = [[(60, 50), (220, 50), (130, 240)]]
ONE = [[(140, 40), (140, 250)]]


def test_drawing_a_digit_with_the_mouse_shows_a_prediction(server, browser):
    page = _page(browser)
    page.goto(server.url + "/own_image")
    wait_idle(page, "Draw with the mouse", 120_000)
    assert page.get_by_text("Draw, upload or photograph", exact=False).count() == 1
    first = draw(page, SEVEN)
    text = page.inner_text('[data-testid="stMain"]')
    assert "Prediction: 7" in text, text[:2000]
    assert page.get_by_test_id("stImageCaption").get_by_text("as the model sees it", exact=True).count() == 1
    assert page.get_by_text("Most helpful training images (8)").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "own_image_1280x720.png"))
    later = [draw(page, [[(40 + 10 * k, 200), (60 + 10 * k, 260)]]) for k in range(3)]
    TIMINGS["own_image_first_answer"], TIMINGS["own_image_stroke_to_answer"] = round(first, 3), [round(t, 3)
                                                                                              for t in later]
    # the drawing survives the reruns (a remounted canvas would be blank): the canvas still has ink
    ink = page.locator("canvas.dc-canvas.lower-canvas").first.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let k = 3; k < d.length; k += 4) n += d[k] > 0; return n; }")
    assert ink > 2000, ink
    _no_exception(page)
    page.context.close()


def test_clicking_a_map_point_opens_it_in_the_reverse_view_and_a_lasso_lists_a_region(server, browser):
    page = _page(browser, 1280, 1000)
    page.goto(server.url + "/map")
    wait_idle(page, "Training-set map (800 images)", 120_000)
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    box = plot.bounding_box()
    j, x, y = plot.evaluate(ISOLATED_POINT)
    start = time.perf_counter()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.get_by_role("heading", name="Training point", level=1).wait_for(timeout=60_000)
    wait_idle(page)
    TIMINGS["map_click_to_reverse_view"] = round(time.perf_counter() - start, 3)
    shown = page.get_by_test_id("stMain").get_by_label("Training image #", exact=True).input_value()
    assert shown == str(j)
    assert page.get_by_text("Test images it helps most", exact=False).count() == 1
    page.screenshot(path=str(SCREENSHOTS / "training_point_1280x1000.png"))
    # back on the map: no stale click sends us away again
    page.get_by_test_id("stSidebarNav").get_by_text("Training-set map", exact=True).click()
    wait_idle(page, "Training-set map (800 images)", 60_000)
    time.sleep(1.0)
    assert page.get_by_role("heading", name="Training-set map", level=1).count() == 1
    _no_exception(page)
    page.context.close()
    # a lasso in a fresh session (after a click and a return, the same session's lasso sent no selection: see README)
    page = _page(browser, 1280, 1000)
    page.goto(server.url + "/map")
    wait_idle(page, "Training-set map (800 images)", 120_000)
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    box = plot.bounding_box()
    cx, cy = plot.evaluate(CENTRE)
    plot.hover()  # Streamlit shows the chart's toolbar on hover
    page.get_by_role("button", name="Lasso Select", exact=True).first.click()
    page.mouse.move(box["x"] + cx - 40, box["y"] + cy - 40)
    page.mouse.down()
    for dx, dy in ((40, -40), (40, 40), (-40, 40), (-40, -40)):
        page.mouse.move(box["x"] + cx + dx, box["y"] + cy + dy, steps=6)
    page.mouse.up()
    page.get_by_text("Selected region:", exact=False).wait_for(timeout=60_000)
    wait_idle(page)
    heading = page.get_by_text("Selected region:", exact=False).inner_text()
    assert page.get_by_role("heading", name="Training point", level=1).count() == 0
    count = int(heading.split(":")[1].split()[0].replace(",", ""))
    assert count >= 1
    table = page.get_by_test_id("stDataFrame")
    assert table.count() == 1
    page.screenshot(path=str(SCREENSHOTS / "map_lasso_1280x1000.png"), full_page=True)
    _no_exception(page)
    page.context.close()


def test_next_and_back_through_the_lesson_and_a_link_opens_a_step(server, browser):
    page = _page(browser)
    page.goto(server.url + "/lesson")
    wait_idle(page, "1. Influence 101", 120_000)
    seen = []
    for k in range(2, 11):
        page.get_by_role("button", name="Next").first.click()
        page.get_by_text(f"{k}. ", exact=False).first.wait_for(timeout=120_000)
        wait_idle(page)
        seen.append(page.get_by_role("heading", level=3).filter(has_text=f"{k}. ").first.inner_text())
        assert f"step={k}" in page.url
        _no_exception(page)
    assert seen[0].startswith("2. A misclassified 7") and seen[-1].startswith("10. Your turn")
    page.get_by_role("button", name="Back").first.click()
    page.get_by_text("9. Why the IHVP", exact=False).wait_for(timeout=60_000)
    wait_idle(page)
    other = _page(browser)
    other.goto(server.url + "/lesson?step=4")
    wait_idle(other, "4. What hurt it", 120_000)
    assert other.get_by_role("button", name="Open #", exact=False).count() >= 1
    _no_exception(page), _no_exception(other)
    page.context.close(), other.context.close()


# controls whose text is cut (a segmented control wider than its column, a button label ending in "…")
CLIPPED = """m => Array.from(m.querySelectorAll('button')).filter(b => {
    const r = b.getBoundingClientRect(), col = b.closest('[data-testid="stColumn"]') || m;
    const c = col.getBoundingClientRect(), p = b.querySelector('p');
    return r.width > 0 && (r.right > c.right + 1 || r.left < c.left - 1 || (p && p.scrollWidth > p.clientWidth + 1));
  }).map(b => b.textContent).slice(0, 5)"""
NEW_PAGES = [("own_image", "/own_image", "Draw with the mouse"), ("training_point", "/training_point",
             "Test images it helps most"), ("map", "/map", "Training-set map (800 images)"),
             ("lesson", "/lesson?step=3", "3. What helped it"), ("lesson_step9", "/lesson?step=9", "9. Why the IHVP")]


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080)])
def test_screenshots_of_the_new_pages_show_no_horizontal_clipping(server, browser, width, height):
    page = _page(browser, width, height)
    for name, path, text in NEW_PAGES:
        page.goto(server.url + path)
        wait_idle(page, text, 120_000)
        if name == "own_image":
            draw(page, SEVEN)
        page.screenshot(path=str(SCREENSHOTS / f"{name}_{width}x{height}.png"))
        main = page.get_by_test_id("stMain")
        overflow = main.evaluate("m => m.scrollWidth - m.clientWidth")
        assert overflow <= 0, (name, overflow)
        clipped = main.evaluate(CLIPPED)
        assert not clipped, (name, width, clipped)
        _no_exception(page)
    page.context.close()
