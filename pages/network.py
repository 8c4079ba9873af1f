"""Network check: does the NTK influence match real leave-one-out retraining of a finite network?"""
import json
import time
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.device import resolve_device
from ifexplorer.experiments.network_check import METHODS, figures, run_validation, training_subset
from ifexplorer.plots.network import LABELS
from ifexplorer.ui import url_state
from ifexplorer.ui.peers import peers_panel

ui.page_header("Network check", r"""
Everything else in this app uses the infinitely wide network (the NTK). Here a real two-layer ReLU network of
finite width is trained by gradient descent on $L(W) = \tfrac12\sum_i (f(x_i)-y_i)^2 + \tfrac\lambda2\|W-W(0)\|^2$,
then **retrained without each of a few training points** from the same $W(0)$. The actual change of the test loss
is compared with the NTK influence $I(i,x)$ and with the practitioner's estimates — the exact inverse-Hessian
product (IHVP), LiSSA and conjugate gradient — by Pearson and Spearman correlation (the paper's Table 1).
Agreement rises with width.

The network starts with neurons in pairs of opposite output sign, so its initial output is exactly zero (theory §7);
half of the retrained points are the most influential ones, the rest are random. Retraining is slow on a CPU
(seconds per network at width 4096), so the study runs on a random subset of the training set and only when you
press the button.
""")

GPU = resolve_device("auto").type == "cuda"
WIDTHS = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
REGS = [0.01, 0.03, 0.1, 0.3, 1.0]


class Settings(NamedTuple):
    """What the user chose for one study; it keys the memoised result. A NamedTuple compares as a tuple: each
    run of this page defines the class anew, and a dataclass would then never equal the last run's."""
    n_train: int
    reg: float
    n_retrain: int
    widths: tuple
    n_test: int
    methods: tuple


def _column_names(columns) -> dict:
    """Readable table headers for ValidationResult.table()'s keys."""
    names = {"flip_fraction": "activation flips", "seconds_per_retrain": "s / retrain"}
    for m in METHODS:
        names[f"{m}_pearson"], names[f"{m}_spearman"] = f"{LABELS[m]} Pearson", f"{LABELS[m]} Spearman"
    return {c: names.get(c, c) for c in columns}


def _settings(n_all: int, m_all: int) -> Settings:
    """The study's inputs: sizes and λ on one row, widths and estimates (long lists) on the next."""
    c1, c2, c3, c4 = st.columns(4)
    most = min(n_all, 2000 if GPU else 400)
    if most > 10:
        n_train = c1.slider("Training points used", 10, most, min(most, 100), step=10 if most >= 20 else 1,
                            key="net_n_train", help="A random subset of the sidebar's training set.")
    else:
        n_train = most
        c1.metric("Training points used", n_train, help="All of the sidebar's training set.")
    reg = c2.select_slider("λ (pull to W(0))", REGS, value=0.1, key="net_reg",
                           help="The network's own λ; weaker λ needs many more gradient steps.")
    n_retrain = c3.number_input("Retrained points per width", 2, max(2, min(200, n_train)), min(12, max(2, n_train)),
                                key="net_n_retrain")
    n_test = c4.number_input("Test points", 1, min(20, m_all), min(3, m_all), key="net_n_test")
    # pills wrap onto a second line instead of clipping (a multiselect cut LiSSA and CG at 1280 px)
    widths = st.pills("Widths", WIDTHS, selection_mode="multi", default=[256, 1024] if not GPU else [1024, 4096, 16384],
                      key="net_widths")
    methods = st.pills("Estimates", list(METHODS), selection_mode="multi", default=list(METHODS),
                       format_func=LABELS.get, key="net_methods")
    st.caption(f"**λ here ({reg:g}) is the finite network's own, not the sidebar's (λ = {exp.config.reg:g}, the NTK "
               "model of the other pages).** Gradient descent needs more steps as λ shrinks (the loss's "
               "condition number grows like 1/λ), so a real network at the sidebar's λ would take far longer to "
               "train and retrain; 0.1 keeps the check to minutes. The NTK influence compared here is computed at "
               "this page's λ.")
    return Settings(int(n_train), float(reg), int(n_retrain), tuple(sorted(widths)), int(n_test), tuple(methods))


def timed(progress):
    """progress(fraction, message) with "about N s left" appended (elapsed / fraction · (1 − fraction))."""
    start = time.perf_counter()

    def report(fraction: float, message: str) -> None:
        elapsed = time.perf_counter() - start
        left = elapsed / fraction * (1 - fraction) if fraction > 0.02 else None
        eta = f" · about {_duration(left)} left" if left is not None and fraction < 1 else ""
        progress(fraction, f"{message}{eta} ({_duration(elapsed)} so far)")
    return report


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def stop_soon(progress, should_stop):
    """progress that ends the study at the first report after Stop (every 25-50 gradient steps: well within a
    second): once, it raises KeyboardInterrupt, which the study's retraining and width loops catch keeping every
    finished retrain; the networks being trained at that moment are dropped."""
    raised = []

    def report(fraction: float, message: str) -> None:
        progress(fraction, message)
        if should_stop() and not raised:
            raised.append(True)
            raise KeyboardInterrupt
    return report


