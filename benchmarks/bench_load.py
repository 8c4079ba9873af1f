"""A classroom against one server: N browser sessions at once, then a 28-setting sweep under a memory budget.

    python benchmarks/bench_load.py [--sessions 4 8 12] [--sweep 28] [--sweep-budget 150MB] [--json out.json]

For each N a fresh `streamlit run app.py` on 127.0.0.1 is warmed (one session opens the gallery, the training
dynamics and the IHVP page on the default dataset), then N sessions (one Debian chromium, one context each) start
at the same moment and each runs the classroom script: open the gallery, pick three test images, open Training
dynamics and step its time slider five times, open the IHVP page. Session 0 first switches the dataset to the
8×8 digits (a fit while the others work). Reported per N:
  usable        page requested → the gallery drawn (script idle, images loaded, charts drawn): median, worst
  interactions  click / key press → the new content drawn: median and p95 of each kind
  server        CPU seconds the server process used during the N sessions against the CPU seconds the whole
                machine was busy (the browsers run on the same cores) and the wall time; peak RSS (VmHWM of the
                server process), the store's accounted use and budget (sidebar caption)
  problems      sessions that saw another session's content (the chosen image, the time on the slider, the
                number of test images and training points of *their* dataset), an exception, or a stall (timeout)
Targets on the 2-core box at the default dataset: at N = 8 every session usable within 20 s and p95 of a slider
step ≤ 2 s; no wrong content; memory within the budget.

The sweep: one session on a server with $IFEXPLORER_MEMORY_BUDGET = --sweep-budget changes λ / label noise / seed /
training size through --sweep different settings (one fit each, waited for in the server log), then checks that
the app still answers and that the store's accounted use is within the budget ("fits" counts the sweep's, the
first page's and the last check's: a fresh session on the default setting, dropped long before, refits it).

Timings are noisy on a shared machine: the load average is printed with every table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ifexplorer.ui.browser import CHROMIUM, CHROMIUM_ARGS, DRAWN, IDLE, Server, thumbnail

BUDGET_ENV = "IFEXPLORER_MEMORY_BUDGET"
DIGITS = "8×8 digits (scikit-learn)"
SIZES = {"mnist": (800, 200), "digits": (1000, 300)}  # (training, test) points of the two datasets used
USABLE, STEP = 120_000, 60_000  # ms: what counts as a stall
CAPTION = "c => (document.querySelector('.st-key-result [data-testid=\"stImageCaption\"]') || {}).textContent === c"
HEADING = ("() => (Array.from(document.querySelectorAll('[data-testid=\"stMarkdownContainer\"] strong'))"
           ".find(e => e.textContent.startsWith('Most helpful at t =')) || {}).textContent")
MEMORY = re.compile(r"Memory for results \(all sessions\): ([\d.]+ (?:[kMG]B|B)) of the ([\d.]+ (?:[kMG]B|B)) budget")
DROPPED = re.compile(r"(\d+) earlier settings? (?:was|were) dropped")


@dataclass
class Session:
    """What one browser session measured and saw."""
    k: int
    dataset: str = "mnist"
    usable: float | None = None
    times: dict = field(default_factory=lambda: {"pick test image": [], "slider step": [], "page switch": [],
                                                 "dataset change": []})
    wrong: list = field(default_factory=list)
    exceptions: list = field(default_factory=list)
    stalls: list = field(default_factory=list)


# ------------------------------------------------------------------------------------------ page helpers
async def fresh_page(browser):
    """(context, page): a new visitor (empty cache, own cookies) in the classroom's 1400 × 1600 window."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    return context, await context.new_page()


async def settle(page, timeout: float = STEP) -> None:
    """Script idle, every image loaded, every chart drawn (polled every 100 ms: rAF may be throttled)."""
    await page.wait_for_selector(IDLE, timeout=timeout)
    await page.wait_for_function(DRAWN, timeout=timeout, polling=100)


async def shown(page, text: str, timeout: float = STEP) -> None:
    await page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    await settle(page, timeout)


async def nav(page, title: str, text: str) -> float:
    start = time.perf_counter()
    await page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    await shown(page, text)
    return time.perf_counter() - start


async def check_exceptions(page, s: Session, where: str) -> None:
    if await page.locator('[data-testid="stException"]').count():
        s.exceptions.append(f"{where}: exception shown")
    for text in await page.get_by_test_id("stAlert").all_inner_texts():
        if "could not be computed" in text or "failed unexpectedly" in text:
            s.exceptions.append(f"{where}: {text[:120]}")


