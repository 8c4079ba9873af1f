"""Training dynamics: influence at gradient-flow time t, exact (retraining without i for the same t)."""
import math

import numpy as np
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.dynamics import prefetch_times
from ifexplorer.experiments import training_time as studies
from ifexplorer.plots import dynamics as plots_dyn
from ifexplorer.plots.curves import time_curves_option
from ifexplorer.plots.style import FLIPPED, GREEN, GREY, HARMFUL, HELPFUL, SERIES
from ifexplorer.ui import md_escape, url_state

SAMPLE = 20  # test points over which Figures 6 and 7 average
PLAY_SECONDS = 1.0  # the play button's default step interval
SPEEDS = (0.25, 0.5, 1.0, 2.0)
CURVE_HEIGHT = 280  # px: the controls, the slider and both curves fit a 1280×720 window
STUDY_HEIGHT = 360  # px: Figures 6 and 7, full width

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


def _panel(times: list, i: int, k: int, window: tuple) -> None:
    """The chosen t, the test image with its verdict, both curves (on one screen, so the marker can be watched
    while playing), then the top-k sets at t. A fragment: the slider reruns only this panel; while playing it
    also reruns on a timer, stepping t through the play range (window: first, last time)."""
    ui.components.open_after_fragment_click()
    lo, hi = window
    if st.session_state.get("dyn_play"):  # one play step: the next time of the range, after its end back to its start
        at = times.index(st.session_state["time"])
        st.session_state["time"] = times[lo if at >= hi or at < lo else at + 1]
    t = st.select_slider("Training time t (log scale)", options=times, key="time", format_func=_fmt_t)
    url_state.publish_page(test=i, dk=k, t=t)
    out, top = exp.memo(("time_panel", t, i, k), lambda: _at_time(t, i, k))
    label = int(exp.test_true_class()[i])
    pred, correct = plots_dyn.verdict(out, label)
    left, mid, right = st.columns([1, 2, 2], gap="medium")
    with left:
        ui.show_image(data.images_test[i], f"test #{i}", 110)
        badge = ":green-badge[:material/check_circle: correct]" if correct else ":red-badge[:material/cancel: wrong]"
        st.markdown(f"label **{md_escape(exp.class_name(label))}**  \npredicts **{md_escape(exp.class_name(pred))}** "
                    f"{badge}  \nat t = {_fmt_t(t)}")
        st.caption("f_t(x) = " + ", ".join(ui.fmt(float(v)) for v in out[:10]))  # early: "+2.9e−4", not "+0.000"
    _curves(times, t, i, mid, right)
    ui.influence_rows(exp, top, when=f"at t = {_fmt_t(t)}", table_key="dyn_table", budget_px=860,
                      no_harmful="No harmful training points at this time (at t = 0 nothing has been learned).")
    if noisy.any():
        found = exp.memo(("mislabel_detection", t), lambda: studies.mislabel_detection(exp.model, noisy, t))
        st.caption(f"Self-influence at t = {_fmt_t(t)} finds flipped labels with ROC AUC **{found.auc:.2f}** "
                   f"(random: 0.50); the top 10% of the ranking holds {found.found[1]:.0%} of them.")


def _at_time(t: float, i: int, k: int):
    """(outputs f_t(x_i) (C,) or (1,), the top-k TopInfluences of test point i at time t)."""
    view = exp.model.at_time(t)
    x, y = data.X_test[i:i + 1], data.y_test[i:i + 1]
    return np.atleast_1d(view.predict(x)[0]), view.top_influences(x[0], y[0], k)


def _curves(times: list, t: float, i: int, left, right) -> None:
    """Test point i's outputs (with the decision boundary) and the loss and accuracy, over the time grid, with a
    marker at t; CURVE_HEIGHT px tall, side by side, so that both fit under the controls on a 720 px screen."""
    finite = np.asarray(times[:-1])
    curves = _training_curves(times)
    path = exp.memo(("path", i), lambda: studies.prediction_path(exp.model, data.X_test[i], finite))
    t_mark = min(t, finite[-1])
    left.echarts_chart(plots_dyn.prediction_curve_option(finite, path.predictions, t_mark, data.class_names,
                                                         f"Prediction for test #{i} over time"),
                       height=CURVE_HEIGHT, key="dyn_path",
                       alt=f"Output of the network for test image {i} over training time, the chosen time marked")
    right.echarts_chart(time_curves_option(
        finite, {"train loss": curves.train_loss, "test loss": curves.test_loss,
                 "test accuracy": curves.test_accuracy}, t_mark, "Loss and accuracy", "value",
        colours={"train loss": SERIES[5], "test loss": SERIES[6], "test accuracy": GREEN}),
        height=CURVE_HEIGHT, key="dyn_curves",
        alt="Train loss, test loss and test accuracy over training time, the chosen time marked")


def _training_curves(times: list):
    finite = np.asarray(times[:-1])
    return exp.memo("curves", lambda: studies.training_curves(exp.model, data.X_test, data.y_test, finite))


def default_play_range(times: list, train_loss) -> tuple:
    """(first, last) position in `times` of the play range: from the last grid time before the training loss has
    fallen by 2 % of its total fall (earlier, nothing visible changes) to ∞ (the last)."""
    loss = np.asarray(train_loss, dtype=np.float64)
    drop = loss[0] - loss.min()
    moved = np.flatnonzero(loss[0] - loss >= 0.02 * drop) if drop > 0 else np.array([0])
    first = max(0, int(moved[0]) - 1) if len(moved) else 0
    return first, len(times) - 1


