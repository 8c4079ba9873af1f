"""Pure plotly builders for the influence pages: arrays in, Figure out (no Streamlit, no model objects).

Colours and template come from plots.style (helpful blue, harmful red, flipped orange).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .._checks import as_vector
from .style import FLIPPED, GREY, HARMFUL, HELPFUL, blank_figure


def influence_histogram(scores, n_bins: int = 60) -> go.Figure:
    """Histogram of one test point's influences (n,), helpful and harmful in their colours."""
    s = as_vector(scores, "scores")
    fig = blank_figure("Influence of every training point on this test image", "influence I(i, x)", "training points",
               barmode="overlay")
    edges = np.histogram_bin_edges(s, bins=n_bins)
    top = 0
    for mask, name, color in ((s > 0, "helpful (I > 0)", HELPFUL), (s < 0, "harmful (I < 0)", HARMFUL),
                              (s == 0, "no influence (I = 0)", GREY)):
        if not mask.any():
            continue
        counts, _ = np.histogram(s[mask], bins=edges)
        top = max(top, int(counts.max()))
        fig.add_bar(x=0.5 * (edges[1:] + edges[:-1]), y=counts, width=np.diff(edges), name=name,
                    marker_color=color)
    if top >= 100:  # counts spanning decades: a log axis shows the tails
        fig.update_yaxes(type="log", dtick=1)
    return fig


def group_complexity_figure(complexity, mean_score) -> go.Figure:
    """The paper's Figure 5: complexity C_G of groups 1..G ordered from most harmful to most helpful."""
    c, m = as_vector(complexity, "complexity"), as_vector(mean_score, "mean_score")
    if c.shape != m.shape:
        raise ValueError(f"complexity {c.shape} and mean_score {m.shape} must have the same length")
    groups = np.arange(1, len(c) + 1)
    fig = blank_figure("Complexity of influence-ordered groups", "group (1 = most harmful … last = most helpful)",
               "complexity C_G")
    fig.add_bar(x=groups, y=c, marker_color=[HELPFUL if v > 0 else HARMFUL for v in m],
                customdata=m, hovertemplate="group %{x}<br>C_G = %{y:.3g}<br>mean I = %{customdata:.2e}<extra></extra>")
    fig.update_xaxes(tickmode="linear", dtick=1)
    return fig


def self_influence_figure(self_influence, flipped=None, top: int = 50) -> go.Figure:
    """The `top` training points by self-influence (largest first); with `flipped` given, flipped labels in orange
    and clean ones in grey, as two named traces (a legend). customdata holds the training index."""
    s = as_vector(self_influence, "self_influence")
    order = np.argsort(-s, kind="stable")[:top]
    flip = np.zeros(len(s), bool) if flipped is None else np.asarray(flipped, bool)
    if flip.shape != s.shape:
        raise ValueError(f"flipped {flip.shape} and self_influence {s.shape} must have the same length")
    fig = blank_figure("Training points ranked by self-influence", "rank", "self-influence I(i, x_i)")
    rank = np.arange(1, len(order) + 1)
    groups = ((~flip[order], "label as given", GREY), (flip[order], "label flipped on purpose", FLIPPED))
    for mask, name, color in groups:
        if mask.any():
            fig.add_bar(x=rank[mask], y=s[order][mask], customdata=order[mask], name=name, marker_color=color,
                        showlegend=bool(flip.any()),
                        hovertemplate="rank %{x}: training #%{customdata}<br>%{y:.3g}<extra></extra>")
    return fig


def ihvp_scatter(exact, ihvp, indices=None) -> go.Figure:
    """IHVP influence against exact influence, one marker per training point, with y = x drawn.
    customdata holds the training index (for plotly selections)."""
    x, y = as_vector(exact, "exact"), as_vector(ihvp, "ihvp")
    if x.shape != y.shape:
        raise ValueError(f"exact {x.shape} and ihvp {y.shape} must have the same length")
    idx = np.arange(len(x)) if indices is None else np.asarray(indices)
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    fig = blank_figure("IHVP estimate against exact influence", "exact influence (leave-one-out)", "IHVP influence",
               height=380)
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="identity y = x",
                    line=dict(color=GREY, dash="dash"), hoverinfo="skip")
    fig.add_scatter(x=x, y=y, mode="markers", name="training points", customdata=idx,
                    marker=dict(color=HELPFUL, size=6, opacity=0.7),
                    hovertemplate="training #%{customdata}<br>exact %{x:.3g}<br>IHVP %{y:.3g}<extra></extra>")
    return fig


