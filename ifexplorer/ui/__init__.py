"""Streamlit helpers for the IF Explorer app (the only package code that imports streamlit)."""
from __future__ import annotations

import streamlit as st

from ifexplorer.ui.components import flip_legend, influence_rows, lazy_section, page_header
from ifexplorer.ui.experiment import (
    Experiment,
    ExperimentConfig,
    fit_count,
    forget,
    get_experiment,
    with_progress,
)
from ifexplorer.ui.router import ensure_routed
from ifexplorer.ui.text import md_escape
from ifexplorer.ui.url_state import NO_DATA_KEY
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


def current_experiment() -> Experiment:
    """The experiment chosen in the sidebar, fitted (once) on demand. Stops the page with a
    friendly message when there is nothing to show or the package refused the input."""
    config = st.session_state.get(CONFIG_KEY)
    if config is None and st.session_state.get(NO_DATA_KEY):
        st.warning(st.session_state[NO_DATA_KEY], icon=":material/link_off:")
        st.stop()
    if config is None:
        st.info("Choose your images in the sidebar (upload an archive or name a folder) to start.",
                icon=":material/upload_file:")
        st.stop()
    ok = False
    with friendly_errors("The model"):
        exp = get_experiment(config, st.session_state.get(UPLOAD_KEY))
        ok = True
    if not ok:
        st.stop()
    return exp


def test_index_input(exp: Experiment, label: str = "Test image #", container=None) -> int:
    """The chosen test index, shared by every page (the page puts it in its link, ?test=…, url_state)."""
    m = len(exp.data.X_test)
    if st.session_state.get("test", 0) >= m:
        st.session_state["test"] = 0
    # value="min" (= 0) rather than 0: the grid's buttons set this key through session state, and a widget with an
    # explicit default would log Streamlit's "default value and Session State" warning (with a stack) on each pick.
    return int((container or st).number_input(label, 0, m - 1, "min", step=1, key="test",
                                              help="Shareable: the index is in the page URL."))


__all__ = ["CONFIG_KEY", "UPLOAD_KEY", "Experiment", "ExperimentConfig", "current_experiment", "ensure_routed",
           "explain", "fit_count", "flip_legend", "fmt", "fmt_rate", "forget", "friendly_errors", "get_experiment",
           "image_row", "influence_rows", "lazy_section", "md_escape", "page_header", "selected_training_index",
           "show_image", "test_index_input", "upscale", "with_progress"]