def _studies(times: list, k: int) -> None:
    """The paper's Figure 6 (top-k turnover) and, with label noise, Figure 7 (flipped share)."""
    finite = np.asarray(times[:-1])
    sample = np.arange(min(SAMPLE, len(data.X_test)))
    X, y = data.X_test[sample], data.y_test[sample]
    st.subheader("How the most influential set turns over (Figure 6)")
    track = ui.with_progress(exp, ("topk", k), f"Top-{k} sets of {len(sample)} test images at {len(finite)} times",
                             lambda progress: studies.topk_tracking(exp.model, X, y, finite, k, progress))
    st.echarts_chart(time_curves_option(
        finite[1:], {"helpful + harmful (mean)": track.mean_turnover,
                     "helpful (mean)": track.helpful_turnover.mean(0),
                     "harmful (mean)": track.harmful_turnover.mean(0)},
        None, f"New members of the top-{k} sets between neighbouring times (mean over {len(sample)} test images)",
        "points replaced", colours={"helpful (mean)": HELPFUL, "harmful (mean)": HARMFUL,
                                    "helpful + harmful (mean)": GREY}), height=STUDY_HEIGHT, key="dyn_turnover",
        alt=f"How many members of the top-{k} sets change between neighbouring training times")
    if not noisy.any():
        st.caption("Set a label-noise fraction in the sidebar to see how flipped labels gain influence (Figure 7).")
        return
    st.subheader("Flipped labels among the most influential (Figure 7)")
    share = ui.with_progress(exp, ("noisy", k), "Share of flipped labels over time",
                             lambda progress: studies.noisy_share(exp.model, X, y, noisy, finite, k, progress))
    st.echarts_chart(time_curves_option(
        finite, {"share of flipped labels in the top-k": share.share, "test loss": share.test_loss,
                 "random choice": np.full(len(finite), share.base_rate)},
        None, "Flipped labels among the most influential points, and the test loss", "value",
        colours={"share of flipped labels in the top-k": FLIPPED, "test loss": SERIES[5], "random choice": GREY}),
        height=STUDY_HEIGHT, key="dyn_noisy",
        alt="Share of flipped labels among the most influential training points over training time")


def _controls(times: list) -> tuple[int, int, bool, float, tuple]:
    """(test index, k, playing, seconds per step, play range) from the rows above the panel; the time starts at
    the beginning of the play range (a link's t, snapped to the nearest grid time, wins)."""
    curves = _training_curves(times)
    default_range = default_play_range(times, curves.train_loss)
    t = st.session_state.get("time")
    if isinstance(t, float) and t not in times:  # a link's t, or a new model's grid
        finite = np.asarray(times[:-1])
        st.session_state["time"] = (times[-1] if math.isinf(t) else
                                    times[int(np.argmin(np.abs(np.log(finite) - math.log(max(t, 1e-300)))))])
    elif t not in times:
        st.session_state["time"] = times[(st.session_state.get("dyn_range") or default_range)[0]]
    st.session_state.setdefault("dyn_k", 6)
    c1, c2, c3, c4 = st.columns([1, 1.6, 0.7, 1.1], vertical_alignment="bottom")
    with c1:
        i = ui.test_index_input(exp)
    with c2:
        k = st.slider("How many neighbours (k)", 1, 12, key="dyn_k")
    with c3:
        playing = st.toggle("Play", key="dyn_play", help="Steps the time slider through the play range, then "
                                                         "starts the range again.")
    with c4.popover("Speed and range", icon=":material/tune:", width="stretch"):
        speed = st.selectbox("Step every", SPEEDS, index=SPEEDS.index(PLAY_SECONDS), key="dyn_speed",
                             format_func=lambda s: f"{s:g} s")
        window = st.select_slider("Play range", options=range(len(times)), value=default_range, key="dyn_range",
                                  format_func=lambda j: _fmt_t(times[j]),
                                  help="Play steps from the first to the last time chosen here. By default it "
                                       "starts where the training loss begins to fall (earlier, nothing changes).")
    return i, int(k), playing, float(speed), (int(window[0]), int(window[1]))


with ui.friendly_errors("The training-dynamics view"):
    ui.with_progress(exp, "eigh", "Eigendecomposition of the kernel (once per model)",
                     lambda progress: exp.model.eigendecomposition(progress))
    grid = exp.memo("times", _times)
    # every slider time's test-independent data in a few batched products: a move then costs one pass over V
    ui.with_progress(exp, "prefetch", f"Leave-one-out data for the {len(grid) - 1} slider times (once per model)",
                     lambda progress: prefetch_times(exp.model, grid[:-1], progress=progress,
                                                     self_terms=bool(noisy.any())))
    test, neighbours, play, seconds, play_range = _controls(grid)
    url_state.keep_only({"test", "dk", "t"})
    st.fragment(_panel, run_every=seconds if play else None)(grid, test, neighbours, play_range)
    # computed on first opening (the top-k sets of 200 test images at every slider time), not on every first visit
    with ui.lazy_section("How the most influential set turns over in training (Figure 6; with label noise, "
                         "Figure 7)", key="more_turnover", icon=":material/timeline:") as box:
        if box.open:
            _studies(grid, neighbours)
