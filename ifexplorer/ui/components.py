"""Panels that more than one page shows: the page header, clickable thumbnail grids, the helpful / harmful
image rows with their table."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from ifexplorer.plots.grid import chars_that_fit, thumbnail_grid_data
from ifexplorer.plots.style import HARMFUL, HELPFUL
from ifexplorer.ui import navigate
from ifexplorer.ui.grid_component import thumbnail_grid
from ifexplorer.ui.router import ensure_routed
from ifexplorer.ui.widgets import explain, fmt

OPEN_KEY = "_open_training_point"  # session state: a grid click asked for the reverse view of this training image


def page_header(title: str, explanation: str, intro: str | None = None) -> None:
    """Every page starts here: the run goes through app.py's router (router.ensure_routed), then the title,
    an optional intro paragraph and the "What am I looking at?" expander (all three our own markdown). A click on
    a training image in the previous run (OPEN_KEY) opens the reverse view first."""
    ensure_routed()
    _follow_training_click()
    st.title(title)
    if intro:
        st.markdown(intro)
    explain(explanation)


def flip_legend(exp) -> None:
    """A caption explaining the orange frame, when the sidebar flipped some training labels."""
    noisy = exp.noisy_mask()
    if noisy.any():
        st.caption(f"An orange frame and ⚠ mark the {int(noisy.sum())} training labels flipped on purpose (label "
                   "noise in the sidebar); the true class is in brackets.")


def thumb_size() -> int:
    """The sidebar's thumbnail size (px)."""
    from ifexplorer.ui.sidebar import thumb_size as size

    return size()


