"""ui.experiment: the store every session shares — per-result computation across threads, the memory budget as
the app shows it, settings that refit only once they settle, uploads keyed by their bytes, escaped names."""
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException
from streamlit.testing.v1 import AppTest

from ifexplorer.cache import BUDGET_ENV, nbytes
from ifexplorer.ui import dataset_menu, experiment
from ifexplorer.ui.experiment import Experiment, ExperimentConfig, forget, get_experiment, with_progress
from ifexplorer.ui.text import md_escape
from ifexplorer.ui.widgets import fmt_rate

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SMALL = ExperimentConfig("mnist", (7, 9), 60, 20)


class _Bar:
    """Stands in for st.status and its st.progress: the n-th progress call (the bar's creation is the first), or
    the first whose text starts with `raise_on` when that is a string, raises what Streamlit raises on a stop or
    rerun request."""

    def __init__(self, raise_on, exc=StopException):
        self.updates, self.raise_on, self.exc, self.states = 0, raise_on, exc, []

    def progress(self, value, text=None):
        self.updates += 1
        hit = str(text).startswith(self.raise_on) if isinstance(self.raise_on, str) else self.updates == self.raise_on
        if hit:
            self.raise_on = None
            raise self.exc() if self.exc is StopException else self.exc(None)
        return self

    def update(self, **kwargs):
        self.states.append(kwargs.get("state"))


@pytest.fixture
def bar(monkeypatch):
    bar = _Bar(raise_on=4)  # the bar's creation, then the third update
    monkeypatch.setattr(st, "status", lambda *a, **k: bar)
    return bar


def _study(calls):
    def compute(progress, should_stop=None):
        calls.append(1)
        done = []
        for step in range(10):
            if should_stop is not None and should_stop():
                break
            progress(step / 10, f"step {step}")
            done.append(step)  # the step in flight when the stop arrived still finishes
        return done
    return compute


def _experiment(config=SMALL, class_names=("7", "9")):
    data = SimpleNamespace(X_train=np.zeros((4, 2)), y_train=np.array([1.0, -1, 1, -1]), class_names=class_names,
                           noisy_train=np.array([False, True, False, False]), true_labels_train=np.array([1, 1, 1, 0]))
    return Experiment(config, data, None, 0.0)


# ------------------------------------------------------------------------------------------ with_progress
def test_stopped_study_is_memoised_with_its_finished_steps_and_the_stop_goes_on(bar):
    exp, calls = _experiment(), []
    with pytest.raises(StopException):
        with_progress(exp, "study", "a study", _study(calls), stoppable=True)
    assert exp.peek("study") == [0, 1, 2]
    assert with_progress(exp, "study", "a study", _study(calls), stoppable=True) == [0, 1, 2]
    assert len(calls) == 1  # the rerun reuses the partial result
    forget(exp, "study")
    assert exp.peek("study") is None
    assert with_progress(exp, "study", "a study", _study(calls), stoppable=True) == list(range(10))
    assert len(calls) == 2 and bar.states[-1] == "complete"


def test_a_study_that_cannot_stop_early_is_not_memoised_when_stopped(bar):
    exp, calls = _experiment(), []
    with pytest.raises(StopException):
        with_progress(exp, "study", "a study", _study(calls))
    assert exp.peek("study") is None and bar.updates == 4


@pytest.mark.parametrize("x, text", [(0.5, "0.500"), (0.99953, "0.9995"), (0.9999999, "0.9999999"),
                                     (1 - 1e-11, "1 − 1.0e-11"), (1.0, "1.000"), (0.0, "0.000")])
def test_rates_short_of_one_never_read_as_one(x, text):
    assert fmt_rate(x) == text


# ------------------------------------------------------------------------------------------ refitting
@pytest.mark.parametrize("raise_on, loads", [(3, 0), ("Computing the", 1)])  # while settling; inside the fit
def test_a_rerun_request_before_or_during_a_fit_abandons_it_and_stores_nothing(monkeypatch, raise_on, loads):
    """Streamlit raises RerunException from the next element update once the user changed a setting: while the
    fit settles nothing is loaded; inside the fit the progress callback lets it through; either way nothing is
    stored, and the next request fits."""
    bar = _Bar(raise_on, RerunException)
    monkeypatch.setattr(st, "status", lambda *a, **k: bar)
    calls = []
    real_load = dataset_menu.load
    monkeypatch.setattr(dataset_menu, "load", lambda *a: calls.append(1) or real_load(*a))
    before = experiment.fit_count()
    with pytest.raises(RerunException):
        get_experiment(SMALL)
    assert len(calls) == loads and experiment.fit_count() == before
    store = experiment._store()
    assert store.peek(("experiment", SMALL)) is None and not store.computing(("experiment", SMALL))
    assert get_experiment(SMALL).config == SMALL and experiment.fit_count() == before + 1


