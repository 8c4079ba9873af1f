"""Links that carry the whole view: the experiment and the page's selection in the URL (`st.query_params`).

    ?ds=mnist:7,9&n=800&m=200&reg=0.001&depth=1&noise=0&seed=0&test=12&k=8&sort=loss&cls=1&mis=1&page=2&t=3.1

Two moves, both driven by the sidebar (ifexplorer/ui/sidebar.py) and the pages, nothing else reads the URL:

- `restore()` runs once per browser session, before any widget is drawn: each parameter of the link is checked
  (a wrong value is named in a warning and ignored) and written into the session state keys the widgets use,
  so a link opened in a fresh browser shows the same view.
- `publish(**values)` writes the current values back to the URL on every run (sidebar: the experiment; pages:
  their own selection, `publish_page`), so the address bar is always a shareable link.

Uploaded data cannot travel in a link: the link carries the sha256 of the archive's bytes (`up`, the first
16 hex digits) and its file name (`file`); a session without that archive is told so (`missing_upload`) and
shown nothing instead of another dataset.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

RESTORED_KEY = "_url_restored"      # session state: restore() has run for this session
WANTED_UPLOAD_KEY = "_url_upload"   # session state: (sha prefix, file name) of the upload a link asked for
NOTICES_KEY = "_url_notices"        # session state: the link's problems, shown once in the sidebar
NO_DATA_KEY = "_url_no_data"        # session state: why there is no experiment to show (a link's missing upload)
UPLOAD_PREFIX = 16                  # hex digits of the upload's sha256 carried in a link

# URL name -> session-state key of the widget it restores (page parameters; the sidebar's are handled below)
PAGE_KEYS = {"test": "test", "k": "k", "sort": "browse_sort", "cls": "browse_class", "mis": "browse_mis",
             "page": "browse_page",
             "vs": "compare_with", "t": "time", "dk": "dyn_k", "train": "train_index"}
SIDEBAR_KEYS = ("ds", "n", "m", "reg", "depth", "noise", "seed", "up", "file", "folder", "size")


@dataclass(frozen=True)
class LinkProblem:
    """One parameter of a link that could not be used: its URL name, the value given, and why."""
    name: str
    value: str
    reason: str

    def text(self) -> str:
        return f"`{self.name}={self.value}` ignored: {self.reason}"


# ------------------------------------------------------------------------------------------------ datasets
def dataset_slug(choice) -> str:
    """A short stable name of a dataset menu entry (a Choice of ifexplorer.ui.dataset_menu) for a link:
    "mnist:7,9", "mnist:all", "digits", "fashion_mnist:T-shirt/top,Shirt", "idx:<folder name>", "upload", "folder"."""
    from pathlib import Path

    if choice.name == "own":
        return "own"
    if choice.path is not None:
        return f"{choice.name}:{Path(choice.path).name}"
    if choice.classes is None:
        return choice.name
    if choice.classes == "all":
        return f"{choice.name}:all"
    return f"{choice.name}:" + ",".join(map(str, choice.classes))


def choice_for_slug(slug: str):
    """The menu entry (Choice) a slug names, or None when this server does not offer it."""
    from ifexplorer.ui import dataset_menu

    for c in dataset_menu.choices():
        if dataset_slug(c) == slug:
            return c
    return None


# ------------------------------------------------------------------------------------------------ restore
def restore(params=None, state=None) -> list[LinkProblem]:
    """Once per session (later calls return []): copy the link's parameters into session state.
    params: the query parameters (default st.query_params); state: the session state (default st.session_state).
    Returns the problems found (also kept under NOTICES_KEY for the sidebar to show)."""
    state = st.session_state if state is None else state
    if state.get(RESTORED_KEY):
        return []
    state[RESTORED_KEY] = True
    params = dict(st.query_params.to_dict() if params is None else params)
    problems: list[LinkProblem] = []
    _restore_sidebar(params, state, problems)
    for name, key in PAGE_KEYS.items():
        if name in params:
            value, reason = _parse_page(name, params[name])
            if reason:
                problems.append(LinkProblem(name, params[name], reason))
            else:
                state[key] = value
    state[NOTICES_KEY] = problems
    return problems


def _restore_sidebar(params: dict, state, problems: list) -> None:
    from ifexplorer.ui import dataset_menu
    from ifexplorer.ui.sidebar import DEPTHS, REGS

    slug = params.get("ds")
    choice = None
    if slug is not None:
        choice = choice_for_slug("own" if slug in ("upload", "folder") else slug)
        if choice is None:
            problems.append(LinkProblem("ds", slug, "this server has no such dataset; the default one is shown"))
        else:
            state["dataset"] = choice.label
            if slug == "upload":
                state["own_how"] = "Upload an archive"
                up = params.get("up", "")
                if not _is_hex(up):
                    problems.append(LinkProblem("up", up, "not the fingerprint of an upload"))
                else:
                    state[WANTED_UPLOAD_KEY] = (up.lower(), params.get("file") or "an archive")
            elif slug == "folder":
                state["own_how"] = "A folder on this machine"
                state["folder"] = params.get("folder", "")
    entry = choice or dataset_menu.choice(state.get("dataset", dataset_menu.LABELS[0]))
    top = entry.max_total or 20000
    for name, key, low, high in (("n", "n_train", 10, top), ("m", "n_test", 2, entry.max_total or 5000)):
        if name in params and entry.name != "own":
            value = _int(params[name])
            if value is None or not low <= value <= high:
                problems.append(LinkProblem(name, params[name], f"must be a whole number in {low}..{high}"))
            else:
                state[key] = value
    _restore_choice(params, state, problems, "reg", "reg", REGS, float, "must be one of the sidebar's λ values")
    _restore_choice(params, state, problems, "depth", "depth", DEPTHS, int, f"must be one of {list(DEPTHS)}")
    if "noise" in params:
        value = _float(params["noise"])
        if value is None or not 0 <= value <= 0.5 or abs(round(value / 0.05) * 0.05 - value) > 1e-9:
            problems.append(LinkProblem("noise", params["noise"], "must be a multiple of 0.05 in 0..0.5"))
        else:
            state["noise"] = round(round(value / 0.05) * 0.05, 2)
    if "size" in params:
        value = _int(params["size"])
        if value is None or not 48 <= value <= 160:
            problems.append(LinkProblem("size", params["size"], "must be a thumbnail size in 48..160 px"))
        else:
            state["thumb_size"] = value
    if "seed" in params:
        value = _int(params["seed"])
        if value is None or not 0 <= value <= 10_000:
            problems.append(LinkProblem("seed", params["seed"], "must be a whole number in 0..10000"))
        else:
            state["seed"] = value


def _restore_choice(params, state, problems, name, key, options, cast, reason) -> None:
    if name not in params:
        return
    try:
        value = cast(params[name])
    except ValueError:
        value = None
    match = [o for o in options if value is not None and math.isclose(o, value, rel_tol=1e-9)]
    if not match:
        problems.append(LinkProblem(name, params[name], reason))
    else:
        state[key] = match[0]


def _parse_page(name: str, text: str):
    """(value, None) or (None, reason) for one page parameter. Ranges that depend on the data (a test index
    beyond the test set) are checked by the page, which falls back to its default."""
    from ifexplorer.experiments.browse import SORT_KEYS

    if name == "mis":
        return (text == "1", None) if text in ("0", "1") else (None, "must be 0 or 1")
    if name in ("test", "train", "vs", "cls"):
        value = _int(text)
        return (value, None) if value is not None and value >= 0 else (None, "must be a whole number ≥ 0")
    if name in ("k", "dk", "page"):
        value = _int(text)
        return (value, None) if value is not None and value >= 1 else (None, "must be a whole number ≥ 1")
    if name == "sort":
        return (text, None) if text in SORT_KEYS else (None, f"must be one of {', '.join(SORT_KEYS)}")
    if name == "t":
        value = math.inf if text in ("inf", "∞") else _float(text)
        return (value, None) if value is not None and value >= 0 else (None, "must be a time ≥ 0 or inf")
    return text, None


# ------------------------------------------------------------------------------------------------ publish
def publish(params=None, **values) -> None:
    """Write values (None = remove the parameter) into the URL, touching only parameters that change
    (each change is a message to the browser). params: default st.query_params."""
    params = st.query_params if params is None else params
    for name, value in values.items():
        text = None if value is None else _text(value)
        if text is None:
            if name in params:
                del params[name]
        elif params.get(name) != text:
            params[name] = text


def publish_experiment(choice, n_train: int, n_test: int, reg: float, depth: int, noise: float, seed: int,
                       upload: tuple[str, str] | None = None, folder: str | None = None) -> None:
    """The sidebar's part of the link. upload: (sha256, file name) of the archive in use."""
    slug = dataset_slug(choice)
    own = slug == "own"
    if own:
        slug = "folder" if folder is not None else "upload"
    publish(ds=slug, n=None if own else int(n_train), m=None if own else int(n_test), reg=reg, depth=int(depth),
            noise=noise, seed=int(seed), up=upload[0][:UPLOAD_PREFIX] if upload else None,
            file=upload[1] if upload else None, folder=folder)


