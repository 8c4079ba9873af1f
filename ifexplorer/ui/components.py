"""Panels that more than one page shows: the page header, the helpful / harmful image rows with their table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ifexplorer.ui.router import ensure_routed
from ifexplorer.ui.widgets import explain, image_row


def page_header(title: str, explanation: str, intro: str | None = None) -> None:
    """Every page starts here: the run goes through app.py's router (router.ensure_routed), then the title,
    an optional intro paragraph and the "What am I looking at?" expander (all three our own markdown)."""
    ensure_routed()
    st.title(title)
    if intro:
        st.markdown(intro)
    explain(explanation)


def flip_legend(exp) -> None:
    """A caption explaining the ⚠ mark, when the sidebar flipped some training labels."""
    noisy = exp.noisy_mask()
    if noisy.any():
        st.caption(f"⚠ marks the {int(noisy.sum())} training labels flipped on purpose (label noise in the sidebar); "
                   "the true class is in brackets.")


def influence_rows(exp, top, *, when: str = "training images", size: int = 84, per_row: int = 8,
                   table_key: str = "topk_table", no_harmful: str = "No training image hurts this prediction.") -> None:
    """The most helpful and most harmful training images of one test point (a TopInfluences), captioned
    "#index · label · score", then the same as a table in an expander.

    when: completes the headings, "Most helpful <when> (k)"; table_key: the dataframe's widget key."""
    data, noisy, labels = exp.data, exp.noisy_mask(), exp.train_class()
    for kind, members, scores in (("helpful", top.helpful, top.helpful_scores),
                                  ("harmful", top.harmful, top.harmful_scores)):
        st.markdown(f"**Most {kind} {when} ({len(members)})**")
        if kind == "helpful":
            flip_legend(exp)
        if len(members):
            captions = [exp.train_caption(j, s) for j, s in zip(members, scores)]
            image_row([data.images_train[j] for j in members], captions, size=size, per_row=per_row)
        else:
            st.caption(no_harmful)
    members = np.concatenate([top.helpful, top.harmful]).astype(int)
    table = pd.DataFrame({  # a dataframe shows its cells as plain text: class names need no escaping here
        "kind": ["helpful"] * len(top.helpful) + ["harmful"] * len(top.harmful),
        "training #": members,
        "label": [exp.class_name(labels[j]) for j in members],
        "flipped": noisy[members],
        "influence": np.concatenate([top.helpful_scores, top.harmful_scores]),
    })
    with st.expander("As a table"):
        st.dataframe(table, hide_index=True, key=table_key)
