"""Training dynamics: influence at gradient-flow time t, exact (retraining without i for the same t)."""
import math

import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots

try:  # the paper's time studies (Figures 6 and 7); the page works without them
    from ifexplorer.experiments import dynamics as studies
except ImportError:
    studies = None

st.title("Training dynamics")
ui.explain(r"""
Trained by gradient flow from a network whose output starts at 0, the wide network at time $t$ is
$f_t(x) = k(x)^\top \beta(t)$ with $\beta(t) = \varphi_t(A)\,y$, $\varphi_t(\mu) = (1-e^{-\mu t})/\mu$, $A = H+\lambda I$;
$t\to\infty$ is the fully trained model. The influence at time $t$ compares with a network trained **without** point $i$
for the **same** time: $I_t(i,x) = \ell(f_t^{-i}(x), y_x) - \ell(f_t(x), y_x)$ — exact, via one eigendecomposition of $A$
and a rational approximation of $\varphi_t$ (MATH §6). Early in training the large-eigenvalue directions (broad,
typical patterns) are learned first; atypical and mislabeled points gain influence late.
""")

exp = ui.current_experiment()
data = exp.data
noisy, train_cls = exp.noisy_mask(), exp.train_class()


def _times() -> list:
    """Log-spaced times covering the kernel's time scales, then ∞."""
    if studies is not None and hasattr(studies, "time_grid"):
        grid = np.asarray(studies.time_grid(exp.model, n_points=41), dtype=float)
    else:
        lo, hi = exp.spectrum()
        grid = np.geomspace(0.1 / (hi + exp.config.reg), 10.0 / (lo + exp.config.reg), 41)
    grid = [float(f"{t:.3g}") for t in grid if np.isfinite(t) and t > 0]
    return sorted(set(grid)) + [math.inf]


def _fmt_t(t: float) -> str:
    return "∞ (fully trained)" if math.isinf(t) else f"{t:.3g}"


with ui.friendly_errors("The training-dynamics view"):
    ui.with_progress(exp, "eigh", "Eigendecomposition of the kernel (once per model)",
                     lambda progress: exp.model.eigendecomposition(progress))
    c1, c2, _ = st.columns([1, 2, 1])
    with c1:
        i = ui.test_index_input(exp)
    with c2:
        k = st.slider("How many neighbours (k)", 1, 12, 6, key="dyn_k")
    times = exp.memo("times", _times)
    x, y = data.X_test[i:i + 1], data.y_test[i:i + 1]

    @st.fragment
    def panel() -> None:
        default = times[len(times) // 2]
        t = st.select_slider("Training time t (log scale)", options=times, value=default, key="time",
                             format_func=_fmt_t)
        view = exp.model.at_time(t)
        out = np.atleast_1d(view.predict(x)[0])
        pred = exp.class_of(out[None, :] if out.size > 1 else out)[0]
        top = view.top_influences(x[0], y[0], int(k))
        left, right = st.columns([1, 4], gap="large")
        with left:
            ui.show_image(data.images_test[i], f"test #{i} · label {exp.class_name(exp.test_true_class()[i])}", 150)
            st.metric(f"prediction at t = {_fmt_t(t)}", exp.class_name(pred),
                      help="f_t(x) = " + ", ".join(f"{v:+.3f}" for v in out[:10]))
            st.caption("f_t(x) = " + ", ".join(f"{v:+.3f}" for v in out[:10]))
        with right:
            st.markdown(f"**Most helpful at t = {_fmt_t(t)}**")
            ui.image_row([data.images_train[j] for j in top.helpful],
                         [f"#{j} · {exp.class_name(train_cls[j])} · {ui.fmt(s)}" + (" ⚠" if noisy[j] else "")
                          for j, s in zip(top.helpful, top.helpful_scores)], size=72, per_row=max(6, int(k)))
            st.markdown(f"**Most harmful at t = {_fmt_t(t)}**")
            if len(top.harmful):
                ui.image_row([data.images_train[j] for j in top.harmful],
                             [f"#{j} · {exp.class_name(train_cls[j])} · {ui.fmt(s)}" + (" ⚠" if noisy[j] else "")
                              for j, s in zip(top.harmful, top.harmful_scores)], size=72, per_row=max(6, int(k)))
            else:
                st.caption("No harmful training points at this time (at t = 0 nothing has been learned).")
        st.expander("As a table").dataframe(pd.DataFrame({
            "kind": ["helpful"] * len(top.helpful) + ["harmful"] * len(top.harmful),
            "training #": np.concatenate([top.helpful, top.harmful]).astype(int),
            "influence": np.concatenate([top.helpful_scores, top.harmful_scores])}),
            hide_index=True, key="dyn_table")
        _curves(t, i)

    def _curves(t: float, i: int) -> None:
        if studies is None:
            st.info("Loss curves, prediction paths and top-k turnover over time are coming soon "
                    "(they need ifexplorer.experiments.dynamics).", icon=":material/hourglass_top:")
            return
        _study_plots(t, i)

    def _study_plots(t: float, i: int) -> None:  # filled in when experiments.dynamics lands
        st.info("Time studies: coming soon.", icon=":material/hourglass_top:")

    panel()
