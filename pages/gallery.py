"""Influence gallery: for one test image, the training images that helped and hurt it most."""
import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots, top_influences
from ifexplorer.experiments.complexity import group_complexity

GRID = 20  # test images shown in the browser grid

ui.ensure_router()  # a deep link runs this page through app.py's router
st.title("Influence gallery")
ui.explain(r"""
The influence of training image $i$ on test image $x$ is the change of the test loss when $i$ is removed and
the network retrained: $I(i,x) = \ell(f^{-i}(x), y_x) - \ell(f(x), y_x)$, $\ell = \tfrac12\|f-y\|^2$.
**Helpful** ($I>0$): removing it makes $x$ worse. **Harmful** ($I<0$): removing it helps. In the NTK regime this is
exact and cheap: $f^{-i}(x) = f(x) - (k(x)^\top Q)_i\,\alpha_i/Q_{ii}$ with $Q=(H+\lambda I)^{-1}$, $\alpha = Qy$.

*Complexity* of a group $G$ (paper's Fig. 5) is how much the group adds to the RKHS norm of the fit,
$C_G = y^\top Q y - y_{-G}^\top (H_{-G}+\lambda I)^{-1} y_{-G}$. *Self-influence* $I(i, x_i)$ is how much point $i$'s own
loss grows without it; large values flag mislabeled or unusual images (⚠ marks labels we flipped on purpose).
""")

exp = ui.current_experiment()
data = exp.data
pred, true = exp.test_pred_class(), exp.test_true_class()
train_cls, noisy = exp.train_class(), exp.noisy_mask()


def _pick(index: int) -> None:
    st.session_state["test"] = int(index)


def _flip_legend() -> None:
    if noisy.any():
        st.caption(f"⚠ marks the {int(noisy.sum())} training labels flipped on purpose (label noise in the sidebar); "
                   "the true class is in brackets.")


def _chosen_panel() -> None:
    """The chosen test image, its top-k helpful / harmful training images, the grid to pick another,
    the histogram and the CSV. A fragment: picking an image reruns only this panel (in a thread of its own)."""
    ui.configure_threads()
    top_left, top_right = st.columns([1, 3], gap="large")
    with top_left:
        i = ui.test_index_input(exp)
        k = st.slider("How many neighbours (k)", 1, 20, 8, key="k")
        ok = pred[i] == true[i]
        ui.show_image(data.images_test[i], f"test #{i}", size=196)
        out = np.atleast_1d(exp.test_outputs()[i])
        verdict = ":green[:material/check_circle: correct]" if ok else ":red[:material/cancel: wrong]"
        st.markdown(f"**Label:** {exp.class_name(true[i])}  \n"
                    f"**Prediction:** {exp.class_name(pred[i])} {verdict}  \n"
                    f"**Output f(x):** {', '.join(f'{v:+.3f}' for v in out[:10])}")
    row = exp.influence_matrix()[i]
    top = top_influences(row, int(k))
    with top_right:
        _neighbours(top)
    _browser(i)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(plots.influence_histogram(row), key="hist")
        csv = pd.DataFrame({"training #": np.arange(len(row)), "label": [exp.class_name(c) for c in train_cls],
                            "flipped": noisy, "influence": row, "ihvp_influence": exp.ihvp_matrix()[i],
                            "self_influence": exp.self_influence()}).to_csv(index=False)
        st.download_button("Download this image's influence scores (CSV)", csv, file_name=f"influence_test{i}.csv",
                           mime="text/csv", key="csv", icon=":material/download:")
    with right:
        _groups(i, row)


def _neighbours(top) -> None:
    st.subheader(f"Most helpful training images ({len(top.helpful)})")
    _flip_legend()
    ui.image_row([data.images_train[j] for j in top.helpful],
                 [exp.train_caption(j, s) for j, s in zip(top.helpful, top.helpful_scores)], size=84, per_row=8)
    st.subheader(f"Most harmful training images ({len(top.harmful)})")
    if len(top.harmful):
        ui.image_row([data.images_train[j] for j in top.harmful],
                     [exp.train_caption(j, s) for j, s in zip(top.harmful, top.harmful_scores)], size=84, per_row=8)
    else:
        st.caption("No training image hurts this prediction.")
    members = np.concatenate([top.helpful, top.harmful]).astype(int)
    table = pd.DataFrame({
        "kind": ["helpful"] * len(top.helpful) + ["harmful"] * len(top.harmful),
        "training #": members,
        "label": [exp.class_name(train_cls[j]) for j in members],
        "flipped": noisy[members],
        "influence": np.concatenate([top.helpful_scores, top.harmful_scores]),
    })
    with st.expander("As a table"):
        st.dataframe(table, hide_index=True, key="topk_table")


def _browser(i: int) -> None:
    with st.expander(f"Browse test images ({len(pred)})", expanded=True, icon=":material/grid_view:"):
        by_class = {(str(c) if str(c).lower().startswith("class") else f"Class {c}"): k
                    for k, c in enumerate(data.class_names)}
        options = ["All", "Misclassified"] + list(by_class)
        shown = st.segmented_control("Show", options, default="All", key="gallery_filter")
        mask = np.ones(len(pred), bool)
        if shown == "Misclassified":
            mask = pred != true
        elif shown in by_class:
            mask = true == by_class[shown]
        idx = np.flatnonzero(mask)
        st.caption(f"{len(idx)} test images match; showing the first {min(GRID, len(idx))}. Under each image: its "
                   "label (→ the model's prediction when it is wrong). Press a number to inspect that image.")
        for start in range(0, min(GRID, len(idx)), 10):
            cols = st.columns(10)
            for col, j in zip(cols, idx[start:start + 10]):
                with col:
                    ui.show_image(data.images_test[j], _grid_caption(j), 56)
                    st.button(f"#{j}", key=f"pick_{j}", on_click=_pick, args=(j,),
                              icon=None if pred[j] == true[j] else ":material/close:",
                              type="primary" if j == i else "secondary",
                              help="misclassified" if pred[j] != true[j] else None)


def _grid_caption(j: int) -> str:
    label = exp.class_name(true[j])
    return label if pred[j] == true[j] else f"{label} → {exp.class_name(pred[j])}"


def _groups(i: int, row) -> None:
    scope = st.radio("Order training points by their influence on", ["the whole test set", "this test image"],
                     key="groups_scope", horizontal=True)
    if scope == "this test image":
        groups = exp.memo(("groups", i), lambda: group_complexity(exp.model, row, 10))
    else:
        groups = exp.memo("groups_all", lambda: group_complexity(exp.model, exp.influence_matrix().sum(0), 10))
    st.plotly_chart(plots.group_complexity_figure(groups.complexity, groups.mean_score), key="groups")


def _suspicious() -> None:
    st.subheader("Suspicious training points")
    st.caption("Ranked by self-influence I(i, xᵢ): how much a point's own loss grows when it is left out.")
    _flip_legend()
    si = exp.self_influence()
    order = np.argsort(-si, kind="stable")[:10]
    ui.image_row([data.images_train[j] for j in order], [exp.train_caption(j, si[j]) for j in order],
                 size=72, per_row=10)
    if noisy.any():
        top = np.argsort(-si, kind="stable")[:50]
        st.metric(f"Flipped labels among the {len(top)} most self-influential", f"{int(noisy[top].sum())} / {len(top)}",
                  help=f"By chance one would expect {len(top) * noisy.mean():.1f}.")
    st.plotly_chart(plots.self_influence_figure(si, noisy), key="selfinf")


with ui.friendly_errors("The gallery"):
    st.fragment(_chosen_panel)()
    _suspicious()
