"""Pure plotly builders for the network check (the paper's Figure 1 and Table 1): arrays in, Figure out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import FLIPPED, GREEN, GREY, HARMFUL, HELPFUL, MARGIN, TEMPLATE

LABELS = {"ntk": "NTK influence", "ihvp_exact": "exact IHVP", "lissa": "LiSSA", "cg": "conjugate gradient",
          "ntk_uncorrected": "NTK, f0 ignored"}
COLORS = {"ntk": HELPFUL, "ihvp_exact": HARMFUL, "lissa": FLIPPED, "cg": GREEN, "ntk_uncorrected": GREY}


def scatter_figure(actual, predicted: dict, scores: dict | None = None, width: int | None = None) -> go.Figure:
    """One panel per method: actual test-loss change (R, m) when retraining without a point (x) against
    the method's prediction (y), with the line y = x; the panel title carries Pearson / Spearman."""
    a = np.asarray(actual, float).ravel()
    if a.size == 0:
        raise ValueError("actual is empty: no finished retrains to plot")
    names = list(predicted)
    if not names:
        raise ValueError("predicted is empty: give at least one method")
    titles = []
    for m in names:
        s = (scores or {}).get(m)
        titles.append(LABELS.get(m, m) + (f"<br>r = {_f(s['pearson'])}, ρ = {_f(s['spearman'])}" if s else ""))
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.06)
    lo, hi = float(a.min()), float(a.max())
    for k, m in enumerate(names, start=1):
        p = np.asarray(predicted[m], float).ravel()
        if p.shape != a.shape:
            raise ValueError(f"predicted[{m!r}] has {p.size} values; actual has {a.size}")
        fig.add_scatter(x=a, y=p, mode="markers", name=LABELS.get(m, m), showlegend=False, row=1, col=k,
                        marker=dict(color=COLORS.get(m, GREY), size=7, opacity=0.8),
                        hovertemplate="actual %{x:.3g}<br>predicted %{y:.3g}<extra></extra>")
        fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", showlegend=False, row=1, col=k,
                        line=dict(color="black", dash="dash", width=1), hoverinfo="skip")
        fig.update_xaxes(title_text="actual change", row=1, col=k)
    fig.update_yaxes(title_text="predicted", row=1, col=1)
    title = "Leave-one-out retraining against predictions" + (f" (width {width})" if width else "")
    fig.update_layout(template=TEMPLATE, title=dict(text=title, font=dict(size=14)), height=380,
                      margin=dict(l=10, r=10, t=90, b=10))
    return fig


def correlation_figure(widths, scores: list, metric: str = "pearson") -> go.Figure:
    """Correlation with the actual change against width (log axis), one line per method.
    scores[k] = {method: {"pearson": …, "spearman": …}} for widths[k]."""
    w = np.asarray(widths, float)
    if w.size == 0 or len(scores) != w.size:
        raise ValueError(f"need one score dict per width; got {w.size} widths and {len(scores)} score dicts")
    if metric not in ("pearson", "spearman"):
        raise ValueError(f"metric must be 'pearson' or 'spearman'; got {metric!r}")
    fig = go.Figure(layout=dict(template=TEMPLATE, height=360, margin=MARGIN,
                                title=dict(text=f"{metric.capitalize()} correlation against width", font=dict(size=14)),
                                xaxis_title="width (hidden units)", yaxis_title=f"{metric} with retraining"))
    methods = [m for m in LABELS if any(m in s for s in scores)] + sorted({m for s in scores for m in s} - set(LABELS))
    for m in methods:
        y = [s.get(m, {}).get(metric) for s in scores]
        y = [np.nan if v is None else v for v in y]
        # exact IHVP and CG often coincide: exact is drawn wide and pale underneath, CG dashed on top
        wide = m == "ihvp_exact"
        fig.add_scatter(x=w, y=y, mode="lines+markers", name=LABELS.get(m, m), opacity=0.45 if wide else 1.0,
                        line=dict(color=COLORS.get(m, GREY), width=7 if wide else 2,
                                  dash="dash" if m == "cg" else "solid"),
                        marker=dict(size=14 if wide else 8))
    fig.update_xaxes(type="log", tickvals=w, ticktext=[str(int(v)) for v in w])
    return fig


def _f(x) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"
