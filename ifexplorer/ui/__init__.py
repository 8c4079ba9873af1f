"""Streamlit helpers for the IF Explorer app (the only package code that imports streamlit)."""
from __future__ import annotations

import streamlit as st

from ifexplorer.ui.experiment import (
    Experiment,
    ExperimentConfig,
    configure_threads,
    fit_count,
    forget,
    get_experiment,
    with_progress,
)
from ifexplorer.ui.widgets import (
    explain,
    fmt,
    fmt_rate,
    friendly_errors,
    image_row,
    selected_training_index,
    show_image,
    upscale,
)

CONFIG_KEY, UPLOAD_KEY = "experiment_config", "experiment_upload"


def ensure_router() -> None:
    """Make every run go through app.py's `st.navigation` router.

    Because the product's layout has a `pages/` folder, Streamlit runs the first script of a server process
    (and every AppTest run) in its legacy v1 multipage mode, where a deep link such as /gallery executes
    pages/gallery.py alone, without the router and its sidebar. Calling this first thing in app.py and in
    every page switches that mode off and reruns the same page through the router."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def current_experiment() -> Experiment:
    """The experiment chosen in the sidebar, fitted (once) on demand. Stops the page with a
    friendly message when there is nothing to show or the package refused the input."""
    config = st.session_state.get(CONFIG_KEY)
    if config is None:
        st.info("Choose your images in the sidebar (upload an archive or name a folder) to start.",
                icon=":material/upload_file:")
        st.stop()
    configure_threads()
    ok = False
    with friendly_errors("The model"):
        exp = get_experiment(config, st.session_state.get(UPLOAD_KEY))
        ok = True
    if not ok:
        st.stop()
    return exp


def test_index_input(exp: Experiment, label: str = "Test image #", container=None) -> int:
    """The chosen test index, shared by every page and bound to the URL (?test=…)."""
    m = len(exp.data.X_test)
    if st.session_state.get("test", 0) >= m:
        st.session_state["test"] = 0
    # value="min" (= 0) rather than 0: the grid's buttons set this key through session state, and a widget with an
    # explicit default would log Streamlit's "default value and Session State" warning (with a stack) on each pick.
    return int((container or st).number_input(label, 0, m - 1, "min", step=1, key="test", bind="query-params",
                                              help="Shareable: the index is in the page URL."))


__all__ = ["CONFIG_KEY", "UPLOAD_KEY", "ensure_router", "Experiment", "ExperimentConfig", "configure_threads",
           "current_experiment", "explain", "fit_count", "fmt", "fmt_rate", "forget",
           "friendly_errors", "get_experiment", "image_row", "selected_training_index", "show_image", "test_index_input", "upscale", "with_progress"]
