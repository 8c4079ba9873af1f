"""Influence gallery: for one test image, the training images that helped and hurt it most."""
import math

import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots, top_influences
from ifexplorer.experiments.complexity import group_complexity
from ifexplorer.experiments.training_time import mislabel_detection
from ifexplorer.ui import md_escape

GRID = 20  # test images shown in the browser grid

ui.page_header("Influence gallery", r"""
The influence of training image $i$ on test image $x$ is the change of the test loss when $i$ is removed and
the network retrained: $I(i,x) = \ell(f^{-i}(x), y_x) - \ell(f(x), y_x)$, $\ell = \tfrac12\|f-y\|^2$.
**Helpful** ($I>0$): removing it makes $x$ worse. **Harmful** ($I<0$): removing it helps. In the NTK regime this is
exact and cheap: $f^{-i}(x) = f(x) - (k(x)^\top Q)_i\,\alpha_i/Q_{ii}$ with $Q=(H+\lambda I)^{-1}$, $\alpha = Qy$.

*Complexity* of a group $G$ (paper's Fig. 5) is how much the group adds to the RKHS norm of the fit,
$C_G = y^\top Q y - y_{-G}^\top (H_{-G}+\lambda I)^{-1} y_{-G}$. *Self-influence* $I(i, x_i)$ is how much
point $i$'s own loss grows without it; large values flag mislabeled or unusual images (⚠ marks labels we
flipped on purpose).
""")

exp = ui.current_experiment()
data = exp.data
pred, true = exp.test_pred_class(), exp.test_true_class()
noisy = exp.noisy_mask()


def _pick(index: int) -> None:
    st.session_state["test"] = int(index)


def _chosen_panel() -> None:
    """The chosen test image, its top-k helpful / harmful training images, the grid to pick another,
    the histogram and the CSV. A fragment: picking an image reruns only this panel."""
    top_left, top_right = st.columns([1, 3], gap="large")
    with top_left:
        i = ui.test_index_input(exp)
        k = st.slider("How many neighbours (k)", 1, 20, 8, key="k")
        _chosen_image(i)
    row = exp.influence_matrix()[i]
    with top_right:
        ui.influence_rows(exp, top_influences(row, int(k)))
    _browser(i)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(plots.influence_histogram(row), key="hist")
        _csv(i, row)
    with right:
        _groups(i, row)


def _chosen_image(i: int) -> None:
    ui.show_image(data.images_test[i], f"test #{i}", size=196)
    out = np.atleast_1d(exp.test_outputs()[i])
    verdict = ":green[:material/check_circle: correct]" if pred[i] == true[i] else ":red[:material/cancel: wrong]"
    st.markdown(f"**Label:** {md_escape(exp.class_name(true[i]))}  \n"
                f"**Prediction:** {md_escape(exp.class_name(pred[i]))} {verdict}  \n"
                f"**Output f(x):** {', '.join(f'{v:+.3f}' for v in out[:10])}")


def _csv(i: int, row) -> None:
    csv = pd.DataFrame({"training #": np.arange(len(row)), "label": [exp.class_name(c) for c in exp.train_class()],
                        "flipped": noisy, "influence": row, "ihvp_influence": exp.ihvp_matrix()[i],
                        "self_influence": exp.self_influence()}).to_csv(index=False)
    st.download_button("Download this image's influence scores (CSV)", csv, file_name=f"influence_test{i}.csv",
                       mime="text/csv", key="csv", icon=":material/download:")


def _browser(i: int) -> None:
    """The first GRID test images of a filter (all, misclassified, one class), each with a button to pick it."""
    with st.expander(f"Browse test images ({len(pred)})", expanded=True, icon=":material/grid_view:"):
        by_class = {(str(c) if str(c).lower().startswith("class") else f"Class {c}"): k
                    for k, c in enumerate(data.class_names)}
        shown = st.segmented_control("Show", ["All", "Misclassified", *by_class], default="All", key="gallery_filter",
                                     format_func=md_escape)  # options are markdown; class names are literal
        mask = np.ones(len(pred), bool)
        if shown == "Misclassified":
            mask = pred != true
        elif shown in by_class:
            mask = true == by_class[shown]
        idx = np.flatnonzero(mask)
        st.caption(f"{len(idx)} test images match; showing the first {min(GRID, len(idx))}. Under each image: its "
                   "label (→ the model's prediction when it is wrong, also marked in red). Press a number to inspect "
                   "that image.")
        for start in range(0, min(GRID, len(idx)), 10):
            for col, j in zip(st.columns(10), idx[start:start + 10]):
                with col:
                    _grid_cell(int(j), chosen=j == i)


def _grid_cell(j: int, chosen: bool) -> None:
    label = exp.class_name(true[j])
    wrong = pred[j] != true[j]
    ui.show_image(data.images_test[j], f"{label} → {exp.class_name(pred[j])}" if wrong else label, 56)
    # a red number rather than an icon: an icon next to "#123" does not fit a tenth of a 1280 px window;
    # the chosen image's button is filled (red on it would not read)
    st.button(f":red[#{j}]" if wrong and not chosen else f"#{j}", key=f"pick_{j}", on_click=_pick, args=(j,),
              type="primary" if chosen else "secondary", help="misclassified" if wrong else None)


def _groups(i: int, row) -> None:
    scope = st.radio("Order training points by their influence on", ["the whole test set", "this test image"],
                     key="groups_scope", horizontal=True)
    if scope == "this test image":
        groups = exp.memo(("groups", i), lambda: group_complexity(exp.model, row, 10))
    else:
        groups = exp.memo("groups_all", lambda: group_complexity(exp.model, exp.influence_matrix().sum(0), 10))
    st.plotly_chart(plots.group_complexity_figure(groups.complexity, groups.mean_score), key="groups")


def _suspicious() -> None:
    """The training points of largest self-influence and, with label noise, how many flipped labels they hold."""
    st.subheader("Suspicious training points")
    st.caption("Ranked by self-influence I(i, xᵢ): how much a point's own loss grows when it is left out.")
    ui.flip_legend(exp)
    si = exp.self_influence()
    order = np.argsort(-si, kind="stable")[:10]
    ui.image_row([data.images_train[j] for j in order], [exp.train_caption(j, si[j]) for j in order],
                 size=72, per_row=10)
    if noisy.any():
        found = exp.memo("mislabel_detection", lambda: mislabel_detection(exp.model, noisy, math.inf))
        cols = st.columns(len(found.fractions) + 1)
        for col, share, recall, chance in zip(cols, found.fractions, found.found, found.random):
            col.metric(f"Flipped labels in the top {share:.0%}", f"{recall:.0%}",
                       help=f"Share of the {found.n_noisy} flipped labels among the {share:.0%} most self-influential "
                            f"training points; a random ranking finds {chance:.0%}.")
        cols[-1].metric("ROC AUC", f"{found.auc:.2f}", help="Of self-influence as a detector of flipped labels "
                                                            f"(random ranking: {found.random_auc:.2f}).")
    st.plotly_chart(plots.self_influence_figure(si, noisy), key="selfinf")


with ui.friendly_errors("The gallery"):
    st.fragment(_chosen_panel)()
    _suspicious()