def test_a_dataset_change_fits_once_with_that_datasets_sizes():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    before = experiment.fit_count()
    at.selectbox(key="dataset").set_value(dataset_menu.CHOICES[2].label).run()  # 8×8 digits, 1000 / 300
    assert not at.exception
    assert experiment.fit_count() == before + 1
    assert [m.value for m in at.metric if m.label == "Training points"] == ["1,000"]
    kept = [k[1] for k in experiment._store().stored_keys() if k[0] == "experiment"]
    assert [(c.dataset, c.n_train, c.n_test) for c in kept] == [("mnist", 800, 200), ("digits", 1000, 300)]


# ------------------------------------------------------------------------------------------ threads
def _in_threads(n, target):
    results, errors = [None] * n, []

    def run(k):
        try:
            results[k] = target(k)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results, errors


def test_two_results_of_one_model_compute_at_the_same_time():
    """The gallery's arrays never wait behind another session's dynamics study of the same model."""
    exp = _experiment()
    both = threading.Barrier(2, timeout=10)  # passes only while both computations run at once

    def compute():
        both.wait()
        return np.ones(3)

    _, errors = _in_threads(2, lambda k: exp.memo(("study", k), compute))
    assert not errors, errors


def test_one_model_asked_for_by_eight_sessions_at_once_is_fitted_once():
    before = experiment.fit_count()
    start = threading.Barrier(8, timeout=30)

    def ask(k):
        start.wait()
        return get_experiment(SMALL)

    results, errors = _in_threads(8, ask)
    assert not errors and experiment.fit_count() == before + 1
    assert all(r is results[0] for r in results)


def test_memoised_results_are_accounted_against_their_real_size():
    exp = get_experiment(SMALL)
    store = experiment._store()
    model_bytes = store.usage().used
    assert model_bytes == nbytes([exp.data, exp.model]) > 0
    matrix = exp.influence_matrix()
    assert store.usage().used == model_bytes + matrix.nbytes
    exp.model.eigendecomposition()  # the model caches it; the next request of the experiment measures it again
    get_experiment(SMALL)
    assert store.usage().used == model_bytes + matrix.nbytes + 8 * (60 + 60 * 60)


# ------------------------------------------------------------------------------------------ keys and names
def test_an_upload_is_keyed_by_its_bytes_not_its_name():
    a = ExperimentConfig("upload", None, 0, 0, source=experiment.sha256(b"same"), filename="a.zip")
    b = ExperimentConfig("upload", None, 0, 0, source=experiment.sha256(b"same"), filename="b.zip")
    assert a == b and hash(a) == hash(b)
    assert a != ExperimentConfig("upload", None, 0, 0, source=experiment.sha256(b"other"), filename="a.zip")