async def expect_test_count(page, s: Session, where: str) -> None:
    """The gallery's browser says how many test images the session's own dataset has."""
    m = SIZES[s.dataset][1]
    label = await page.get_by_text("Browse the ", exact=False).first.inner_text()
    if f"Browse the {m:,} test images" not in label:
        s.wrong.append(f"{where}: '{label.strip()}' but {s.dataset} has {m} test images")


# ------------------------------------------------------------------------------------------ the classroom
async def classroom(browser, url: str, s: Session, change_dataset: bool) -> Session:
    context, page = await fresh_page(browser)
    step = "open the gallery"
    try:
        start = time.perf_counter()
        await page.goto(url + "/gallery", wait_until="commit")
        await shown(page, "Most helpful", USABLE)
        s.usable = time.perf_counter() - start
        await check_exceptions(page, s, step)
        if change_dataset:
            step = "change the dataset"
            start = time.perf_counter()
            await page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
            await page.get_by_role("option", name=DIGITS).click()
            s.dataset = "digits"
            await shown(page, f"Browse the {SIZES['digits'][1]:,} test images", USABLE)
            s.times["dataset change"].append(time.perf_counter() - start)
        await expect_test_count(page, s, step)
        for j in [(7 * s.k + 3) % 20 or 1, (7 * s.k + 11) % 20 or 2, (7 * s.k + 16) % 20 or 4]:
            step = f"pick test image #{j}"
            cell = thumbnail(page, "browse_grid_", j)  # the browser's grid, sorted by index
            await cell.wait_for(timeout=STEP)
            await cell.scroll_into_view_if_needed()
            start = time.perf_counter()
            await cell.click()
            await page.wait_for_function(CAPTION, arg=f"test #{j}", polling=100, timeout=STEP)
            await settle(page)
            s.times["pick test image"].append(time.perf_counter() - start)
            caption = await page.locator(".st-key-result").get_by_test_id("stImageCaption").first.inner_text()
            if caption != f"test #{j}":
                s.wrong.append(f"{step}: shows '{caption}'")
            await expect_test_count(page, s, step)
        step = "open Training dynamics"
        s.times["page switch"].append(await nav(page, "Training dynamics", "Most helpful at"))
        await check_exceptions(page, s, step)
        slider = page.get_by_role("slider", name="Training time t (log scale)")
        for move in range(5):
            step = f"time slider step {move + 1}"
            old = await page.evaluate(HEADING)
            await slider.focus()
            start = time.perf_counter()
            await slider.press("ArrowRight")
            await page.wait_for_function(f"old => ({HEADING})() !== old", arg=old, polling=100, timeout=STEP)
            await settle(page)
            s.times["slider step"].append(time.perf_counter() - start)
            heading, value = await page.evaluate(HEADING), await slider.get_attribute("aria-valuetext")
            if value and f"t = {value}" not in str(heading):  # "Most helpful at t = 0.00152 (6)": (k)
                s.wrong.append(f"{step}: heading '{heading}' but the slider is at '{value}'")
        step = "open IHVP error"
        s.times["page switch"].append(await nav(page, "IHVP error", "Error rate against density"))
        await check_exceptions(page, s, step)
        points = page.get_by_test_id("stPlotlyChart").first.locator(".scatterlayer .trace").nth(1).locator("path.point")
        n = SIZES[s.dataset][0]
        if await points.count() != n:
            s.wrong.append(f"{step}: {await points.count()} training points plotted, {s.dataset} has {n}")
    except Exception as exc:  # noqa: BLE001 - a timeout is a stall; anything else is reported too
        kind = "stall" if "Timeout" in type(exc).__name__ else type(exc).__name__
        s.stalls.append(f"{step}: {kind}")
    finally:
        await context.close()
    return s


async def warm_up(browser, url: str) -> None:
    """The default model and the classroom's pages computed once (a warm server)."""
    context, page = await fresh_page(browser)
    await page.goto(url + "/gallery")
    await shown(page, "Most helpful", 300_000)
    await nav(page, "Training dynamics", "Most helpful at")
    await nav(page, "IHVP error", "Error rate against density")
    await context.close()


