"""Fragility: does influence survive depth? Basu's axes (depth × width × λ) on real deep ReLU networks."""
import os
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.experiments.fragility import (
    LABELS,
    METHODS,
    FragilityConfig,
    committed_studies,
    ihvp_error_vs_depth,
    load_study,
    run_study,
)
from ifexplorer.experiments.network_check import training_subset
from ifexplorer.plots import fragility as P
from ifexplorer.ui.experiment import shared

ui.page_header("Fragility", r"""
Basu et al. found that influence estimates get worse as networks get **deeper**, better as they get **wider**, and
that **weight decay** λ matters. Here real depth-$L$ ReLU networks (both copies of the doubling initialization, so
$f_0 \equiv 0$) are trained on $L(\theta)=\tfrac12\sum_i\|f(x_i)-y_i\|^2+\tfrac\lambda2\|\theta-\theta(0)\|^2$ and
**retrained without each of a few training points**. The actual change of the test loss is compared with

* the **NTK influence** of the infinitely wide depth-$L$ network (theory §4, §9),
* Koh & Liang's **IHVP** with the network's Gauss–Newton Hessian $J^\top J+\lambda I$ and with its true Hessian,
  and the practitioner's solvers **LiSSA** and **conjugate gradient** (truncated, as they are used),
* the **PBRF** (Bae et al., theory §10): what the IHVP really approximates.

Two effects are separated. *Leaving the lazy regime*: the network's activation patterns flip and its kernel moves
away from the NTK (flip rate, kernel gap). *The IHVP's linearization*: even where the network is exactly linear in
its weights, the IHVP keeps only the share $\lambda Q_{ii}$ of the true change, $Q=(H+\lambda I)^{-1}$ (theory §5);
the chart at the top shows its loss $1-\lambda Q_{ii}$ from the kernel alone, at every depth.
""")

GPU_FREE_WIDTHS = [16, 32, 64, 128, 256, 512]
RUN_REGS = [0.01, 0.1, 1.0]
DEPTHS = [1, 2, 3, 4, 5]
NTK_REGS = (1e-3, 1e-2, 1e-1, 1.0)
LDS_TEST, LDS_SUBSETS = 50, 50
OWN = "your run on the sidebar's dataset"


class RunSettings(NamedTuple):
    """What the user chose for a study (a NamedTuple compares as a tuple across reruns: it keys the memo)."""
    depths: tuple
    widths: tuple
    regs: tuple
    n_train: int
    n_examined: int
    n_test: int


@st.fragment
def _ihvp_error_panel(exp) -> None:
    """IHVP error 1 − λQ_ii against depth from the depth-L kernel on the sidebar's training set (no training)."""
    data = exp.data

    def compute(progress):
        return ihvp_error_vs_depth(data.X_train, data.y_train, DEPTHS, NTK_REGS, progress=progress)

    table = ui.with_progress(exp, ("fragility_ihvp_error", tuple(DEPTHS), NTK_REGS),
                             "Fitting the depth-L kernels", compute)
    st.plotly_chart(P.ihvp_error_depth_figure(table.depths, table.regs, table.mean_error, table.lower_bound,
                                              table.upper_bound), key="frag_ihvp_depth")
    st.caption(f"On the sidebar's {len(data.X_train)} training points: mean over points of the IHVP's relative loss "
               "1 − λQ_ii (solid) and Theorem 3's bounds from the kernel's spectrum (dotted). Exact kernel algebra.")
    lam, m = exp.config.reg, min(LDS_TEST, len(data.X_test))

    def lds(progress):
        return ihvp_error_vs_depth(data.X_train, data.y_train, DEPTHS, [lam], data.X_test[:m], data.y_test[:m],
                                   n_subsets=LDS_SUBSETS, progress=progress)

    table = ui.with_progress(exp, ("fragility_lds", tuple(DEPTHS), lam, m, LDS_SUBSETS),
                             "Refitting the kernel on random half-subsets (LDS)", lds)
    st.markdown(f"**Linear datamodeling score in the NTK regime** (theory §11: exact refits on {LDS_SUBSETS} random "
                f"half-subsets, {m} test points, the sidebar's λ = {lam:g})")
    st.dataframe(pd.DataFrame({"depth L": table.depths, "mean 1 − λQ_ii": table.mean_error[:, 0],
                               "LDS of exact leave-one-out": table.lds_exact[:, 0],
                               "LDS of the IHVP": table.lds_ihvp[:, 0]}),
                 hide_index=True, key="frag_lds_table")
    st.caption("LDS scores the ordering of additive group effects, not their size: the IHVP loses only through the "
               "variation of λQ_ii across points, so its LDS stays close to exact leave-one-out's.")


