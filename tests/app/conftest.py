"""Shared fixtures of the app tests.

AppTest: `app_threads` (the app's torch thread cap for a module, restored after it) and `reference` (the default
experiment — MNIST 7 vs 9, 800 / 200, λ = 1e-3, seed 0 — fitted directly with the engine, to compare pages with).
Browser: one `streamlit run app.py` on loopback per test module and one Debian chromium (Playwright, never a
downloaded browser). A module's TIMINGS dict, if it has one, is written to artifacts/screenshots/<its TIMINGS_FILE>
and printed when its server stops (timings are reported, never asserted)."""
import json

import pytest

from ifexplorer.ui.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Server


@pytest.fixture(scope="module")
def app_threads():
    import torch

    from ifexplorer.ui import experiment

    before = torch.get_num_threads()
    experiment.configure_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference():
    from ifexplorer import NTKInfluence
    from ifexplorer.data import load_dataset

    ds = load_dataset("mnist", classes=(7, 9), n_train=800, n_test=200, seed=0)
    return ds, NTKInfluence(reg=1e-3).fit(ds.X_train, ds.y_train)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server") / "streamlit.log")
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()
        timings = getattr(request.module, "TIMINGS", None)
        if timings is not None:
            name = getattr(request.module, "TIMINGS_FILE", "browser_timings.json")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            (SCREENSHOTS.parent / name).write_text(json.dumps(timings, indent=2))
            print(f"\n{name[:-len('.json')].replace('_', ' ')} (s):", json.dumps(timings, indent=2))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