def test_the_same_upload_under_two_names_is_fitted_once():
    from test_pages import _choose_upload, _zip_of_images

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    data = _zip_of_images()
    _choose_upload(at).set_value(("first name.zip", data, "application/zip")).run()
    before = experiment.fit_count()
    at.file_uploader[0].set_value(("second [name](x).zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    assert experiment.fit_count() == before
    assert any("Using **second \\[name\\]\\(x\\)\\.zip**" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("names", [("*seven*", "[nine](http://x)"), ("<b>7</b>", "$9$")])
def test_training_captions_are_plain_text_escaped_once_where_shown(names):
    """train_caption keeps the names as given; ui.show_image escapes every caption once (escaping twice showed
    'T\\-shirt' on the page)."""
    exp = _experiment(class_names=names)
    first, second = names  # y_train +1 is class 1, −1 class 0
    assert exp.train_caption(0, 0.5) == f"#0 · {second} · +0.500"
    assert exp.train_caption(1) == f"⚠ #1 · {first} (is {second})"  # flipped from class 1


def test_folders_are_shown_relative_to_the_data_root_never_as_server_paths(monkeypatch, tmp_path):
    root = tmp_path / "data root"
    (root / "shapes" / "circles").mkdir(parents=True)
    (root / "shapes" / "circles" / "notes.txt").write_text("not an image")
    monkeypatch.setenv(dataset_menu.DATA_ROOT_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.selectbox(key="dataset").set_value(dataset_menu.OWN).run()
    at.radio(key="own_how").set_value("A folder on this machine").run()

    def shown() -> str:
        return " ".join(str(e.value) for kind in ("caption", "markdown", "error", "info", "warning")
                        for e in at.get(kind))

    for typed, expected in [("shapes", "Using the folder **shapes**"),
                            ("../elsewhere", "is outside the data root"), ("missing", "No folder **missing**"),
                            (str(root / "shapes"), "Using the folder **shapes**")]:
        at.text_input(key="folder").set_value(typed).run()
        assert not at.exception
        assert expected in shown(), (typed, shown())
        assert str(tmp_path) not in shown() and os.sep + "tmp" not in shown()
    assert at.error  # the folder holds no image: the loader's message names the folder by its relative path


# ------------------------------------------------------------------------------------------ the budget
def test_a_setting_that_exceeds_the_budget_drops_the_earlier_one_and_the_sidebar_says_so(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "20MB")  # one default setting (about 12 MB with its data) at a time
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    first = ExperimentConfig()
    assert any("of the **20.00 MB** budget, 1 setting kept." in c.value for c in at.sidebar.caption)
    at.select_slider(key="reg").set_value(0.1).run()
    assert not at.exception
    store = experiment._store()
    assert [k[1].reg for k in store.stored_keys() if k[0] == "experiment"] == [0.1]
    assert store.usage().used <= 20e6 and [e.key for e in store.evictions()][-1] == ("experiment", first)
    note = next(c.value for c in at.sidebar.caption if c.value.startswith("Memory for results"))
    assert f"1 earlier setting was dropped ({md_escape(experiment.describe(first))})" in note, note
    at.select_slider(key="reg").set_value(1e-3).run()  # back again: refitted
    assert not at.exception
    assert any("2 earlier settings were dropped" in c.value for c in at.sidebar.caption)


# ------------------------------------------------------------------------------------------ in a browser
browser = pytest.mark.skipif(not __import__("ifexplorer.ui.browser", fromlist=["x"]).browser_available()
                             and os.environ.get("IFEXPLORER_REQUIRE_BROWSER") != "1",
                             reason="needs /usr/bin/chromium and playwright")


@pytest.mark.browser
@pytest.mark.slow
@browser
def test_arrow_key_steps_of_lambda_fit_only_the_last_and_a_dataset_change_fits_once(tmp_path):
    from playwright.sync_api import sync_playwright

    from ifexplorer.ui.browser import CHROMIUM, CHROMIUM_ARGS, Server, wait_idle

    srv = Server(tmp_path / "streamlit.log")
    try:
        srv.wait_healthy()
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = chromium.new_context(viewport={"width": 1400, "height": 1600}).new_page()
            page.goto(srv.url)
            wait_idle(page, "Train accuracy", 180_000)
            assert srv.fits() == 1
            slider = page.get_by_role("slider", name="λ (regularization)")
            slider.focus()
            for _ in range(4):  # 1e-3 → 3e-3 → 1e-2 → 3e-2 → 0.1
                slider.press("ArrowRight")
                time.sleep(0.15)
            page.get_by_text("λ = 0.1 ·", exact=False).first.wait_for(timeout=120_000)
            wait_idle(page)
            fits = [line for line in srv.log().splitlines() if "ifexplorer-ui: fit #" in line]
            assert len(fits) == 2 and "reg=0.1," in fits[-1], fits
            page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
            page.get_by_role("option", name=dataset_menu.CHOICES[2].label).click()
            wait_idle(page, "for 1,000 points × 64 features", 120_000)
            page.wait_for_function("() => document.querySelector('[data-testid=\"stMetricValue\"]')"
                                   "?.innerText.trim() === '1,000'", timeout=120_000)
            wait_idle(page)
            fits = [line for line in srv.log().splitlines() if "ifexplorer-ui: fit #" in line]
            assert len(fits) == 3 and "dataset='digits'" in fits[-1] and "n_train=1000" in fits[-1], fits
            chromium.close()
    finally:
        srv.stop()


def test_a_session_idle_longer_than_the_limit_no_longer_pins_its_results(monkeypatch):
    """A tab left open does not hold its results for ever: after $IFEXPLORER_PIN_IDLE_SECONDS without a request to
    the store its pins lapse and the budget can drop them; any request counts as activity again."""
    from ifexplorer.cache import ResultStore

    monkeypatch.setenv(experiment.IDLE_ENV, "60")
    assert experiment.idle_seconds() == 60.0
    clock = [1000.0]
    monkeypatch.setattr(experiment.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(experiment, "_LAST_SEEN", {})
    experiment._seen("idle-tab")
    store = ResultStore(10_000, is_alive=experiment._session_alive)
    store.get("big", lambda: np.zeros(1000), owner="idle-tab", label="big")  # 8,000 bytes, pinned by the tab
    clock[0] += 59
    store.get("other", lambda: np.zeros(500), label="other")  # does not fit beside it; the pin holds
    assert store.peek("big") is not None and experiment._session_alive("idle-tab")
    clock[0] += 2  # 61 s idle
    assert not experiment._session_alive("idle-tab")
    store.get("third", lambda: np.zeros(500), label="third")
    assert store.peek("big") is None  # its pin lapsed: dropped to make room
    experiment._seen("idle-tab")
    assert experiment._session_alive("idle-tab")
    monkeypatch.setenv(experiment.IDLE_ENV, "soon")
    assert experiment.idle_seconds() == experiment.DEFAULT_IDLE_SECONDS
