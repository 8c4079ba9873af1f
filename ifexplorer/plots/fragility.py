"""Pure plotly builders for the fragility study (Basu's depth × width × λ axes): arrays in, Figure out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import FLIPPED, GREEN, GREY, HARMFUL, HELPFUL, SERIES, TEMPLATE, blank_figure

LABELS = {"ntk": "NTK influence", "ihvp_gn": "IHVP (Gauss–Newton)", "ihvp_hessian": "IHVP (true Hessian)",
          "lissa": "LiSSA", "cg": "conjugate gradient", "pbrf": "PBRF"}
COLORS = {"ntk": HELPFUL, "ihvp_gn": HARMFUL, "ihvp_hessian": "#7768AE", "lissa": FLIPPED, "cg": GREEN,
          "pbrf": "#8C564B"}


def heatmap_figure(depths, widths, values, title: str, stat: str = "Pearson") -> go.Figure:
    """Correlation with retraining (values (D, W), NaN where no cell) over depth (rows) × width (columns),
    on a fixed −1 … 1 scale, each cell labelled with its number."""
    v = np.asarray(values, float)
    if v.shape != (len(depths), len(widths)) or v.size == 0:
        raise ValueError(f"values must have shape (depths, widths) = ({len(depths)}, {len(widths)}); got {v.shape}")
    text = [["—" if not np.isfinite(x) else f"{x:.2f}" for x in row] for row in v]
    z = [[x if np.isfinite(x) else None for x in row] for row in v.tolist()]  # plain lists: readable JSON
    fig = go.Figure(go.Heatmap(z=z, x=[str(w) for w in widths], y=[str(L) for L in depths], zmin=-1, zmax=1,
                               colorscale="RdBu", text=text, texttemplate="%{text}", colorbar=dict(title=stat),
                               hovertemplate="depth %{y}, width %{x}<br>" + stat + " %{z:.3f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title=dict(text=title, font=dict(size=14)), height=340,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_title="width (hidden units per layer)",
                      yaxis_title="depth L")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def scatter_figure(actual, predicted: dict, scores: dict | None = None, title: str = "") -> go.Figure:
    """One panel per method: actual test-loss change (R, m) by retraining (x) against the method's
    estimate (y), with y = x; panel titles carry Pearson r and Spearman ρ. NaN pairs are left out."""
    a = np.asarray(actual, float).ravel()
    names = list(predicted)
    if a.size == 0 or not names:
        raise ValueError("need a non-empty actual array and at least one method")
    titles = []
    for m in names:
        s = (scores or {}).get(m)
        titles.append(LABELS.get(m, m) + (f"<br>r = {_f(s.get('pearson'))}, ρ = {_f(s.get('spearman'))}" if s else ""))
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.07)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for k, m in enumerate(names, start=1):
        p = np.asarray(predicted[m], float).ravel()
        if p.shape != a.shape:
            raise ValueError(f"predicted[{m!r}] has {p.size} values; actual has {a.size}")
        ok = np.isfinite(a) & np.isfinite(p)
        fig.add_scatter(x=a[ok], y=p[ok], mode="markers", showlegend=False, row=1, col=k,
                        marker=dict(color=COLORS.get(m, GREY), size=7, opacity=0.8),
                        hovertemplate="actual %{x:.3g}<br>estimated %{y:.3g}<extra></extra>")
        fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", showlegend=False, row=1, col=k,
                        line=dict(color="black", dash="dash", width=1), hoverinfo="skip")
        fig.update_xaxes(title_text="actual change (retrained)", row=1, col=k)
    fig.update_yaxes(title_text="estimated", row=1, col=1)
    fig.update_layout(template=TEMPLATE, title=dict(text=title or "Retraining against the estimates",
                                                    font=dict(size=14)),
                      height=380, margin=dict(l=10, r=10, t=90, b=10))
    return fig


def ihvp_error_depth_figure(depths, regs, mean_error, lower=None, upper=None) -> go.Figure:
    """The IHVP's relative loss 1 − λQ_ii (mean over training points) against depth, one line per λ
    (mean_error (D, R)); Theorem 3's bounds dotted when given."""
    e = np.asarray(mean_error, float)
    if e.shape != (len(depths), len(regs)) or e.size == 0:
        raise ValueError(f"mean_error must have shape (depths, regs) = ({len(depths)}, {len(regs)}); got {e.shape}")
    fig = blank_figure("IHVP error 1 − λQ_ii against depth (the kernel alone)", "depth L",
                       "mean 1 − λQ_ii", legend=dict(orientation="h", yanchor="top", y=-0.22, x=0.0))
    for j, lam in enumerate(regs):
        color = SERIES[j % len(SERIES)]
        fig.add_scatter(x=list(depths), y=e[:, j], mode="lines+markers", name=f"λ = {lam:g}", line=dict(color=color))
        for bound, name in ((lower, "lower"), (upper, "upper")):
            if bound is not None:
                fig.add_scatter(x=list(depths), y=np.asarray(bound, float)[:, j], mode="lines", showlegend=False,
                                line=dict(color=color, dash="dot", width=1), hovertemplate=f"{name} bound %{{y:.3f}}"
                                "<extra></extra>")
    fig.update_xaxes(tickvals=list(depths))
    fig.update_yaxes(range=[0, 1.02])
    return fig


def retention_figure(lam_q, retention, labels) -> go.Figure:
    """Per examined point: the share of the retrained output change that the Gauss–Newton IHVP keeps
    (least-squares slope) against theory §5's λQ_ii from the kernel, with y = x. labels (k,) group the
    points (e.g. "L = 2, w = 256, λ = 0.1")."""
    q, r = np.asarray(lam_q, float), np.asarray(retention, float)
    labels = np.asarray(labels, dtype=object)
    if q.shape != r.shape or q.shape != labels.shape or q.size == 0:
        raise ValueError("lam_q, retention and labels must be non-empty and of the same length")
    fig = blank_figure("How much of the retrained change the IHVP keeps, against λQ_ii (theory §5)",
                       "λQ_ii (depth-L kernel)", "IHVP / retrained output change")
    for j, name in enumerate(dict.fromkeys(labels.tolist())):
        sel = labels == name
        fig.add_scatter(x=q[sel], y=r[sel], mode="markers", name=str(name),
                        marker=dict(color=SERIES[j % len(SERIES)], size=8, opacity=0.85))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="y = x", line=dict(color="black", dash="dash", width=1))
    return fig


def _f(x) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


__all__ = ["LABELS", "heatmap_figure", "scatter_figure", "ihvp_error_depth_figure", "retention_figure"]
