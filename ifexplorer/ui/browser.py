"""Start the app as its own process on loopback and drive it with Debian's chromium (Playwright): the
browser tests (tests/app/) and the app benchmarks (benchmarks/bench_app.py, bench_load.py) share it.
`python -m ifexplorer.ui.browser DIR` takes screenshots of every page at 1280×720 and 1920×1080."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def browser_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(CHROMIUM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` (or another script of the repository) on 127.0.0.1:<free port>; its stderr (fit log
    lines) goes to a file."""

    def __init__(self, log_path: Path, script: str = "app.py"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.started = time.perf_counter()
        self._log = open(log_path, "w")  # noqa: SIM115 - open for the server's lifetime, closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 60.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"server not healthy after {timeout} s: {self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def fits(self) -> int:
        return self.log().count("ifexplorer-ui: fit #")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


# Drawn: no placeholder left (Streamlit shows an stSkeleton while an element's code chunk loads, and a new session
# first shows skeletons of the page's last layout, with the script already "notRunning"), every image loaded (the
# thumbnail grids' too, inside their components' shadow roots), every grid filled, every plotly chart drawn and every
# ECharts chart's canvas in place (ECharts paints it on the next animation frame; DRAWN is polled per frame).
DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]') &&
  Array.from(document.images).every(i => i.complete) &&
  Array.from(document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')).every(h => {
    const root = h.shadowRoot; if (!root) return false;
    const grid = root.querySelector('.ifx-grid');
    return !grid || (grid.children.length > 0 && Array.from(root.querySelectorAll('img')).every(i => i.complete)); }) &&
  Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).every(c => c.querySelector('.main-svg')) &&
  Array.from(document.querySelectorAll('[data-testid="stEChartsChart"]')).every(c => c.querySelector('canvas'))"""


def thumbnails(page, key_prefix: str):
    """The thumbnails, row by row, of the grid whose widget key starts with key_prefix (a Playwright locator;
    .nth(k).click() scrolls the k-th into view and clicks it, as a user does)."""
    return page.locator(f'[class*="st-key-{key_prefix}"] button.ifx-cell')


def thumbnail(page, key_prefix: str, index: int):
    """The thumbnail standing for dataset index `index` in that grid (what its click returns)."""
    return page.locator(f'[class*="st-key-{key_prefix}"] button.ifx-cell[data-index="{int(index)}"]').first


def wait_idle(page, text: str | None = None, timeout: float = 60_000) -> None:
    """Wait for expected text (if given), then for the script to finish running and the page to be drawn."""
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    settle(page, timeout)


def settle(page, timeout: float = 60_000) -> None:
    """The script idle, every <img> loaded, every thumbnail grid and plotly chart drawn (what a user waits for)."""
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_function(DRAWN, timeout=timeout, polling="raf")


SHOT_PAGES = [("overview", "", "Train accuracy"), ("gallery", "/gallery", "Most helpful"),
              ("dynamics", "/dynamics", "Most helpful at"), ("ihvp", "/ihvp", "Error rate against density"),
              ("network", "/network", "How the influence libraries compare"),
              ("influence101", "/influence101", "From the line"),
              ("own_image", "/own_image", "Draw with the mouse"), ("training_point", "/training_point",
                                                                   "Test images it helps most"),
              ("map", "/map", "Training-set map ("), ("lesson", "/lesson", "Step 1 of 10"),
              ("fragility", "/fragility", "Correlation with real retraining")]
VIEWPORTS = [(1280, 720), (1920, 1080)]
CONTENT_HEIGHT = """() => Math.max(...Array.from(document.querySelectorAll(
  '[data-testid="stMain"], [data-testid="stAppViewContainer"], [data-testid="stSidebarContent"]'))
  .map(e => e.scrollHeight))"""


def screenshots(out_dir: Path, timeout: float = 180_000) -> list[Path]:
    """Every page at every VIEWPORTS size against a fresh server, as `<page>_<w>x<h>.png` (the visible window)
    and `<page>_<w>x<h>_full.png` (the whole page) in out_dir."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    srv = Server(out_dir / "streamlit.log")
    saved = []
    try:
        srv.wait_healthy()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for width, height in VIEWPORTS:
                page = browser.new_context(viewport={"width": width, "height": height}).new_page()
                for name, path, text in SHOT_PAGES:
                    page.goto(srv.url + path)
                    wait_idle(page, text, timeout)
                    saved.append(out_dir / f"{name}_{width}x{height}.png")
                    page.screenshot(path=str(saved[-1]))
                    # the app scrolls inside its main container, so a "full page" is a viewport as tall as the content
                    page.set_viewport_size({"width": width, "height": min(page.evaluate(CONTENT_HEIGHT), 12_000)})
                    settle(page, timeout)
                    saved.append(out_dir / f"{name}_{width}x{height}_full.png")
                    page.screenshot(path=str(saved[-1]))
                    page.set_viewport_size({"width": width, "height": height})
                page.context.close()
            browser.close()
    finally:
        srv.stop()
    return saved


if __name__ == "__main__":  # python -m ifexplorer.ui.browser artifacts/screenshots/after
    for shot in screenshots(Path(sys.argv[1]).resolve()):
        print(shot)
