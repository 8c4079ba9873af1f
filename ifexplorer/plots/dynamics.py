"""The training-dynamics page's prediction curve: f_t(x) over training time with the decision boundary drawn
(two classes: the zero line, each side labelled with the class it predicts) and a marker at the chosen t."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .influence import time_marker_figure
from .style import SERIES, SIDE_COLOURS

PREDICTION = SERIES[6]  # one output's curve: not helpful's blue nor harmful's red


def prediction_curve_figure(times, predictions, t: float | None, class_names, title: str,
                            height: int = 280) -> go.Figure:
    """predictions (T,) for two classes (f > 0 → class_names[1]) or (T, C) one curve per class (argmax wins).
    Two classes: the zero line, shaded halves labelled "→ <class>"; the marker at t. Class names are escaped by
    the caller (plotly renders HTML tags in text)."""
    p = np.asarray(predictions, dtype=np.float64)
    names = [str(c) for c in class_names]
    if p.ndim == 1:
        series = {"f_t(x)": p}
    else:
        series = {f"class {names[c]}": p[:, c] for c in range(min(p.shape[1], 10))}
    fig = time_marker_figure(times, series, t, title, "output f_t(x)",
                             colours={"f_t(x)": PREDICTION} if p.ndim == 1 else None)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=36, b=10), showlegend=p.ndim > 1)
    if p.ndim == 1:
        top = max(1.05 * float(np.nanmax(np.abs(p))), 1e-3)
        fig.update_yaxes(range=[-top, top])
        fig.add_hline(y=0, line=dict(color="#5A5F66", width=1.5))
        for sign, name, colour in ((1, names[1], SIDE_COLOURS[1]), (-1, names[0], SIDE_COLOURS[0])):
            fig.add_hrect(y0=0, y1=sign * top, fillcolor=colour, opacity=0.08, line_width=0, layer="below")
            fig.add_annotation(xref="paper", x=0.01, y=sign * 0.85 * top, text=f"f > 0 → {name}" if sign > 0
                               else f"f < 0 → {name}", showarrow=False, xanchor="left", font=dict(size=12))
    return fig


def verdict(prediction: np.ndarray, label: int) -> tuple[int, bool]:
    """(predicted class, correct?) of one output f (scalar or (C,)): sign for one output, argmax for C."""
    p = np.atleast_1d(np.asarray(prediction, dtype=np.float64))
    pred = int(p[0] > 0) if p.size == 1 else int(p.argmax())
    return pred, pred == int(label)
