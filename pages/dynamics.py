"""Training dynamics: influence at gradient-flow time t, exact (retraining without i for the same t)."""
import html
import math

import numpy as np
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots
from ifexplorer.experiments import training_time as studies
from ifexplorer.ui import md_escape

SAMPLE = 20  # test points over which Figures 6 and 7 average
PLAY_SECONDS = 1.0  # the play button's step interval

ui.page_header("Training dynamics", r"""
Trained by gradient flow from a network whose output starts at 0, the wide network at time $t$ is
$f_t(x) = k(x)^\top \beta(t)$ with $\beta(t) = \varphi_t(A)\,y$, $\varphi_t(\mu) = (1-e^{-\mu t})/\mu$,
$A = H+\lambda I$; $t\to\infty$ is the fully trained model. The influence at time $t$ compares with a network
trained **without** point $i$ for the **same** time: $I_t(i,x) = \ell(f_t^{-i}(x), y_x) - \ell(f_t(x), y_x)$ —
exact, via one eigendecomposition of $A$ and a rational approximation of $\varphi_t$ (theory §6). Early in
training the large-eigenvalue directions (broad, typical patterns) are learned first; atypical and mislabeled
points gain influence late.
""")

exp = ui.current_experiment()
data = exp.data
noisy = exp.noisy_mask()


def _times() -> list:
    """The study's log-spaced time grid (covering the kernel's time scales), then ∞."""
    return [float(t) for t in studies.time_grid(exp.model, n_points=41)] + [math.inf]


def _fmt_t(t: float) -> str:
    return "∞ (fully trained)" if math.isinf(t) else f"{t:.3g}"


def _panel(times: list, i: int, k: int) -> None:
    """The test image, its prediction and top-k sets at the chosen t, the curves, the mislabel detection.
    A fragment: moving the slider reruns only this panel; while playing it also reruns on a timer."""
    if st.session_state.get("dyn_play"):  # one play step: the next time on the grid, after ∞ back to the start
        st.session_state["time"] = times[(times.index(st.session_state["time"]) + 1) % len(times)]
    t = st.select_slider("Training time t (log scale)", options=times, key="time", format_func=_fmt_t)
    out, top = exp.memo(("time_panel", t, i, k), lambda: _at_time(t, i, k))
    pred = exp.class_of(out[None, :] if out.size > 1 else out)[0]
    left, right = st.columns([1, 4], gap="large")
    with left:
        ui.show_image(data.images_test[i], f"test #{i} · label {exp.class_name(exp.test_true_class()[i])}", 150)
        outputs = ", ".join(f"{v:+.3f}" for v in out[:10])
        st.metric("Prediction", md_escape(exp.class_name(pred)), help=f"At t = {_fmt_t(t)}: f_t(x) = {outputs}")
        st.caption(f"f_t(x) = {outputs}")
    with right:
        ui.influence_rows(exp, top, when=f"at t = {_fmt_t(t)}", size=72, per_row=max(8, k), table_key="dyn_table",
                          no_harmful="No harmful training points at this time (at t = 0 nothing has been learned).")
    _curves(times, t, i)
    if noisy.any():
        found = exp.memo(("mislabel_detection", t), lambda: studies.mislabel_detection(exp.model, noisy, t))
        st.caption(f"Self-influence at t = {_fmt_t(t)} finds flipped labels with ROC AUC **{found.auc:.2f}** "
                   f"(random: 0.50); the top 10% of the ranking holds {found.found[1]:.0%} of them.")


def _at_time(t: float, i: int, k: int):
    """(outputs f_t(x_i) (C,) or (1,), the top-k TopInfluences of test point i at time t)."""
    view = exp.model.at_time(t)
    x, y = data.X_test[i:i + 1], data.y_test[i:i + 1]
    return np.atleast_1d(view.predict(x)[0]), view.top_influences(x[0], y[0], k)