def _run_settings(n_all: int, m_all: int) -> RunSettings:
    c1, c2, c3 = st.columns(3)
    depths = c1.multiselect("Depths", DEPTHS, default=[1, 2, 3], key="frag_run_depths")
    widths = c2.multiselect("Widths", GPU_FREE_WIDTHS, default=[32, 128], key="frag_run_widths",
                            help="Hidden units per layer (even: the doubling initialization runs two copies).")
    regs = c3.multiselect("λ values", RUN_REGS, default=[0.1, 1.0], key="frag_run_regs",
                          help="Weaker λ needs many more gradient steps.")
    c4, c5, c6 = st.columns(3)
    most = max(4, min(n_all, 200))
    n_train = c4.slider("Training points used", 4, most, min(most, 40), key="frag_run_n_train",
                        help="A random subset of the sidebar's training set.")
    n_examined = c5.number_input("Retrained points per cell", 2, max(2, min(20, n_train)), min(4, n_train),
                                 key="frag_run_examined")
    n_test = c6.number_input("Test points", 1, max(1, min(10, m_all)), min(3, m_all), key="frag_run_test")
    return RunSettings(tuple(sorted(depths)), tuple(sorted(widths)), tuple(sorted(regs)), int(n_train),
                       int(n_examined), int(n_test))


def _own_run(exp):
    """The study on the sidebar's dataset, once the button was pressed (memoised, stoppable); else None."""
    settings = _run_settings(len(exp.data.X_train), len(exp.data.X_test))
    key = ("fragility_study", settings)
    runs = st.session_state.setdefault("fragility_runs", set())

    def start():
        runs.add(settings)
        st.session_state["frag_show_own"] = True  # show the new run once it exists
        stopped = exp.peek(key)
        if stopped is not None and stopped.interrupted:
            ui.forget(exp, key)

    st.button("Run the fragility study", type="primary", icon=":material/play_arrow:", key="frag_run",
              disabled=not (settings.depths and settings.widths and settings.regs), on_click=start)
    if settings not in runs:
        return None
    stop_slot = st.empty()
    if exp.peek(key) is None:
        stop_slot.button("Stop", icon=":material/stop:", key="frag_stop",
                         help="Ends the study after the network being trained now; finished cells are kept.")
    data = exp.data

    def compute(progress, should_stop):
        X, y = training_subset(data.X_train, data.y_train, settings.n_train, seed=exp.config.seed)
        config = FragilityConfig(depths=settings.depths, widths=settings.widths, regs=settings.regs,
                                 n_examined=settings.n_examined, n_test=settings.n_test, lds_subsets_ntk=100,
                                 lds_test=min(50, len(data.X_test)), lissa_depth=50, cg_iters=20, threads=1,
                                 seed=exp.config.seed, extra=dict(dataset=exp.config.dataset))
        return run_study(X, y, data.X_test, data.y_test, config, progress=progress, should_stop=should_stop)

    result = ui.with_progress(exp, key, "Training and retraining the networks", compute, stoppable=True)
    stop_slot.empty()
    if result.interrupted:
        st.warning(f"Stopped early: {len(result.cells)} finished cell(s) kept. Press **Run the fragility study** to "
                   "run it again in full.", icon=":material/stop_circle:")
    return result if result.cells else None


def _studies(own, dataset: str) -> dict:
    """{label: FragilityResult}: your run first (when there is one), then the committed studies, those on the
    sidebar's dataset first."""
    out = {OWN: own} if own is not None else {}
    committed = committed_studies()
    for label in sorted(committed, key=lambda lab: not lab.startswith(f"{dataset},")):
        path = committed[label]
        out[label] = _load(str(path))
    return out


def _load(path: str):
    """A committed study, read once per server (the experiment store's shared memo, keyed by file and mtime)."""
    return shared(("fragility_committed", path, os.path.getmtime(path)), lambda: load_study(path))


