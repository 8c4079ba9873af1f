"""The training-set map: every training point at its 2-D embedding (experiments.embedding), coloured by influence,
self-influence, label or flipped label. WebGL (Scattergl) for thousands of points, SVG below WEBGL_FROM.

Dragging zooms by default: Streamlit turns point clicks off while the chart's drag mode is lasso or box select
(its PlotlyChart sets clickmode "event" then), so a map that opens on click starts in zoom mode and the user picks
the lasso or box from the chart's toolbar to select a region.

Every trace carries the training index in customdata, so a click or a lasso (Streamlit's
st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "lasso")), then event.selection.points[j]
["customdata"]) gives training indices directly; point_index is per trace and is not the training index when a
discrete colouring splits the points into traces.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from .style import FLIPPED, GREY, HARMFUL, HELPFUL, SERIES, blank_figure

COLOR_KINDS = ("influence", "self_influence", "label", "flipped")
# influence: harmful red below 0, white at 0, helpful blue above; self-influence: light grey to dark
DIVERGING = [[0.0, HARMFUL], [0.5, "#F7F7F7"], [1.0, HELPFUL]]
SEQUENTIAL = [[0.0, "#E6E8EC"], [1.0, "#3A3F58"]]
_TITLES = {"influence": "influence on the chosen test image", "self_influence": "self-influence",
           "label": "label", "flipped": "flipped labels"}


WEBGL_FROM = 1500  # points: from here on the map draws with WebGL (Scattergl), below with SVG (Scatter)


def training_map_figure(xy, color_values, color_kind: str, labels=None, hover_ids=None, marked=None,
                        title: str = "Training set map", webgl: bool | None = None,
                        color_title: str | None = None) -> go.Figure:
    """Scatter of the n training points.

    xy:           (n, 2) coordinates.
    color_values: (n,) — influence I(i, x) ("influence": diverging scale centred at 0), self-influence
                  ("self_influence": sequential), a class label per point, int or str ("label": one trace per
                  class, SERIES colours, legend), or bool flipped ("flipped": clean grey, flipped orange).
    labels:       (n,) text shown on hover, e.g. the class name (optional).
    hover_ids:    (n,) sample ids shown on hover (optional).
    marked:       training indices to ring in black on top (the chosen point), or None.
    color_title:  what the colour means, in the title and on the colour bar (default: by color_kind).
    webgl:        draw with WebGL (Scattergl) or SVG (Scatter); None = WebGL from WEBGL_FROM points on. SVG is
                  faster to redraw for a few hundred points (no WebGL context per draw, which a browser without
                  a GPU emulates in software); WebGL is what keeps thousands of points responsive.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
        raise ValueError(f"xy must be (n, 2) with n ≥ 1; got shape {xy.shape}")
    n = xy.shape[0]
    if color_kind not in COLOR_KINDS:
        raise ValueError(f"color_kind must be one of {COLOR_KINDS}; got {color_kind!r}")
    values = _per_point(color_values, n, "color_values")
    meaning = color_title or _TITLES[color_kind]
    text = _hover_text(n, labels, hover_ids, values if color_kind in ("influence", "self_influence") else None)
    fig = blank_figure(f"{title}: {meaning}", "", "", dragmode="zoom", clickmode="event+select",
                       height=520, showlegend=color_kind in ("label", "flipped"))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, scaleanchor="x")
    size = 7 if n <= 1000 else 5
    trace = go.Scattergl if (n >= WEBGL_FROM if webgl is None else webgl) else go.Scatter
    if color_kind in ("influence", "self_influence"):
        numeric = values.astype(np.float64)
        marker = dict(color=numeric, size=size, colorbar=dict(title=meaning, thickness=12))
        if color_kind == "influence":
            top = float(np.max(np.abs(numeric))) or 1.0
            marker.update(colorscale=DIVERGING, cmin=-top, cmax=top, cmid=0.0)
        else:
            marker.update(colorscale=SEQUENTIAL)
        fig.add_trace(_points(trace, xy, np.arange(n), text, marker, name=meaning))
    elif color_kind == "label":
        for c, value in enumerate(_unique(values)):
            idx = np.flatnonzero(values == value)
            marker = dict(color=SERIES[c % len(SERIES)], size=size)
            fig.add_trace(_points(trace, xy, idx, text, marker, name=str(value)))
    else:
        flipped = values.astype(bool)
        for mask, name, colour in ((~flipped, "label kept", GREY), (flipped, "label flipped", FLIPPED)):
            if mask.any():
                fig.add_trace(_points(trace, xy, np.flatnonzero(mask), text, dict(color=colour, size=size), name=name))
    if marked is not None:
        idx = np.atleast_1d(np.asarray(marked, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"marked indices must be in 0..{n - 1}; got {idx.tolist()}")
        # a ring per point as a layout shape, not a trace: with a trace for it, plotly's lasso sent no selection
        r = (size + 9) / 2
        for j in idx.tolist():
            fig.add_shape(type="circle", xsizemode="pixel", ysizemode="pixel", xanchor=xy[j, 0], yanchor=xy[j, 1],
                          x0=-r, x1=r, y0=-r, y1=r, line=dict(color="black", width=2), name="chosen")
    return fig


def _points(trace, xy, idx, text, marker, name, showlegend=None):
    return trace(x=xy[idx, 0], y=xy[idx, 1], mode="markers", marker=marker, name=name, customdata=idx,
                        text=[text[i] for i in idx], hovertemplate="%{text}<extra></extra>", showlegend=showlegend)


def _per_point(values, n: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per point ({n},); got shape {values.shape}")
    return values


def _unique(values) -> list:
    """Distinct values, sorted (numbers numerically, text alphabetically)."""
    return sorted(set(values.tolist()))


def _hover_text(n, labels, hover_ids, numeric) -> list[str]:
    parts = [[f"training #{i}"] for i in range(n)]
    for column, name in ((hover_ids, "hover_ids"), (labels, "labels")):
        if column is not None:
            for p, v in zip(parts, _per_point(column, n, name).tolist()):
                p.append(html.escape(str(v), quote=False))  # user file names: no markup in the hover
    if numeric is not None:
        for p, v in zip(parts, numeric.astype(np.float64).tolist()):
            p.append(f"{v:.3g}")
    return [" · ".join(p) for p in parts]


def add_new_point(fig: go.Figure, xy, label: str = "your image") -> go.Figure:
    """fig with a new point (the user's own image) at xy (2,) drawn on top as a large black star, named in the
    legend; returns fig (changed in place). Its customdata is None: a click on it opens no training point."""
    xy = np.asarray(xy, dtype=np.float64).ravel()
    if xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise ValueError(f"xy must be 2 finite coordinates; got {xy.tolist()}")
    fig.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers", name=label, showlegend=True,
                             marker=dict(symbol="star", size=20, color="black", line=dict(color="white", width=1.5)),
                             hovertemplate=f"{html.escape(label, quote=False)}<extra></extra>"))
    return fig