def _curves(times: list, t: float, i: int) -> None:
    """Loss and accuracy, and test point i's outputs, over the time grid, with a marker at t."""
    finite = np.asarray(times[:-1])
    curves = exp.memo("curves", lambda: studies.training_curves(exp.model, data.X_test, data.y_test, finite))
    path = exp.memo(("path", i), lambda: studies.prediction_path(exp.model, data.X_test[i], finite))
    t_mark = min(t, finite[-1])
    left, right = st.columns(2)
    left.plotly_chart(plots.time_marker_figure(
        finite, {"train loss": curves.train_loss, "test loss": curves.test_loss,
                 "test accuracy": curves.test_accuracy}, t_mark, "Loss and accuracy during training", "value"),
        key="dyn_curves")
    preds = np.asarray(path.predictions)
    series = ({"f_t(x)": preds} if preds.ndim == 1 else  # plotly renders tags in legend text: names escaped
              {f"class {html.escape(exp.class_name(c))}": preds[:, c] for c in range(min(preds.shape[1], 10))})
    right.plotly_chart(plots.time_marker_figure(finite, series, t_mark, f"Prediction for test #{i} over time",
                                                "output f_t(x)"), key="dyn_path")


def _studies(times: list, k: int) -> None:
    """The paper's Figure 6 (top-k turnover) and, with label noise, Figure 7 (flipped share)."""
    finite = np.asarray(times[:-1])
    sample = np.arange(min(SAMPLE, len(data.X_test)))
    X, y = data.X_test[sample], data.y_test[sample]
    st.subheader("How the most influential set turns over (Figure 6)")
    track = ui.with_progress(exp, ("topk", k), f"Top-{k} sets of {len(sample)} test images at {len(finite)} times",
                             lambda progress: studies.topk_tracking(exp.model, X, y, finite, k, progress))
    st.plotly_chart(plots.time_marker_figure(
        finite[1:], {"helpful + harmful (mean)": track.mean_turnover,
                     "helpful (mean)": track.helpful_turnover.mean(0),
                     "harmful (mean)": track.harmful_turnover.mean(0)},
        None, f"New members of the top-{k} sets between neighbouring times (mean over {len(sample)} test images)",
        "points replaced"), key="dyn_turnover")
    if not noisy.any():
        st.caption("Set a label-noise fraction in the sidebar to see how flipped labels gain influence (Figure 7).")
        return
    st.subheader("Flipped labels among the most influential (Figure 7)")
    share = ui.with_progress(exp, ("noisy", k), "Share of flipped labels over time",
                             lambda progress: studies.noisy_share(exp.model, X, y, noisy, finite, k, progress))
    st.plotly_chart(plots.time_marker_figure(
        finite, {"share of flipped labels in the top-k": share.share, "test loss": share.test_loss,
                 "random choice": np.full(len(finite), share.base_rate)},
        None, "Flipped labels among the most influential points, and the test loss", "value"), key="dyn_noisy")


def _controls(times: list) -> tuple[int, int, bool]:
    """(test index, k, playing) from the row above the panel; the time starts mid-grid."""
    if st.session_state.get("time") not in times:  # first visit, or a new model with its own time grid
        st.session_state["time"] = times[len(times) // 2]
    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    with c1:
        i = ui.test_index_input(exp)
    with c2:
        k = st.slider("How many neighbours (k)", 1, 12, 6, key="dyn_k")
    with c3:
        playing = st.toggle("Play: step t forward", key="dyn_play", help=f"Moves the time slider one step every "
                            f"{PLAY_SECONDS:g} s (back to the start after ∞).")
    return i, int(k), playing


with ui.friendly_errors("The training-dynamics view"):
    ui.with_progress(exp, "eigh", "Eigendecomposition of the kernel (once per model)",
                     lambda progress: exp.model.eigendecomposition(progress))
    grid = exp.memo("times", _times)
    test, neighbours, play = _controls(grid)
    st.fragment(_panel, run_every=PLAY_SECONDS if play else None)(grid, test, neighbours)
    _studies(grid, neighbours)
