"""Moving between pages with a selection: open a training image in the reverse view, a test image in the gallery.

The contract every page keeps: the selected training image is `st.session_state[TRAIN_KEY]` (an index into the
experiment's training set), the selected test image `st.session_state[TEST_KEY]`; a page that shows one of them
reads it from there (the URL state, ifexplorer/ui/url_state.py, mirrors both as `?train=` / `?test=`).
"""
from __future__ import annotations

import streamlit as st

TRAIN_KEY = "train_index"  # the training image the reverse view shows
TEST_KEY = "test"            # the test image the gallery / dynamics / IHVP pages explain
TRAINING_POINT_PAGE = "pages/training_point.py"
GALLERY_PAGE = "pages/gallery.py"


def open_training_point(j: int) -> None:
    """Select training image j and go to the reverse view (does not return: st.switch_page reruns)."""
    st.session_state[TRAIN_KEY] = int(j)
    st.switch_page(TRAINING_POINT_PAGE)


def open_test_point(i: int) -> None:
    """Select test image i and go to the influence gallery (does not return)."""
    st.session_state[TEST_KEY] = int(i)
    st.switch_page(GALLERY_PAGE)
