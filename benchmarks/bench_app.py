"""Browser timings of the app against the issue's budgets (Debian chromium via Playwright, loopback server).

    python benchmarks/bench_app.py [--reps 5] [--cold 3] [--json out.json]
    python benchmarks/bench_app.py --full 12000 [--reps 5] [--cold 1]   # Fashion-MNIST at full size

Measures, as a user sees it (click → new content shown, script idle, every image loaded and chart drawn):
  cold start      server process spawned → the gallery usable in a fresh browser (fit included), ≤ 20 s
  first visit     sidebar click → the page drawn, the page's arrays computed once per model (no budget)
  warm switch     sidebar click → the page drawn, per page (after every page was visited once), ≤ 2 s
  new test image  a click on a test image in the gallery's grid → that image and its neighbours shown, ≤ 1 s
  browser page    a page of the test-image browser: its pagination's next page → the new thumbnails drawn, ≤ 1 s
  slider move     one arrow-key step of the training-time slider → its panel redrawn, ≤ 0.5 s
  own-image answer  mouse-up of a stroke on the 280 px canvas → the prediction and neighbours redrawn, ≤ 1 s
  reverse view    a new training index typed on the Training point page → its panel shown, ≤ 1 s
  map first draw  sidebar click → the training-set map drawn at n = 4,000 (all ten MNIST digits; PCA embedding and
                  the influence row computed in that visit), ≤ 5 s; map redraw: another colouring chosen, ≤ 2 s
and prints a table of medians (and max) with the load average, which matters on a shared 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from ifexplorer.ui.browser import CHROMIUM, CHROMIUM_ARGS, Server, settle, thumbnail, wait_idle

PAGES = [("Overview", "Train accuracy"), ("Influence gallery", "Most helpful"),
         ("Training dynamics", "Most helpful at"), ("IHVP error", "Error rate against density"),
         ("Network check", "Network check"), ("Influence 101", "From the line"), ("Your image", "Draw with the mouse"),
         ("Training point", "Test images it helps most"), ("Training-set map", "Training-set map ("),
         ("Guided lesson", "Step 1 of 10")]
BUDGET = {"cold start → usable gallery": 20.0, "warm page switch": 2.0, "new test image": 1.0, "slider move": 0.5,
          "browser page": 1.0, "own-image answer": 1.0, "reverse view": 1.0, "map first draw": 5.0, "map redraw": 2.0}
MAP_N = 4000  # training points for the map rows (MNIST, all ten digits; its pool holds 5,000)
# the "Answered in … ms." caption of the own-image page, polled in the page
ANSWERED = ("() => (Array.from(document.querySelectorAll('p')).find(p => p.textContent.startsWith('Answered in'))"
            " || {}).textContent")
# the chosen test image's caption is shown (the first image caption of the gallery's result)
CAPTION = "c => (document.querySelector('.st-key-result [data-testid=\"stImageCaption\"]') || {}).textContent === c"
GRID = '[class*="st-key-browse_grid_"]'  # the browser's grid of test thumbnails (a grid component)
# the indices on the browser grid's page: they change when another page is shown
GRID_SOURCES = f"""() => {{  // its cells live in the grid component's shadow root
  const host = document.querySelector('{GRID} [data-testid="stBidiComponentIsolated"]');
  return host && host.shadowRoot ? Array.from(host.shadowRoot.querySelectorAll('button.ifx-cell'))
    .map(b => b.dataset.index).join() : ''; }}"""
# the text of the dynamics panel's "Most helpful at t = …" heading (polled in the page, not from Python)
HEADING = ("() => (Array.from(document.querySelectorAll('[data-testid=\"stMarkdownContainer\"] strong'))"
           ".find(e => e.textContent.startsWith('Most helpful at t =')) || {}).textContent")


QUERY = {}  # the experiment's link parameters (ds, n, m) with --full; empty: the default dataset
WAIT_MS = 60_000  # how long a page may take to be drawn (raised with --full: the fit, the eigendecomposition)


def link(url: str, path: str = "", **extra) -> str:
    """url + path with the experiment's parameters (and extra ones) as a query string."""
    from urllib.parse import urlencode

    query = urlencode({**QUERY, **extra})
    return f"{url}{path}" + (f"?{query}" if query else "")


def full_size_query(n_train: int, n_test: int) -> dict:
    """Link parameters of the app's default Fashion-MNIST pair at n_train / n_test (the dataset must be installed)."""
    from ifexplorer.data import fashion
    from ifexplorer.ui import dataset_menu, url_state

    if fashion.missing() is not None:
        raise SystemExit(f"--full needs Fashion-MNIST: {fashion.INSTALL}")
    choice = next(c for c in dataset_menu.choices() if c.name == "fashion_mnist" and c.classes != "all")
    return {"ds": url_state.dataset_slug(choice), "n": n_train, "m": n_test}


def new_page(browser):
    return browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()