def publish_page(**values) -> None:
    """A page's part of the link, by URL name (PAGE_KEYS): e.g. publish_page(test=12, k=8)."""
    unknown = set(values) - set(PAGE_KEYS)
    if unknown:
        raise ValueError(f"unknown page parameters {sorted(unknown)}; known: {sorted(PAGE_KEYS)}")
    publish(**values)


def keep_only(names, params=None) -> None:
    """Remove the page parameters not in names (another page's selection must not linger in this page's link)."""
    params = st.query_params if params is None else params
    for name in PAGE_KEYS:
        if name not in names and name in params:
            del params[name]


# ------------------------------------------------------------------------------------------------ uploads
def wanted_upload(state=None) -> tuple[str, str] | None:
    """(sha256 prefix, file name) of the upload the session's link asked for, until the user uploads a file."""
    state = st.session_state if state is None else state
    return state.get(WANTED_UPLOAD_KEY)


def upload_matches(sha: str, state=None) -> bool | None:
    """Whether the archive the user gave (its sha256) is the one the link asked for (None: the link asked for
    none). Forgets the link's wish either way: from now on the session shows what the user uploaded."""
    state = st.session_state if state is None else state
    wanted = state.pop(WANTED_UPLOAD_KEY, None)
    return None if wanted is None else sha.lower().startswith(wanted[0])


def missing_upload(wanted: tuple[str, str]) -> str:
    """The message for a link to an upload this session does not have (markdown; the file name escaped)."""
    from ifexplorer.ui.text import md_escape

    return (f"This link shows an uploaded dataset (**{md_escape(wanted[1])}**, fingerprint `{wanted[0][:8]}`) that "
            "this browser session does not have: uploads stay in the session that made them. Upload the same file "
            "in the sidebar to see the linked view; nothing is shown until then, rather than other data.")


# ------------------------------------------------------------------------------------------------ helpers
def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.6g}"
    return str(value)


def _int(text) -> int | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if math.isfinite(value) and value == int(value) else None


def _float(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _is_hex(text: str) -> bool:
    return len(text) >= 8 and all(ch in "0123456789abcdefABCDEF" for ch in text)
