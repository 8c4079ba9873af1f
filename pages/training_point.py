"""The reverse view: one training image seen from the test set — what it helps, what it hurts, and what removing it
would change."""
import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.ui import md_escape
from ifexplorer.ui.navigate import TRAIN_KEY, open_test_point
from ifexplorer.ui.picker import image_buttons

ui.page_header("Training point", r"""
The gallery asks *which training images made this test prediction*; this page asks the reverse: **what does
this training image do to the whole test set?** For training image $i$ and every test image $x$ it shows the
exact leave-one-out influence $I(i,x) = \ell(f^{-i}(x), y_x) - \ell(f(x), y_x)$ (> 0: $i$ helps $x$), from one
column of $Q = (H+\lambda I)^{-1}$: $f^{-i}(x) = f(x) - d(x)\,\alpha_i$ with $d(x) = k(x)^\top Q e_i / Q_{ii}$
(theory §4). **Removing it** is the model retrained without $i$ — exactly, in the NTK regime — and its test
accuracy and mean test loss $\tfrac12\|f^{-i}-y\|^2$ are computed from those predictions, not estimated.
*Self-influence* $I(i, x_i)$ is how much $i$'s own loss grows without it; large values flag mislabeled or
unusual images.
""")

K = 8  # test images listed as helped / hurt


def _chosen(exp) -> int:
    n = len(exp.data.X_train)
    if not 0 <= int(st.session_state.get(TRAIN_KEY, 0)) < n:
        st.session_state[TRAIN_KEY] = 0
    return int(st.number_input("Training image #", 0, n - 1, "min", step=1, key=TRAIN_KEY,
                               help="Or click a training image on the map or in another page's lists."))


def _label_panel(exp, j: int) -> None:
    data, noisy = exp.data, exp.noisy_mask()
    ui.show_image(data.images_train[j], exp.train_caption(j), size=196)
    shown = md_escape(exp.class_name(exp.train_class()[j]))
    lines = [f"**Label used in training:** {shown}"]
    if noisy[j]:
        lines.append(f":orange[:material/warning: **flipped** on purpose — the true class is "
                     f"{md_escape(exp.class_name(data.true_labels_train[j]))}]")
    else:
        lines.append("The label is the dataset's own (not flipped).")
    ids = getattr(data, "ids_train", None)
    if ids is not None:
        lines.append(f"**Sample id:** {md_escape(ids[j])}")
    st.markdown("  \n".join(lines))
    si = exp.self_influence()
    rank = int(np.sum(si > si[j])) + 1
    st.metric("Self-influence I(i, xᵢ)", ui.fmt(float(si[j])),
              help=f"Rank {rank} of {len(si)} (1 = most self-influential, the most suspicious).")
    st.caption(f"Rank {rank:,} of {len(si):,} by self-influence.")


def _removal_panel(effect) -> None:
    c1, c2 = st.columns(2)
    c1.metric("Test accuracy without it", f"{effect.accuracy_after:.2%}",
              delta=f"{100 * (effect.accuracy_after - effect.accuracy_before):+.2f} points",
              help=f"With it: {effect.accuracy_before:.2%} (the exact retrained model, not an estimate).")
    c2.metric("Mean test loss without it", f"{effect.loss_after:.5f}",
              delta=f"{effect.loss_after - effect.loss_before:+.2e}", delta_color="inverse",
              help=f"With it: {effect.loss_before:.5f}; the change is the mean influence over the test set.")
    fixed, broken = len(effect.became_correct), len(effect.became_wrong)
    st.caption(f"Removing it and retraining would fix {fixed} test prediction{'s' * (fixed != 1)} and break "
               f"{broken}.")


def _test_caption(exp, i: int, score: float) -> str:
    true, pred = exp.test_true_class()[i], exp.test_pred_class()[i]
    label = exp.class_name(true) if pred == true else f"{exp.class_name(true)} → {exp.class_name(pred)}"
    return f"test #{i} · {label} · {ui.fmt(score)}"


def _test_rows(exp, effect) -> None:
    """The test images it helps and hurts most; a button under each opens it in the gallery."""
    data = exp.data
    for kind, members, scores in (("helps", effect.helps, effect.helps_scores),
                                  ("hurts", effect.hurts, effect.hurts_scores)):
        st.markdown(f"**Test images it {kind} most ({len(members)})**")
        if not len(members):
            st.caption(f"It {kind} no test image.")
            continue
        picked = image_buttons([data.images_test[i] for i in members],
                               [_test_caption(exp, i, s) for i, s in zip(members, scores)], members,
                               key=f"tp_{kind}", button_label="Open #{i}", size=72, per_row=K // 2,
                               help="Open this test image in the influence gallery")
        if picked is not None:
            open_test_point(picked)


def _table(exp, effect, j: int) -> None:
    members = np.concatenate([effect.helps, effect.hurts]).astype(int)
    table = pd.DataFrame({"kind": ["helps"] * len(effect.helps) + ["hurts"] * len(effect.hurts),
                          "test #": members,
                          "label": [exp.class_name(c) for c in exp.test_true_class()[members]],
                          "prediction": [exp.class_name(c) for c in exp.test_pred_class()[members]],
                          "influence": np.concatenate([effect.helps_scores, effect.hurts_scores])})
    with st.expander("As a table, and every test image's influence (CSV)"):
        st.dataframe(table, hide_index=True, key="tp_table")
        csv = pd.DataFrame({"test #": np.arange(len(effect.influence)), "influence": effect.influence}).to_csv(
            index=False)
        st.download_button("Download its influence on every test image (CSV)", csv, file_name=f"training{j}.csv",
                           mime="text/csv", key="tp_csv", icon=":material/download:")


def _panel() -> None:
    exp = ui.current_experiment()
    left, right = st.columns([1, 3], gap="large")
    with left:
        j = _chosen(exp)
        _label_panel(exp, j)
    effect = exp.memo(("removal_effect", j, K),
                      lambda: exp.model.removal_effect(j, exp.data.X_test, exp.data.y_test, k=K),
                      label=f"what removing training image #{j} does")
    with right:
        st.subheader("If it were removed and the network retrained")
        _removal_panel(effect)
        _test_rows(exp, effect)
    _table(exp, effect, j)


with ui.friendly_errors("The training point"):
    st.fragment(_panel)()