async def memory_of(browser, url: str) -> tuple[str, str]:
    """(accounted use, budget) as the sidebar states them, from a fresh session."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    await shown(page, "Train accuracy", USABLE)
    text = await page.get_by_test_id("stSidebar").inner_text()
    await context.close()
    match = MEMORY.search(text.replace("\n", " "))
    return (match[1], match[2]) if match else ("?", "?")


def rss_bytes(pid: int, field_name: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


async def sample_rss(pid: int, peak: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_bytes(pid))
        await asyncio.sleep(0.25)


async def run_classroom(n: int, log_dir: Path) -> dict:
    from playwright.async_api import async_playwright

    srv = Server(log_dir / f"classroom_{n}.log")
    try:
        srv.wait_healthy()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            await warm_up(browser, srv.url)
            fits_warm = srv.fits()
            load_start = os.getloadavg()[0]
            peak, stop = [0], asyncio.Event()
            sampler = asyncio.create_task(sample_rss(srv.proc.pid, peak, stop))
            cpu0, busy0 = cpu_seconds(srv.proc.pid), machine_busy_seconds()
            start = time.perf_counter()
            sessions = await asyncio.gather(*(classroom(browser, srv.url, Session(k), k == 0) for k in range(n)))
            wall = time.perf_counter() - start
            server_cpu, busy = cpu_seconds(srv.proc.pid) - cpu0, machine_busy_seconds() - busy0
            stop.set()
            await sampler
            use, budget = await memory_of(browser, srv.url)
            await browser.close()
        log = srv.log()
        return {"n": n, "sessions": sessions, "wall": wall, "rss_peak": peak[0], "server_cpu": server_cpu,
                "busy": busy,
                "hwm": rss_bytes(srv.proc.pid, "VmHWM"), "use": use, "budget": budget,
                "fits": srv.fits() - fits_warm, "tracebacks": log.count("Traceback"),
                "load": (load_start, os.getloadavg()[0])}
    finally:
        srv.stop()


# ------------------------------------------------------------------------------------------ the sweep
def sweep_steps(count: int) -> list[tuple[str, object]]:
    """`count` changes, each to a setting not seen before: λ one step up, noise one step up, seed + 1, 50 fewer
    training points, in turn (from the default: λ 1e-3, noise 0, seed 0, 800 points)."""
    steps, seed, n = [], 0, 800
    for i in range(count):
        kind = ("reg", "noise", "seed", "n_train")[i % 4]
        if kind == "seed":
            seed += 1
            steps.append((kind, seed))
        elif kind == "n_train":
            n -= 50
            steps.append((kind, n))
        else:
            steps.append((kind, None))
    if sum(k == "reg" for k, _ in steps) > 10 or sum(k == "noise" for k, _ in steps) > 10 or n < 10:
        raise ValueError(f"--sweep {count}: at most 40 settings (λ and noise have 10 steps up each)")
    return steps


async def run_sweep(count: int, budget: str, log_dir: Path) -> dict:
    from playwright.async_api import async_playwright

    os.environ[BUDGET_ENV] = budget
    try:
        srv = Server(log_dir / "sweep.log")
    finally:
        os.environ.pop(BUDGET_ENV)
    times, stalls = [], []
    try:
        srv.wait_healthy()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context, page = await fresh_page(browser)
            await page.goto(srv.url)
            await shown(page, "Train accuracy", USABLE)
            sidebar = page.get_by_test_id("stSidebar")
            peak, stop = [0], asyncio.Event()
            sampler = asyncio.create_task(sample_rss(srv.proc.pid, peak, stop))
            for kind, value in sweep_steps(count):
                fits = srv.fits()
                start = time.perf_counter()
                try:
                    if kind in ("reg", "noise"):
                        name = "λ (regularization)" if kind == "reg" else "Label noise (fraction flipped)"
                        slider = sidebar.get_by_role("slider", name=name)
                        await slider.focus()
                        await slider.press("ArrowRight")
                    else:
                        box = sidebar.get_by_label("Seed" if kind == "seed" else "Training points", exact=True)
                        await box.fill(str(value))
                        await box.press("Enter")
                    while srv.fits() == fits:
                        if time.perf_counter() - start > STEP / 1000:
                            raise TimeoutError(f"no fit after changing {kind}")
                        await asyncio.sleep(0.1)
                    await shown(page, "Train accuracy")
                    times.append(time.perf_counter() - start)
                except Exception as exc:  # noqa: BLE001 - reported as a stall
                    stalls.append(f"{kind}: {type(exc).__name__}")
            stop.set()
            await sampler
            note = DROPPED.search((await sidebar.inner_text()).replace("\n", " "))
            start = time.perf_counter()
            await page.reload()
            await shown(page, "Train accuracy", USABLE)
            answer = time.perf_counter() - start
            await context.close()
            use, shown_budget = await memory_of(browser, srv.url)
            await browser.close()
        return {"settings": count, "fits": srv.fits(), "times": times, "stalls": stalls, "answer": answer,
                "use": use, "budget": shown_budget, "rss_peak": peak[0], "hwm": rss_bytes(srv.proc.pid, "VmHWM"),
                "dropped": int(note[1]) if note else 0, "dropped_log": srv.log().count("ifexplorer-ui: dropped"),
                "tracebacks": srv.log().count("Traceback")}
    finally:
        srv.stop()


# ------------------------------------------------------------------------------------------ reporting
def p95(values: list) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.0f} MB"


def classroom_table(runs: list[dict]) -> str:
    kinds = ["pick test image", "slider step", "page switch", "dataset change"]
    head = ("| N | usable: median / worst (s) | " + " | ".join(f"{k}: median / p95 (s)" for k in kinds)
            + " | server CPU s / all CPU s (wall s) | server peak RSS | store use / budget | fits | wrong content"
            " | exceptions | stalls | load avg |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        sessions = r["sessions"]
        usable = [s.usable for s in sessions if s.usable is not None]
        cells = [f"{statistics.median(usable):.1f} / {max(usable):.1f}" if usable else "–"]
        for kind in kinds:
            values = [t for s in sessions for t in s.times[kind]]
            cells.append(f"{statistics.median(values):.2f} / {p95(values):.2f}" if values else "–")
        problems = [sum(bool(getattr(s, a)) for s in sessions) for a in ("wrong", "exceptions", "stalls")]
        cpu = f"{r['server_cpu']:.0f} / {r['busy']:.0f} ({r['wall']:.0f})" if "busy" in r else "–"
        rows.append(f"| {r['n']} | " + " | ".join(cells) + f" | {cpu} | {mb(max(r['rss_peak'], r['hwm']))} | "
                    f"{r['use']} / {r['budget']} | {r['fits']} | " + " | ".join(map(str, problems))
                    + f" | {r['load'][0]:.1f} → {r['load'][1]:.1f} |")
    details = [f"  session {s.k} ({r['n']} at once): " + "; ".join(s.wrong + s.exceptions + s.stalls)
               for r in runs for s in r["sessions"] if s.wrong or s.exceptions or s.stalls]
    return "\n".join(rows + (["", "problems:"] + details if details else []))


def targets(runs: list[dict]) -> str:
    out = []
    for r in runs:
        if r["n"] != 8:
            continue
        usable = [s.usable for s in r["sessions"]]
        steps = [t for s in r["sessions"] for t in s.times["slider step"]]
        ok_usable = all(u is not None and u <= 20 for u in usable)
        ok_step = bool(steps) and p95(steps) <= 2.0
        clean = not any(s.wrong or s.exceptions or s.stalls for s in r["sessions"])
        out.append(f"N = 8 targets: every session usable ≤ 20 s: {'yes' if ok_usable else 'NO'}; p95 slider step "
                   f"≤ 2 s: {'yes' if ok_step else 'NO'}; no wrong content / exception / stall: "
                   f"{'yes' if clean else 'NO'}")
    return "\n".join(out)


def sweep_table(r: dict) -> str:
    t = r["times"]
    return ("| settings | fits | dropped (sidebar / log) | change → refitted page: median / p95 / worst (s) | stalls "
            "| store use / budget | server peak RSS | answers after (s) | tracebacks |\n" + "|---" * 9 + "|\n"
            f"| {r['settings']} | {r['fits']} | {r['dropped']} / {r['dropped_log']} | "
            + (f"{statistics.median(t):.2f} / {p95(t):.2f} / {max(t):.2f}" if t else "–")
            + f" | {len(r['stalls'])} | {r['use']} / {r['budget']} | {mb(max(r['rss_peak'], r['hwm']))} "
              f"| {r['answer']:.1f} | {r['tracebacks']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="*", default=[4, 8, 12], help="N: sessions at once")
    parser.add_argument("--sweep", type=int, default=28, help="settings in the sweep (0: no sweep)")
    parser.add_argument("--sweep-budget", default="150MB", help=f"{BUDGET_ENV} of the sweep's server")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()
    print(f"load average at the start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs", flush=True)
    raw: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for n in args.sessions:
            runs.append(asyncio.run(run_classroom(n, Path(tmp))))
            print(f"N = {n} done in {runs[-1]['wall']:.0f} s", flush=True)
        if runs:
            print("\n" + classroom_table(runs) + "\n\n" + targets(runs), flush=True)
            raw["classroom"] = [{**{k: v for k, v in r.items() if k != "sessions"},
                                 "sessions": [vars(s) for s in r["sessions"]]} for r in runs]
        if args.sweep:
            sweep = asyncio.run(run_sweep(args.sweep, args.sweep_budget, Path(tmp)))
            print(f"\nsweep ({BUDGET_ENV}={args.sweep_budget}):\n" + sweep_table(sweep))
            if sweep["stalls"]:
                print("stalls: " + "; ".join(sweep["stalls"]))
            raw["sweep"] = sweep
    print(f"\nload average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    main()