def scale_ratio(predicted, actual) -> float:
    """The least-squares factor a with predicted ≈ a · actual: 1 = the right size, 0.33 = three times too small
    (a correlation cannot see it: Pearson's r is the same for any a > 0)."""
    p, a = np.ravel(predicted), np.ravel(actual)
    return float(p @ a / (a @ a)) if a @ a > 0 else float("nan")


def _run(settings: Settings):
    """The study for these settings once the button was pressed (memoised; stoppable), else None (nothing run yet,
    or stopped before a width finished)."""
    key = ("network_check", settings)
    runs = st.session_state.setdefault("network_runs", set())

    def start():
        runs.add(settings)
        stopped = exp.peek(key)
        if stopped is not None and stopped.interrupted:
            ui.forget(exp, key)  # run a stopped study again, in full

    # a callback (not the return value): it survives a rerun that arrives before the page runs
    st.button("Run the network check", type="primary", icon=":material/play_arrow:", key="net_run",
              disabled=not settings.widths or not settings.methods, on_click=start)
    if settings not in runs:
        st.info("Choose the settings and press **Run the network check** (it trains and retrains real networks).",
                icon=":material/model_training:")
        return None
    stop_slot = st.empty()
    if exp.peek(key) is None:
        stop_slot.button("Stop", icon=":material/stop:", key="net_stop",
                         help="Ends the study after the networks being retrained now; finished retrains are kept.")

    def compute(progress, should_stop):
        X, y = training_subset(data.X_train, data.y_train, settings.n_train, seed=exp.config.seed)
        return run_validation(X, y, data.X_test, data.y_test, widths=settings.widths, reg=settings.reg,
                              n_retrain=settings.n_retrain, n_test=settings.n_test, methods=settings.methods,
                              seed=exp.config.seed, progress=stop_soon(timed(progress), should_stop),
                              should_stop=should_stop)

    result = ui.with_progress(exp, key, "Training and retraining the networks", compute, stoppable=True)
    stop_slot.empty()
    if result.interrupted:
        done = ", ".join(f"{w.n_retrained} at width {w.width}" for w in result.widths) or "none"
        st.warning(f"Stopped early. Finished retrains kept: {done} (of {settings.n_retrain} per width). "
                   "Press **Run the network check** to run the whole study again.", icon=":material/stop_circle:")
        if not result.widths:
            return None
    return result


def _results(result) -> None:
    """Table 1 at the largest width as metrics, the table of every width, the correlation and scatter plots."""
    largest = result.widths[-1]
    st.markdown(f"**Pearson correlation with real retraining at width {largest.width}**")
    for col, m in zip(st.columns(4), [m for m in METHODS if m in largest.scores]):
        score = largest.scores[m]
        col.metric(LABELS[m], f"{score['pearson']:.3f}",
                   help=f"Spearman {score['spearman']:.3f}; relative error {score['relative_error']:.3f}")
    ratios = {m: scale_ratio(largest.predicted[m], largest.actual) for m in METHODS if m in largest.predicted}
    st.markdown("**Size of each estimate against the real change** (1 = right size): " + " · ".join(
        f"{LABELS[m]} **{r:.2f}×**" for m, r in ratios.items()))
    st.caption("A correlation ignores scale: an estimate three times too small everywhere has the same Pearson "
               "correlation as the right one. So a high Pearson for the IHVP does not mean its numbers are right — "
               "the factor above says how far off their size is. The IHVP is one Newton step with the full-data "
               "Hessian, so each point's change is shrunk by λQᵢᵢ = 1 − hᵢᵢ, its leverage (theory §5): for points "
               "the fit leans on, several times too small.")
    st.caption(f"{result.device} · {result.seconds:.0f} s in all · activation patterns flipped during training: "
               + ", ".join(f"{100 * w.train['flip_fraction']:.1f}% at width {w.width}" for w in result.widths))
    table = pd.DataFrame(result.table())
    st.dataframe(table.rename(columns=_column_names(table.columns)), hide_index=True, key="net_table")
    figs = figures(result)
    st.plotly_chart(figs["correlation_vs_width"], key="net_corr")
    shown = st.selectbox("Scatter for width", [w.width for w in result.widths], index=len(result.widths) - 1,
                         key="net_scatter_width")
    st.plotly_chart(figs[f"scatter_w{shown}"], key="net_scatter")
    st.download_button("Download all numbers (JSON)", json.dumps(result.to_dict(), indent=1),
                       file_name="network_check.json", mime="application/json", key="net_download")


url_state.keep_only(set())  # no other page's selection in this page's link
with ui.friendly_errors("The network check"):
    exp = ui.current_experiment()
    data = exp.data
    result = _run(_settings(len(data.X_train), len(data.X_test)))
    if result is not None:
        _results(result)
peers_panel()  # the committed peers benchmark (docs/peers.json), ifexplorer/ui/peers.py: shown before a run too
