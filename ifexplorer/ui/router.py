"""The app's pages and its router: app.py runs every page through `st.navigation`, with the shared sidebar.

Why the check in `ensure_routed`: the product keeps its page scripts in a `pages/` folder next to app.py,
and Streamlit (1.67) starts every server process in its legacy "pages directory" mode, in which a run
executes a deep-linked page (/gallery) *alone*, without app.py, its sidebar or its experiment. Streamlit's
documented way out is `st.navigation`: "If you call st.navigation in your app (in any session), Streamlit
will switch to using the newer, Page-and-navigation multipage structure … across all sessions" (docs:
Multipage apps › pages/ directory). Until some session of the process has called it, though, every session
that starts (several at once, after a restart in a classroom) runs its page standalone. There is no hook
before the first session with `streamlit run app.py`, so each page starts with `ensure_routed()`: a run that
did not come through app.py calls `st.navigation` (switching the process over, for good) and reruns, and
that rerun goes through app.py. It costs one rerun of a page's first lines, once, for the sessions that
arrive before the switch; it does not matter which session is first.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageSpec:
    """One page of the app: its script (relative to app.py), navigation title and material icon."""
    script: str
    title: str
    icon: str
    default: bool = False


PAGES = (
    PageSpec("pages/overview.py", "Overview", ":material/home:", default=True),
    PageSpec("pages/gallery.py", "Influence gallery", ":material/photo_library:"),
    PageSpec("pages/dynamics.py", "Training dynamics", ":material/timeline:"),
    PageSpec("pages/ihvp.py", "IHVP error", ":material/scatter_plot:"),
    PageSpec("pages/network.py", "Network check", ":material/neurology:"),
    PageSpec("pages/fragility.py", "Fragility", ":material/stacked_line_chart:"),
    PageSpec("pages/influence101.py", "Influence 101", ":material/school:"),
    PageSpec("pages/own_image.py", "Your image", ":material/draw:"),
    PageSpec("pages/training_point.py", "Training point", ":material/image_search:"),
    PageSpec("pages/map.py", "Training-set map", ":material/bubble_chart:"),
    PageSpec("pages/lesson.py", "Guided lesson", ":material/co_present:"),
)

_ROUTED = contextvars.ContextVar("ifexplorer_routed", default=False)  # True while app.py runs the page
_RETRIED = "_ifexplorer_router_retry"  # session state: a rerun into the router was asked for once


def navigation(icons: bool = True):
    """`st.navigation` over PAGES (new st.Page objects each run: a page object may run only once).
    icons=False: without the material icons, which the browser would fetch from the web as the tab's favicon
    when no st.set_page_config(page_icon=…) ran before (app.py sets a local one)."""
    return st.navigation([st.Page(p.script, title=p.title, icon=p.icon if icons else None, default=p.default)
                          for p in PAGES])


def run(page) -> None:
    """Run the page chosen by `navigation()` as a routed page (what `ensure_routed` checks)."""
    token = _ROUTED.set(True)
    try:
        page.run()
    finally:
        _ROUTED.reset(token)


def ensure_routed() -> None:
    """First thing on every page: a run that did not come through app.py's router switches the process to
    `st.navigation` mode and reruns through the router (see the module docstring). Should the rerun again
    miss the router (a page started on its own, or a Streamlit that changed), the page stops with a message
    instead of rerunning for ever."""
    if _ROUTED.get():
        st.session_state.pop(_RETRIED, None)
        return
    if st.session_state.pop(_RETRIED, False):
        st.error("This page runs inside IF Explorer's router: start the app with `streamlit run app.py` and open "
                 "it from there.", icon=":material/error:")
        st.stop()
    st.session_state[_RETRIED] = True
    navigation(icons=False)  # documented: one call in any session ends the pages/-folder mode for all
    st.rerun()

