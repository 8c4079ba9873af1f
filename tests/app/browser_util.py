"""Start the app as its own process on loopback and drive it with Debian's chromium (Playwright).
Shared by tests/app/test_browser.py and benchmarks/bench_app.py."""
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
    """`streamlit run app.py` on 127.0.0.1:<free port>; its stderr (fit log lines) goes to a file."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.started = time.perf_counter()
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
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
# first shows skeletons of the page's last layout, with the script already "notRunning"), every image loaded and
# every plotly chart drawn.
DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]') &&
  Array.from(document.images).every(i => i.complete) &&
  Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).every(c => c.querySelector('.main-svg'))"""


def wait_idle(page, text: str | None = None, timeout: float = 60_000) -> None:
    """Wait for expected text (if given), then for the script to finish running and the page to be drawn."""
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    settle(page, timeout)


def settle(page, timeout: float = 60_000) -> None:
    """The script idle, every <img> loaded and every plotly chart drawn (what a user waits for)."""
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_function(DRAWN, timeout=timeout, polling="raf")
