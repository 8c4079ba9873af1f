"""IHVP error: how far Koh & Liang's influence estimate is from the exact leave-one-out influence."""
import numpy as np
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots
from ifexplorer.density import log_density
from ifexplorer.experiments.ihvp import error_vs_density, error_vs_reg

REGS = np.geomspace(1e-4, 10.0, 16)

ui.page_header("IHVP error", r"""
Koh & Liang's influence uses the inverse Hessian of the *full* training loss (an inverse-Hessian-vector product,
IHVP) where leave-one-out needs the Hessian *without* point $i$. In the NTK regime the two differ by one number per
training point: $\Delta_{\text{ihvp}} f(x) = \lambda Q_{ii}\,\Delta_{\text{exact}} f(x)$, so the relative error is
$e_i = 1 - \lambda Q_{ii}$ (the leverage of $i$), with $Q = (H+\lambda I)^{-1}$.

* **Against λ (Theorem 3):** weak regularization makes the estimate bad for *every* point,
  $\frac{\lambda_{\min}}{\lambda+\lambda_{\min}} \le e_i \le \frac{\lambda_{\max}}{\lambda+\lambda_{\max}}$.
* **Against density (Theorem 4):** $e_i = s_i^2/(\lambda + s_i^2)$ with $s_i^2$ the posterior variance at $x_i$
  given the other points: isolated points (low density) are estimated worst.

Density is a leave-one-out Gaussian kernel density estimate on 10 PCA features (the true density for the
simulated mixture). Click a point in a scatter to see that training image.
""")

exp = ui.current_experiment()
data = exp.data
noisy = exp.noisy_mask()


def _show_clicked(event, where) -> None:
    """The training image of the point clicked in a scatter (its customdata), or how to get one."""
    j = ui.selected_training_index(event)
    if j is None:
        where.caption("Click a point to see its training image.")
        return
    with where:
        ui.show_image(data.images_train[j], f"training #{j} · label {exp.class_name(exp.train_class()[j])}"
                      + (" ⚠ flipped" if noisy[j] else ""), size=140)


def _against_exact() -> None:
    """One test image's IHVP estimate against its exact influence, with the mean error and Theorem 3's bound."""
    st.subheader("Estimate against the exact influence")
    i = ui.test_index_input(exp, container=st.columns([1, 3])[0])
    exact, ihvp = exp.influence_matrix()[i], exp.ihvp_matrix()[i]
    left, right = st.columns([3, 1])
    event = left.plotly_chart(plots.ihvp_scatter(exact, ihvp), key="ihvp_scatter", on_select="rerun",
                              selection_mode="points")
    bounds = exp.memo("ihvp_error_bounds", exp.model.ihvp_error_bounds)
    right.metric("λ", f"{exp.config.reg:g}")
    right.metric("mean error rate e_i", ui.fmt_rate(_error().mean()))
    right.metric("lower bound λmin/(λ+λmin)", ui.fmt_rate(bounds.lower))
    _show_clicked(event, right)


def _against_reg() -> None:
    """Theorem 3: the mean and median error rate over a λ grid, between its bounds (the same for every λ)."""
    st.subheader("Error rate against λ")
    curve = exp.data_memo("error_vs_reg", lambda: error_vs_reg(data.X_train, data.y_train, REGS))
    st.plotly_chart(plots.error_vs_reg_figure(curve.regs, curve.mean_error, curve.median_error, curve.lower_bound,
                                              curve.upper_bound, current=exp.config.reg), key="ihvp_vs_reg")


def _against_density() -> None:
    """Theorem 4: each training point's error rate against its (true or estimated) log-density."""
    st.subheader("Error rate against density")
    true_density = getattr(data, "density_train", None)
    if true_density is not None:
        dens, xlabel = np.log(np.asarray(true_density, float)), "true log-density (simulated mixture)"
    else:
        dens = exp.data_memo("log_density", lambda: log_density(data.X_train))
        xlabel = "estimated log-density (LOO KDE)"
    err = _error()
    binned = error_vs_density(err, dens, n_bins=10)
    left, right = st.columns([3, 1])
    event = left.plotly_chart(plots.error_vs_density_figure(dens, err, binned.bin_centers, binned.bin_mean_error,
                                                            binned.spearman, xlabel),
                              key="ihvp_vs_density", on_select="rerun", selection_mode="points")
    right.metric("Spearman ρ (density, error)", f"{binned.spearman:.2f}", help=f"p = {binned.p_value:.1e}")
    _show_clicked(event, right)


def _error():
    """The error rate e_i = 1 − λQ_ii of every training point (n,)."""
    return exp.memo("ihvp_error", exp.model.ihvp_error)


with ui.friendly_errors("The IHVP study"):
    _against_exact()
    _against_reg()
    _against_density()
