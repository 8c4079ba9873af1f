"""IHVP error: how far Koh & Liang's influence estimate is from the exact leave-one-out influence."""
import numpy as np
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import plots
from ifexplorer.density import log_density
from ifexplorer.experiments.ihvp import error_vs_density, error_vs_reg

REGS = np.geomspace(1e-4, 10.0, 16)

ui.ensure_router()  # a deep link runs this page through app.py's router
st.title("IHVP error")
ui.explain(r"""
Koh & Liang's influence uses the inverse Hessian of the *full* training loss (an inverse-Hessian-vector product,
IHVP) where leave-one-out needs the Hessian *without* point $i$. In the NTK regime the two differ by one number per
training point: $\Delta_{\text{ihvp}} f(x) = \lambda Q_{ii}\,\Delta_{\text{exact}} f(x)$, so the relative error is
$e_i = 1 - \lambda Q_{ii}$ (the leverage of $i$), with $Q = (H+\lambda I)^{-1}$.

* **Against λ (Theorem 3):** $\frac{\lambda_{\min}}{\lambda+\lambda_{\min}} \le e_i \le \frac{\lambda_{\max}}{\lambda+\lambda_{\max}}$
  — weak regularization makes the estimate bad for *every* point.
* **Against density (Theorem 4):** $e_i = s_i^2/(\lambda + s_i^2)$ with $s_i^2$ the posterior variance at $x_i$
  given the other points: isolated points (low density) are estimated worst.

Density is a leave-one-out Gaussian kernel density estimate on 10 PCA features (the true density for the
simulated mixture). Click a point in a scatter to see that training image.
""")

exp = ui.current_experiment()
data = exp.data
noisy = exp.noisy_mask()


def _show_clicked(event, where) -> None:
    j = ui.selected_training_index(event)
    if j is None:
        where.caption("Click a point to see its training image.")
        return
    with where:
        ui.show_image(data.images_train[j], f"training #{j} · label {exp.class_name(exp.train_class()[j])}"
                      + (" ⚠ flipped" if noisy[j] else ""), size=140)


with ui.friendly_errors("The IHVP study"):
    st.subheader("Estimate against the exact influence")
    i = ui.test_index_input(exp, container=st.columns([1, 3])[0])
    exact, ihvp = exp.influence_matrix()[i], exp.ihvp_matrix()[i]
    left, right = st.columns([3, 1])
    event = left.plotly_chart(plots.ihvp_scatter(exact, ihvp), key="ihvp_scatter", on_select="rerun",
                              selection_mode="points")
    err = exp.model.ihvp_error()
    bounds = exp.model.ihvp_error_bounds()
    right.metric("λ", f"{exp.config.reg:g}")
    right.metric("mean error rate e_i", ui.fmt_rate(err.mean()))
    right.metric("lower bound λmin/(λ+λmin)", ui.fmt_rate(bounds.lower))
    _show_clicked(event, right)

    st.subheader("Error rate against λ")
    curve = exp.data_memo("error_vs_reg", lambda: error_vs_reg(data.X_train, data.y_train, REGS))
    st.plotly_chart(plots.error_vs_reg_figure(curve.regs, curve.mean_error, curve.median_error, curve.lower_bound,
                                              curve.upper_bound, current=exp.config.reg), key="ihvp_vs_reg")

    st.subheader("Error rate against density")
    true_density = getattr(data, "density_train", None)
    if true_density is not None:
        dens, xlabel = np.log(np.asarray(true_density, float)), "true log-density (simulated mixture)"
    else:
        dens, xlabel = exp.data_memo("log_density", lambda: log_density(data.X_train)), "estimated log-density (LOO KDE)"
    binned = error_vs_density(err, dens, n_bins=10)
    left2, right2 = st.columns([3, 1])
    event2 = left2.plotly_chart(plots.error_vs_density_figure(dens, err, binned.bin_centers, binned.bin_mean_error,
                                                              binned.spearman, xlabel),
                                key="ihvp_vs_density", on_select="rerun", selection_mode="points")
    right2.metric("Spearman ρ (density, error)", f"{binned.spearman:.2f}", help=f"p = {binned.p_value:.1e}")
    _show_clicked(event2, right2)