def cold_start(browser, log_dir: Path) -> float:
    """A fresh server (empty caches), a fresh browser session straight to the gallery."""
    srv = Server(log_dir / f"cold_{time.time_ns()}.log")
    try:
        start = srv.started
        srv.wait_healthy()
        page = new_page(browser)
        page.goto(link(srv.url, "/gallery"), wait_until="commit")
        wait_idle(page, "Most helpful", max(120_000, WAIT_MS))
        settle(page)
        seconds = time.perf_counter() - start
        page.context.close()
        return seconds
    finally:
        srv.stop()


def goto(page, title: str, text: str) -> float:
    start = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
    settle(page)
    return time.perf_counter() - start


def page_switches(page, reps: int) -> tuple[dict, dict]:
    """({page: [first visit]}, {page: [warm switches]}); first visits compute and memoise the page's arrays."""
    first = {title: [goto(page, title, text)] for title, text in PAGES}
    warm = {title: [] for title, _ in PAGES}
    for _ in range(reps):
        for title, text in PAGES:
            warm[title].append(goto(page, title, text))
    return first, warm


def new_test_images(page, url: str, reps: int) -> list:
    page.goto(link(url, "/gallery"))
    wait_idle(page, "Most helpful", WAIT_MS)
    settle(page)
    times = []
    for j in [5, 11, 2, 17, 8, 14, 3, 9, 16, 6][:reps]:
        cell = thumbnail(page, "browse_grid_", j)  # the browser's grid, sorted by index
        cell.scroll_into_view_if_needed()
        start = time.perf_counter()
        cell.click()
        page.wait_for_function(CAPTION, arg=f"test #{j}", polling="raf", timeout=30_000)
        settle(page)
        times.append(time.perf_counter() - start)
    return times


def browser_pages(page, url: str, reps: int) -> list:
    """The browser's next page (its pagination's → button), until the new thumbnails are drawn."""
    page.goto(link(url, "/gallery", sort="loss"))
    wait_idle(page, "Most helpful", WAIT_MS)
    settle(page)
    times = []
    for _ in range(reps):
        old = page.evaluate(GRID_SOURCES)
        nav = page.locator(".st-key-browse_page").get_by_role("button").last  # the "next page" arrow
        nav.scroll_into_view_if_needed()
        start = time.perf_counter()
        nav.click()
        page.wait_for_function(f"old => ({GRID_SOURCES})() !== old", arg=old, polling="raf", timeout=30_000)
        settle(page)
        times.append(time.perf_counter() - start)
    return times


def slider_moves(page, url: str, reps: int, first: list | None = None) -> list:
    """Arrow-key steps of the time slider; first (if given) receives the seconds of the page's first draw (with
    --full: the eigendecomposition and the slider times' prefetch, unless a disk cache holds the former)."""
    start = time.perf_counter()
    page.goto(link(url, "/dynamics"))
    wait_idle(page, "Most helpful at", WAIT_MS)
    settle(page)
    if first is not None:
        first.append(time.perf_counter() - start)
    slider = page.get_by_role("slider", name="Training time t (log scale)")
    times = []
    for k in range(reps):
        old = page.evaluate(HEADING)
        slider.focus()
        start = time.perf_counter()
        slider.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"old => ({HEADING})() !== old", arg=old, polling="raf", timeout=10_000)
        settle(page)
        times.append(time.perf_counter() - start)
    return times


def own_image_answers(page, url: str, reps: int) -> list:
    """Strokes drawn with the mouse on the own-image canvas; each timed from mouse-up to the new answer drawn."""
    page.goto(url + "/own_image")
    wait_idle(page, "Draw with the mouse", 60_000)
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    times = []
    for k in range(reps + 1):  # the first stroke (the first answer: imports, the map's embedding) is not counted
        old = page.evaluate(ANSWERED)
        x, y = box["x"] + 50 + 30 * (k % 6), box["y"] + 40
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y + 200, steps=12)
        start = time.perf_counter()
        page.mouse.up()
        page.wait_for_function(f"old => ({ANSWERED})() !== old", arg=old, polling="raf", timeout=60_000)
        settle(page)
        times.append(time.perf_counter() - start)
    return times[1:]


def reverse_views(page, url: str, reps: int) -> list:
    """A training index typed into the Training point page's number input → that image's panel shown."""
    page.goto(url + "/training_point")
    wait_idle(page, "Test images it helps most", 60_000)
    field = page.get_by_test_id("stMain").get_by_label("Training image #", exact=True)
    times = []
    for j in [17, 250, 3, 611, 42, 777, 128, 9, 400, 66][:reps]:
        field.fill(str(j))
        start = time.perf_counter()
        field.press("Enter")
        page.wait_for_function("j => { const c = document.querySelector('[data-testid=\"stImageCaption\"]');"
                               " return c && (c.textContent.startsWith('#' + j + ' ') ||"
                               " c.textContent.startsWith('⚠ #' + j + ' ')); }", arg=j, polling="raf", timeout=30_000)
        settle(page)
        times.append(time.perf_counter() - start)
    return times


