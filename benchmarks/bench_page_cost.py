"""What one page costs the browser and the server: chromium CPU-seconds per fresh visit, one session at a time.

    python benchmarks/bench_page_cost.py [--pages / /gallery /dynamics /ihvp] [--reps 3] [--slider 5] [--floor]

A warm `streamlit run app.py` on 127.0.0.1 (one session opens every page first: the fit and each page's results are
cached), then for each page --reps fresh chromium contexts (an empty cache, as a new visitor) open it and wait until
it is drawn (script idle, images loaded, charts drawn). Reported per page, medians over the reps: wall seconds, CPU
seconds of all chromium processes (renderer, browser, GPU/compositor, network), the renderer's main-thread task and
script seconds (Chrome DevTools Performance.getMetrics), DOM nodes, and the server process's CPU seconds. --slider N:
then N steps of the Training dynamics time slider in one context, the same columns per step. --floor: the same for a
fresh visit of benchmarks/floor_app.py (a title, a paragraph, one sidebar widget), served on its own: what any
Streamlit page costs a new visitor, the floor under every row above.

Why: in bench_load.py the N browsers run on the server's own two cores, so what a page costs chromium bounds how
fast N fresh sessions can all be usable (N × chromium CPU-s / cores), whatever the server does.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from bench_load import HEADING, cpu_seconds, fresh_page  # noqa: E402  (shared with the classroom)
from bench_load import settle as drawn  # noqa: E402

from ifexplorer.ui.browser import CHROMIUM, CHROMIUM_ARGS, SHOT_PAGES, Server  # noqa: E402

TEXT = {path or "/": text for _, path, text in SHOT_PAGES}  # page -> the text that says it is there (screenshots')


def descendants(pid: int) -> list[int]:
    """pid and every process below it (from the parent ids in /proc/*/stat)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, q in parent.items() if q in frontier]
        out += frontier
    return out


def chromium_seconds() -> float:
    """CPU seconds of every chromium process under this one (Playwright's driver starts chromium)."""
    return sum(_cpu(p) for p in descendants(os.getpid())[1:] if _is_chromium(p))


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # the process ended in between
        return 0.0


def _is_chromium(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return "chrom" in fh.read()
    except OSError:
        return False


async def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}


async def measure(srv, action, cdp) -> dict:
    """Run `action` (a coroutine function) and return what it cost: wall, chromium, renderer task/script, server."""
    before, browser0, server0 = await metrics(cdp), chromium_seconds(), cpu_seconds(srv.proc.pid)
    start = time.perf_counter()
    await action()
    wall = time.perf_counter() - start
    await asyncio.sleep(0.3)  # the last frames and the compositor's work after the page is drawn
    after = await metrics(cdp)
    return {"wall": wall, "chromium": chromium_seconds() - browser0,
            "task": after["TaskDuration"] - before["TaskDuration"],
            "script": after["ScriptDuration"] - before["ScriptDuration"], "nodes": after["Nodes"],
            "server": cpu_seconds(srv.proc.pid) - server0}


FLOOR_APP, FLOOR_TEXT = "benchmarks/floor_app.py", "Streamlit floor"


async def visits(browser, srv, path: str, text: str, reps: int) -> list[dict]:
    """reps fresh contexts, each opening srv.url + path until `text` shows and the page is drawn."""
    out = []
    for _ in range(reps):
        context, page = await fresh_page(browser)
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable")

        async def visit(page=page):
            await page.goto(srv.url + path)
            await page.get_by_text(text).first.wait_for(timeout=120_000)
            await drawn(page)
        out.append(await measure(srv, visit, cdp))
        await context.close()
    return out


async def floor_visits(browser, reps: int) -> list[dict]:
    srv = Server(Path(tempfile.mkdtemp()) / "floor.log", script=FLOOR_APP)
    try:
        srv.wait_healthy()
        return await visits(browser, srv, "/", FLOOR_TEXT, reps)
    finally:
        srv.stop()


async def run(pages: list[str], reps: int, slider: int, floor: bool = False) -> tuple[dict, list]:
    from playwright.async_api import async_playwright

    srv = Server(Path(tempfile.mkdtemp()) / "streamlit.log")
    per_page, steps = {}, []
    try:
        srv.wait_healthy()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context, page = await fresh_page(browser)
            for path in pages:  # warm: the fit and every page's results cached
                await page.goto(srv.url + path)
                await page.get_by_text(TEXT[path]).first.wait_for(timeout=300_000)
                await drawn(page, 300_000)
            await context.close()
            for path in pages:
                per_page[path] = await visits(browser, srv, path, TEXT[path], reps)
            if slider:
                steps = await slider_steps(browser, srv, slider)
            if floor:
                per_page[f"{FLOOR_APP} (floor)"] = await floor_visits(browser, reps)
            await browser.close()
    finally:
        srv.stop()
    return per_page, steps


async def slider_steps(browser, srv, count: int) -> list:
    context, page = await fresh_page(browser)
    await page.goto(srv.url + "/dynamics")
    await page.get_by_text(TEXT["/dynamics"]).first.wait_for(timeout=120_000)
    await drawn(page)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    slider = page.get_by_role("slider", name="Training time t (log scale)")
    out = []
    for _ in range(count):
        old = await page.evaluate(HEADING)
        await slider.focus()

        async def step(old=old):
            await slider.press("ArrowRight")
            await page.wait_for_function(f"old => ({HEADING})() !== old", arg=old, polling=100, timeout=60_000)
            await drawn(page)
        out.append(await measure(srv, step, cdp))
    await context.close()
    return out


def row(name: str, runs: list[dict]) -> str:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return (f"| {name} | {len(runs)} | {med['wall']:.2f} | {med['chromium']:.2f} | {med['task']:.2f} | "
            f"{med['script']:.2f} | {med['nodes']:,.0f} | {med['server']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="+", default=["/", "/gallery", "/dynamics", "/ihvp"], choices=list(TEXT))
    parser.add_argument("--reps", type=int, default=3, help="fresh contexts per page (medians are reported)")
    parser.add_argument("--slider", type=int, default=5, help="time-slider steps measured on Training dynamics")
    parser.add_argument("--floor", action="store_true", help=f"also a fresh visit of {FLOOR_APP}, served alone")
    args = parser.parse_args()
    print(f"load average at the start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs")
    per_page, steps = asyncio.run(run(args.pages, args.reps, args.slider, args.floor))
    print("\n| fresh visit of | runs | wall s | chromium CPU s | renderer task s | renderer script s | DOM nodes "
          "| server CPU s |\n|---|---|---|---|---|---|---|---|")
    for path, runs in per_page.items():
        print(row(path, runs))
    if steps:
        print(row("time-slider step", steps))
    print(f"\nload average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