def _show(result) -> None:
    """Heatmap over depth × width for the chosen method and λ, then the chosen cell's scatter and numbers."""
    depths = sorted({c.depth for c in result.cells})
    widths = sorted({c.width for c in result.cells})
    regs = sorted({c.reg for c in result.cells})
    methods = [m for m in METHODS if any(m in c.scores for c in result.cells)]
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("Method", methods, format_func=LABELS.get, key="frag_method")
    reg = c2.select_slider("λ", regs, value=regs[len(regs) // 2], key="frag_reg", format_func=lambda v: f"{v:g}")
    stat = c3.radio("Correlation", ["pearson", "spearman"], horizontal=True, key="frag_stat",
                    format_func=str.capitalize)
    d, w, values = result.grid(method, reg, stat)
    st.plotly_chart(P.heatmap_figure(d, w, values, f"{LABELS[method]} against retraining, λ = {reg:g}",
                                     stat.capitalize()), key="frag_heatmap")
    c4, c5 = st.columns(2)
    depth = c4.select_slider("Depth", depths, value=depths[-1], key="frag_depth")
    width = c5.select_slider("Width", widths, value=widths[-1], key="frag_width")
    cell = result.cell(depth, width, reg)
    if cell is None:
        st.info(f"The study has no cell at depth {depth}, width {width}, λ = {reg:g}.")
        return
    if cell.status != "done" or not cell.completed.any():
        st.warning(f"This cell has no finished retrains: {ui.md_escape(cell.message or cell.status)}")
        return
    _cell_metrics(cell)
    keep = [m for m in ("ntk", "ihvp_gn", "pbrf") if m in cell.estimates]
    st.plotly_chart(P.scatter_figure(cell.actual[cell.completed], {m: cell.estimates[m][cell.completed] for m in keep},
                                     cell.scores, f"depth {depth}, width {width}, λ = {reg:g}"), key="frag_scatter")
    if cell.not_converged:
        st.caption(f"Retrains that did not converge (left out): {', '.join(map(str, cell.not_converged))}.")


def _cell_metrics(cell) -> None:
    cols = st.columns(4)
    cols[0].metric("activation flips θ(0) → θ_s", f"{100 * cell.flip_fraction:.1f}%",
                   help="Share of the hidden units' signs (all layers, training points) that training changed.")
    cols[1].metric("kernel gap after training", f"{cell.kernel_gap_trained:.3f}",
                   help=f"‖K(θ_s) − H_L‖/‖H_L‖ on the training points (at θ(0): {cell.kernel_gap_init:.3f}).")
    kept = float(np.nanmean(cell.ihvp_retention)) if np.isfinite(cell.ihvp_retention).any() else float("nan")
    cols[2].metric("IHVP keeps", f"{kept:.3f}", help="Mean over the retrained points of the Gauss–Newton IHVP's "
                   "output change divided by the retrained one (least squares over test points).")
    cols[3].metric("λQ_ii (theory §5)", f"{float(np.mean(cell.lam_q_kernel)):.3f}",
                   help="What the IHVP keeps in the NTK limit: λ times the diagonal of (H_L + λI)⁻¹.")


with ui.friendly_errors("The fragility study"):
    exp = ui.current_experiment()
    st.subheader("The IHVP's loss from the kernel alone")
    _ihvp_error_panel(exp)
    st.subheader("Correlation with real retraining")
    with st.expander("Run the study on the sidebar's dataset (trains real networks: minutes on a CPU)"):
        own = _own_run(exp)
    studies = _studies(own, exp.config.dataset)
    if own is not None and st.session_state.pop("frag_show_own", False):
        st.session_state["frag_study"] = OWN
    if not studies:
        st.info("No study to show yet: open the expander above and press **Run the fragility study**.")
        st.stop()
    label = st.selectbox("Study", list(studies), key="frag_study")  # plain-text widget: no markdown to escape
    result = studies[label]
    cfg = result.config
    st.caption(ui.md_escape(f"{len(result.cells)} cells · {cfg.get('n_train')} training points, "
                            f"{cfg.get('n_examined')} retrained and {cfg.get('n_test')} test points per cell · "
                            f"{result.seconds / 60:.0f} min on {result.device}"
                            + (" · interrupted (finished cells only)" if result.interrupted else "")))
    _show(result)