def map_draws(page, url: str, reps: int) -> tuple[list, list]:
    """([first draw], [redraws]) of the training-set map at n = MAP_N: the sidebar set to all ten MNIST digits with
    MAP_N training points (the fit is not timed), then a sidebar click to the map, then other colourings."""
    page.goto(url)
    wait_idle(page, "Train accuracy", 120_000)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="MNIST, all 10 digits").click()
    wait_idle(page, "Train accuracy", 300_000)
    sizes = sidebar.get_by_test_id("stNumberInputField")
    sizes.nth(1).fill("1000")
    sizes.nth(1).press("Enter")
    wait_idle(page, "Train accuracy", 300_000)
    sizes.nth(0).fill(str(MAP_N))
    sizes.nth(0).press("Enter")
    page.wait_for_function(f"() => document.body.innerText.includes('{MAP_N:,}')", timeout=600_000)
    wait_idle(page, "Train accuracy", 600_000)
    first = [goto(page, "Training-set map", f"Training-set map ({MAP_N:,} images)")]
    redraws = []
    names = ["self-influence", "label", "flipped", "influence"]
    for k in range(reps):
        name = names[k % len(names)]
        title = {"self-influence": "self-influence", "label": "label", "flipped": "flipped labels",
                 "influence": "influence on test #"}[name]
        start = time.perf_counter()
        page.get_by_test_id("stMain").get_by_test_id("stButtonGroup").get_by_text(name, exact=True).click()
        page.get_by_text(f"Training-set map ({MAP_N:,} images): {title}", exact=False).first.wait_for(timeout=60_000)
        settle(page)
        redraws.append(time.perf_counter() - start)
    return first, redraws


def table(results: dict) -> str:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = ["| measurement | median (s) | max (s) | runs | budget (s) | within |", "|---|---|---|---|---|---|"]
    for name, times in results.items():
        budget = next((b for k, b in BUDGET.items() if name.startswith(k)), None)
        med = statistics.median(times)
        verdict = "–" if budget is None else ("yes" if med <= budget else "NO")
        rows.append(f"| {name} | {med:.2f} | {max(times):.2f} | {len(times)} | "
                    f"{'–' if budget is None else f'{budget:g}'} | {verdict} |")
    return "\n".join(rows) + f"\n\nload average (1, 5, 15 min) at the end: {load}; {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each warm measurement")
    parser.add_argument("--cold", type=int, default=3, help="cold starts (a fresh server each)")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument("--no-map", action="store_true", help="skip the map rows (they fit n = 4,000 first)")
    parser.add_argument("--full", type=int, metavar="N", help="the full-size rows instead: the default Fashion-MNIST "
                        "pair with N training and 2,000 test images (cold start, new test image, browser page, slider)")
    parser.add_argument("--only-classroom", action="store_true",
                        help="only the own-image, reverse-view and map rows (no cold starts, no page switches)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if args.full:
        global WAIT_MS
        QUERY.update(full_size_query(args.full, 2000))
        WAIT_MS = 1_800_000
        BUDGET["cold start → usable gallery"] = 60.0  # the budget at n = 12,000, fit included

    results: dict = {}
    print(f"load average at the start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if not args.only_classroom:
            results["cold start → usable gallery"] = [cold_start(browser, Path(tmp)) for _ in range(args.cold)]
        srv = Server(Path(tmp) / "warm.log")
        try:
            srv.wait_healthy()
            page = new_page(browser)
            page.goto(link(srv.url))
            wait_idle(page, "Train accuracy", max(120_000, WAIT_MS))
            if args.full:
                size = f"n = {args.full:,}"
                results[f"new test image (gallery, {size})"] = new_test_images(page, srv.url, args.reps)
                results[f"browser page (gallery, 2,000 test images, {size})"] = browser_pages(page, srv.url, args.reps)
                first: list = []
                results[f"slider move (dynamics, {size})"] = slider_moves(page, srv.url, args.reps, first)
                results[f"first visit (no budget): Training dynamics, {size} (eigendecomposition, prefetch)"] = first
            elif not args.only_classroom:
                first, warm = page_switches(page, args.reps)
                for title, times in first.items():
                    results[f"first visit (no budget): {title}"] = times
                for title, times in warm.items():
                    results[f"warm page switch: {title}"] = times
                results["new test image (gallery)"] = new_test_images(page, srv.url, args.reps)
                results["browser page (gallery, 200 test images)"] = browser_pages(page, srv.url, args.reps)
                results["slider move (dynamics)"] = slider_moves(page, srv.url, args.reps)
            if not args.full:
                results["own-image answer (stroke → answer)"] = own_image_answers(page, srv.url, args.reps)
                results["reverse view (new training index)"] = reverse_views(page, srv.url, args.reps)
            if not args.no_map and not args.full:
                first, redraws = map_draws(new_page(browser), srv.url, args.reps)
                results[f"map first draw (n = {MAP_N:,})"] = first
                results[f"map redraw (n = {MAP_N:,}, other colouring)"] = redraws
        finally:
            srv.stop()
        browser.close()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({k: [round(t, 3) for t in v] for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