def per_row_for(size: int, budget_px: int, at_most: int | None = None) -> int:
    """Thumbnails of `size` px that fit a row of budget_px (at least 1, at most at_most)."""
    n = max(1, (budget_px + 4) // (size + 4))
    return n if at_most is None else max(1, min(n, at_most))


def grid(images, indices, *, key: str, on_pick, size: int, per_row: int, captions=None, frames=None, hover=None,
         caption_colours=None) -> None:
    """A clickable thumbnail grid (plots.grid data, ui.grid_component): a click calls on_pick(index) before the
    rerun (a Streamlit callback, so it may set widget state)."""
    thumbnail_grid(thumbnail_grid_data(images, indices, per_row=per_row, size_px=size, captions=captions,
                                       frames=frames, hover=hover, caption_colours=caption_colours),
                   key=key, on_pick=on_pick)


def training_grid(exp, members, scores=None, *, key: str, size: int | None = None, budget_px: int = 620,
                  per_row: int | None = None) -> None:
    """Training images `members` as a clickable grid captioned "#j · label" / "score" (file name on a third
    line for own data), flipped labels framed; a click opens the reverse view (navigate.open_training_point)."""
    members = np.asarray(members, dtype=np.int64)
    if len(members) == 0:
        return
    size = size or thumb_size()
    per_row = per_row or per_row_for(size, budget_px)
    noisy, labels = exp.noisy_mask(), exp.train_class()
    own = exp.config.dataset in ("upload", "folder")
    ids = exp.data.ids_train
    captions, hover = [], []
    for n, j in enumerate(members):
        head = f"{'⚠' if noisy[j] else '#'}{j} · {exp.class_name(labels[j])}"
        lines = [head] if len(head) <= chars_that_fit(size) else [head.split(" · ")[0], exp.class_name(labels[j])]
        if scores is not None:
            lines.append(fmt(float(scores[n])))
        if own:
            lines.append(file_caption(str(ids[j]), size))
        captions.append(tuple(lines))
        hover.append(exp.train_caption(j, None if scores is None else float(scores[n])) + f" · {ids[j]}")
    frames = ["flipped" if noisy[j] else None for j in members]
    colours = None
    if scores is not None:
        colours = [HELPFUL if s > 0 else HARMFUL if s < 0 else None for s in np.asarray(scores, float)]
    grid(exp.data.images_train[members], members, key=key, on_pick=ask_training_point, size=size, per_row=per_row,
         captions=captions, frames=frames, hover=hover, caption_colours=colours)


def file_caption(sample_id: str, size: int) -> str:
    """A file name that fits under a thumbnail of `size` px: the name, else its stem, else "…" and the stem's end
    (where numbered files differ: "…o_0123")."""
    fit = chars_that_fit(size)
    name = Path(sample_id).name
    if len(name) <= fit:
        return name
    stem = Path(name).stem
    return stem if len(stem) <= fit else "…" + stem[-(fit - 1):]


def training_table(exp, members, **columns) -> pd.DataFrame:
    """training #, file / sample id, label, flipped (and the true class) for `members`, then `columns`
    (name → values per member). A dataframe shows its cells as plain text: no escaping needed."""
    members = np.asarray(members, dtype=np.int64)
    noisy = exp.noisy_mask()
    return pd.DataFrame({
        "training #": members,
        "sample id": [str(s) for s in exp.data.ids_train[members]],
        "label": [exp.class_name(c) for c in exp.train_class()[members]],
        "flipped": noisy[members],
        "true label": [exp.class_name(c) for c in exp.data.true_labels_train[members]],
        **columns,
    })


def influence_rows(exp, top, *, when: str = "training images", size: int | None = None, budget_px: int = 620,
                   per_row: int | None = None, table_key: str = "topk_table",
                   no_harmful: str = "No training image hurts this prediction.") -> None:
    """The most helpful and most harmful training images of one test point (a TopInfluences) as clickable grids
    (click: the reverse view), then the same as a table with sample ids.

    when: completes the headings, "Most helpful <when> (k)"; size: thumbnail px (default: the sidebar's); per_row:
    thumbnails per row (default: as many as fit budget_px); table_key: the dataframe's key (grids: +"_help",
    +"_harm")."""
    for kind, members, scores, colour in (("helpful", top.helpful, top.helpful_scores, "blue"),
                                          ("harmful", top.harmful, top.harmful_scores, "red")):
        st.markdown(f"**Most :{colour}[{kind}] {when} ({len(members)})**")
        if kind == "helpful":
            flip_legend(exp)
        if len(members):
            training_grid(exp, members, scores, key=f"{table_key}_{kind[:4]}", size=size, budget_px=budget_px,
                          per_row=per_row)
        else:
            st.caption(no_harmful)
    with lazy_section("As a table", key=f"{table_key}_open") as box:
        if box.open:  # built only while shown: a pick or a slider step with the section closed skips it
            members = np.concatenate([top.helpful, top.harmful]).astype(int)
            table = training_table(exp, members, influence=np.concatenate([top.helpful_scores, top.harmful_scores]))
            table.insert(0, "kind", ["helpful"] * len(top.helpful) + ["harmful"] * len(top.harmful))
            st.dataframe(table, hide_index=True, key=table_key)


def lazy_section(label: str, *, key: str, icon: str | None = None):
    """A collapsed expander whose content the caller draws only while it is open (`if box.open:`): opening it
    reruns the script (or the fragment it is in), so a page's secondary panels cost the browser and the server
    nothing until someone asks for them. It opens again as the user left it after a visit to another page
    (Streamlit forgets a widget's state on a page that does not draw it; a plain session key remembers it).
    label: markdown (escape user strings), constant (a new label is a new, closed expander); key: the open state,
    in st.session_state."""
    remembered = f"_{key}_was_open"
    box = st.expander(label, expanded=bool(st.session_state.get(remembered, False)), key=key, icon=icon,
                      on_change="rerun")
    st.session_state[remembered] = bool(box.open)
    return box


# ------------------------------------------------------------------------------------ opening a training image
def ask_training_point(j: int) -> None:
    """A grid callback: remember j; the rerun that follows opens the reverse view (page_header)."""
    st.session_state[navigate.TRAIN_KEY] = int(j)
    st.session_state[OPEN_KEY] = int(j)


def _follow_training_click() -> None:
    j = st.session_state.pop(OPEN_KEY, None)
    if j is None:
        return
    navigate.open_training_point(j)


def open_after_fragment_click() -> None:
    """In a fragment a grid click reruns only the fragment: open the reverse view from there."""
    _follow_training_click()

