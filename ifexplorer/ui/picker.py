"""Rows of thumbnails with a button under each: the way to open an image from a list (the reverse view's test
images, the map's selection, the own-image page's neighbours). Pages decide where a press leads (ui.navigate)."""
from __future__ import annotations

import streamlit as st

from ifexplorer.ui.text import md_escape
from ifexplorer.ui.widgets import show_image


def image_buttons(images, captions, indices, *, key: str, button_label: str = "Open #{i}", size: int = 84,
                  per_row: int = 8, help: str | None = None) -> int | None:
    """Thumbnails in rows of per_row columns, each with its caption (literal) and a button labelled
    button_label.format(i=index). Returns the index whose button was pressed in this run, or None.

    images: sequence of uint8 (H, W[, 3]); captions: one plain-text string each; indices: the dataset index each
    image stands for (ints, shown on the button and returned); key: prefix of the buttons' widget keys."""
    images, captions, indices = list(images), list(captions), [int(i) for i in indices]
    slot = f"_{key}_picked"
    for start in range(0, len(images), per_row):
        for col, img, cap, i in zip(st.columns(per_row), images[start:start + per_row],
                                    captions[start:start + per_row], indices[start:start + per_row]):
            with col:
                show_image(img, cap, 2 * size, width="stretch")
                st.button(md_escape(button_label.format(i=i)), key=f"{key}_{i}", help=help, width="stretch",
                          on_click=_pick, args=(slot, i))
    return st.session_state.pop(slot, None)


def _pick(slot: str, i: int) -> None:
    """A callback, not the button's return value: a press survives a rerun that arrives before the page runs
    (and AppTest's page requests), as the gallery's grid does."""
    st.session_state[slot] = i
