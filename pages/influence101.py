"""Influence 101: the linear-regression example of theory §8, then the ideas behind the other pages."""
import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import classroom, plots
from ifexplorer.ui import url_state

ui.page_header("Influence 101", intro=(
    "**Influence** asks: if one training point counted a little more (or were removed), how "
    "would the model change? Start with three points and a straight line."), explanation=r"""
Fit $y = \theta_1 x + \theta_0$ by least squares, giving point $k$ the weight $1+\varepsilon$:
$\theta(\varepsilon) = \arg\min_\theta \sum_i \tfrac12 (y_i - \theta\cdot z_i)^2 +
\varepsilon\,\tfrac12(y_k-\theta\cdot z_k)^2$, with $z_i = (x_i, 1)$. The **influence** of point $k$ on $\theta$
is the slope of this curve at $\varepsilon = 0$:
$\frac{d\theta}{d\varepsilon}\big|_0 = -\mathrm{Hess}^{-1}\nabla\ell_k = (Z^\top Z)^{-1} z_k\, r_k$, with the
residual $r_k = y_k - \theta\cdot z_k$. Removing the point is $\varepsilon = -1$, where the tangent is only an
approximation.
""")

url_state.keep_only(set())  # no other page's selection in this page's link
with ui.friendly_errors("The classroom example"):
    x, y = classroom.example_points()
    c1, c2 = st.columns([1, 2])
    point = c1.radio("Point to re-weight", [0, 1, 2], index=0, key="c101_point", horizontal=True,
                     format_func=lambda k: f"{k + 1}: ({x[k]:g}, {y[k]:g})")
    eps = c2.slider("ε (extra weight; −1 removes the point)", -1.0, 3.0, 0.0, 0.05, key="c101_eps",
                    help="Weight 1 + ε: at ε = −1 the point has weight 0, and the fit is the line through the other "
                         "two points (leave-one-out, exactly).")
    theta = classroom.weighted_fit(x, y, np.ones(3))
    theta_eps = classroom.weighted_fit(x, y, np.ones(3) + eps * np.eye(3)[point])
    influence = classroom.parameter_influence(x, y)
    grid = np.linspace(-1.0, 3.0, 81)
    curve = classroom.response_curve(x, y, point, grid)

    left, right = st.columns(2)
    left.plotly_chart(plots.classroom_fit_figure(x, y, theta, theta_eps, point, eps), key="c101_fit")
    right.plotly_chart(plots.classroom_response_figure(grid, curve, influence[point], eps), key="c101_curve")

    m = st.columns(4)
    moved = abs(eps) > 0
    m[0].metric("slope θ₁(ε)", f"{theta_eps[0]:.4f}", f"{theta_eps[0] - theta[0]:+.4f}" if moved else None,
                delta_color="off")
    m[1].metric("intercept θ₀(ε)", f"{theta_eps[1]:.4f}", f"{theta_eps[1] - theta[1]:+.4f}" if moved else None,
                delta_color="off")
    m[2].metric("tangent prediction θ₁", f"{theta[0] + eps * influence[point, 0]:.4f}")
    m[3].metric("tangent prediction θ₀", f"{theta[1] + eps * influence[point, 1]:.4f}")
    if eps == -1.0:
        miss = abs(theta[0] + eps * influence[point, 0] - theta_eps[0])
        st.info(f"ε = −1: point {point + 1} is **removed** — the fit is the line through the other two points "
                f"(leave-one-out); the tangent misses it by {miss:.4f} in the slope.", icon=":material/remove_circle:")
    st.markdown(f"Fit with all weights 1: **y = {theta[0]:.4f} x + {theta[1]:.4f}**. "
                "Influence dθ/dε of each point (slope, intercept):")
    st.dataframe(pd.DataFrame({"point": [f"{k + 1}: ({x[k]:g}, {y[k]:g})" for k in range(3)],
                               "dθ₁/dε (slope)": influence[:, 0].round(4),
                               "dθ₀/dε (intercept)": influence[:, 1].round(4)}),
                 hide_index=True, key="c101_table")

st.subheader("From the line to a neural network")
st.markdown("""
**Leave-one-out.** The honest question is *what if this point were not there?*: retrain without it and
compare. For n points that is n retrainings — usually far too expensive, so people use the tangent above.

**The IHVP estimate.** Koh & Liang's influence function is that tangent for a network:
−Hess⁻¹∇ℓ, an *inverse-Hessian-vector product*. It is a first-order guess for ε = −1, and the
paper shows when it goes wrong: with weak regularization and for isolated points.
""")
st.page_link("pages/ihvp.py", label="See how wrong the IHVP estimate is", icon=":material/scatter_plot:")
st.markdown("""
**The NTK view.** A very wide network trains like kernel ridge regression with its neural tangent
kernel, and for kernel ridge regression leave-one-out has a closed form — so every influence in this
app is the *exact* retraining effect, for all points at once.
""")
st.page_link("pages/gallery.py", label="Which images helped or hurt a prediction?", icon=":material/photo_library:")
st.page_link("pages/dynamics.py", label="How influence changes during training", icon=":material/timeline:")
st.page_link("pages/network.py", label="Check the NTK against a real trained network", icon=":material/neurology:")