def error_vs_reg_figure(regs, mean_error, median_error, lower, upper, current=None) -> go.Figure:
    """The paper's Figure 2: IHVP error rate against λ (log axis) with Theorem 3's bounds."""
    r = as_vector(regs, "regs")
    fig = blank_figure("IHVP error rate against λ", "λ", "error rate 1 − λQ_ii", height=360)
    # the median is drawn first, wide and pale, so it stays visible where it equals the mean
    fig.add_scatter(x=r, y=as_vector(median_error, "median_error"), mode="lines", name="median",
                    line=dict(color="rgba(47,111,222,0.3)", width=8))
    fig.add_scatter(x=r, y=as_vector(mean_error, "mean_error"), mode="lines+markers", name="mean over points",
                    line=dict(color=HELPFUL))
    fig.add_scatter(x=r, y=as_vector(lower, "lower"), mode="lines", name="lower bound λmin/(λ+λmin)",
                    line=dict(color=HARMFUL, dash="dash"))
    fig.add_scatter(x=r, y=as_vector(upper, "upper"), mode="lines", name="upper bound λmax/(λ+λmax)",
                    line=dict(color=GREY, dash="dash"))
    if current is not None:
        fig.add_vline(x=float(current), line=dict(color=FLIPPED, width=2))
        # annotations on a log axis take log10 coordinates
        fig.add_annotation(x=np.log10(float(current)), y=0.04, yref="paper", text=f" chosen λ = {current:g}",
                           showarrow=False, xanchor="left", yanchor="bottom", bgcolor="rgba(255,255,255,0.85)",
                           font=dict(color=FLIPPED))
    fig.update_xaxes(type="log", dtick=1, exponentformat="power")  # decades only: 10⁻⁴ … 10¹
    fig.update_yaxes(range=[0, 1.05])
    return fig


def error_vs_density_figure(log_density, error, bin_centers, bin_means, spearman: float,
                            xlabel: str = "estimated log-density") -> go.Figure:
    """The paper's Figure 3: each training point's error rate against its density, binned means on top.
    customdata holds the training index."""
    d, e = as_vector(log_density, "log_density"), as_vector(error, "error")
    if d.shape != e.shape:
        raise ValueError(f"log_density {d.shape} and error {e.shape} must have the same length")
    fig = blank_figure(f"IHVP error rate against density (Spearman ρ = {spearman:.2f})", xlabel, "error rate 1 − λQ_ii",
               height=380)
    fig.add_scatter(x=d, y=e, mode="markers", name="training points", customdata=np.arange(len(d)),
                    marker=dict(color=GREY, size=5, opacity=0.6),
                    hovertemplate="training #%{customdata}<br>log-density %{x:.3g}<br>error %{y:.3f}<extra></extra>")
    fig.add_scatter(x=as_vector(bin_centers, "bin_centers"), y=as_vector(bin_means, "bin_means"), mode="lines+markers",
                    name="binned mean", line=dict(color=HARMFUL, width=3))
    return fig


def classroom_fit_figure(x, y, theta, theta_eps, point: int, eps: float) -> go.Figure:
    """theory §8: the three points, the least-squares line, and the line with point `point` up-weighted."""
    x, y = as_vector(x, "x"), as_vector(y, "y")
    grid = np.array([x.min() - 0.5, x.max() + 0.5])
    fig = blank_figure("The fit", "x", "y", height=340)
    fig.add_scatter(x=grid, y=theta[0] * grid + theta[1], mode="lines", name="fit (ε = 0)",
                    line=dict(color=GREY, dash="dash"))
    fig.add_scatter(x=grid, y=theta_eps[0] * grid + theta_eps[1], mode="lines",
                    name=f"point {point + 1} weighted 1 + ε",
                    line=dict(color=HELPFUL, width=3))
    colors = [FLIPPED if k == point else "black" for k in range(len(x))]
    fig.add_scatter(x=x, y=y, mode="markers+text", text=[f"  {k + 1}" for k in range(len(x))],
                    textposition="middle right", marker=dict(size=[10 + 4 * max(eps, 0) if k == point else 10
                                                               for k in range(len(x))], color=colors),
                    name="data", showlegend=False)
    return fig


def classroom_response_figure(eps_grid, thetas, tangent, eps: float) -> go.Figure:
    """θ(ε) (slope and intercept) against ε, with the tangent line at ε = 0 (the influence)."""
    e = as_vector(eps_grid, "eps_grid")
    thetas, tangent = np.asarray(thetas, float), np.asarray(tangent, float)
    if thetas.shape != (len(e), 2):
        raise ValueError(f"thetas must be ({len(e)}, 2); got {thetas.shape}")
    fig = blank_figure("Response θ(ε) and its tangent at ε = 0 (the influence)", "ε (extra weight on the point)", "θ",
               height=340)
    theta0 = thetas[np.argmin(np.abs(e))]
    for j, (name, color) in enumerate((("slope θ₁", HELPFUL), ("intercept θ₀", HARMFUL))):
        fig.add_scatter(x=e, y=thetas[:, j], mode="lines", name=name, line=dict(color=color, width=3))
        fig.add_scatter(x=e, y=theta0[j] + tangent[j] * e, mode="lines", name=f"tangent of {name}",
                        line=dict(color=color, dash="dash"))
    fig.add_vline(x=float(eps), line=dict(color="black", dash="dot"))
    return fig
