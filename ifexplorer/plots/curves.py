"""Curves over training time as Apache ECharts options (for `st.echarts_chart`): pure dicts, JSON-compatible.

Why ECharts here and plotly elsewhere: the training-dynamics panel redraws its two curve charts on every step of
the time slider (the marker moves). Plotly re-lays out an SVG chart when a marker moves (a "calc" edit); ECharts
repaints a canvas, and its library is a quarter of plotly.js's size. Measured with benchmarks/bench_page_cost.py,
chromium CPU-s: a Training dynamics slider step 0.31 → 0.20, a fresh visit of the page 4.28 → 2.46; that matters
when a whole class shares the server's cores (bench_load.py).

ECharts renders the strings of an option (title, legend, series names, mark labels) as plain text, and its default
tooltip escapes series names: user strings need no HTML escaping here. Mark labels are given as item `name`s, not
`formatter` templates, so a "{b}" in a class name is printed, not substituted.
"""
from __future__ import annotations

import math

from .._checks import as_vector
from .style import MARKER_LINE, SERIES

TITLE_FONT_PX = 14
LEGEND_TEXT_PX = 220  # a legend entry's name is cut to this width (the tooltip shows it whole)


def _number(v: float) -> float | None:
    """A JSON number, or None (ECharts' gap) for NaN/inf (st.echarts_chart refuses NaN)."""
    return float(v) if math.isfinite(v) else None


def marker_line(t: float) -> dict:
    """A dotted vertical line at x = t (an ECharts markLine item)."""
    return {"xAxis": float(t), "lineStyle": {"color": MARKER_LINE, "width": 2, "type": "dotted"}}


def mark_lines(items: list) -> dict:
    """A series' markLine holding `items` (silent, no end symbols, no labels). ECharts rounds a mark line's value
    to `precision` decimals (default 2) before placing it: t = 0.003 would become 0 (off a log axis, not drawn)
    and t = 0.024 would be drawn at 0.02, so the precision is set to what a float64 holds."""
    return {"silent": True, "symbol": ["none", "none"], "label": {"show": False}, "precision": 15, "data": items}


def time_curves_option(times, series: dict, t: float | None, title: str, ylabel: str, *, log_y: bool = False,
                       colours: dict | None = None) -> dict:
    """Curves over training time (log x axis) with a dotted vertical marker at the chosen t (None: no marker).

    times: (T,) > 0; series: name → (T,) values (NaN: a gap); colours: series name → colour (the palette's meaning:
    helpful blue, harmful red, flipped orange), the others take SERIES in order. Up to four series share a legend
    line under the chart; more stand in a legend column at its right (ten class curves fit beside a half-width
    chart); both scroll when they are full.
    """
    tt = as_vector(times, "times")
    if (tt <= 0).any():
        raise ValueError("times must be > 0 on a log axis")
    lines = []
    for k, (name, values) in enumerate(series.items()):
        v = as_vector(values, name)
        if v.shape != tt.shape:
            raise ValueError(f"series {name!r} has {v.shape[0]} values for {tt.shape[0]} times")
        colour = (colours or {}).get(name, SERIES[k % len(SERIES)])
        lines.append({"type": "line", "name": str(name), "showSymbol": False,
                      "data": [[float(a), _number(b)] for a, b in zip(tt, v)],
                      "lineStyle": {"color": colour, "width": 2}, "itemStyle": {"color": colour}})
    if not lines:
        raise ValueError("no series to draw")
    if t is not None:
        lines[0]["markLine"] = mark_lines([marker_line(t)])
    side = len(lines) > 4
    # one scrolling line (or column), names cut to LEGEND_TEXT_PX: long class names never wrap into the axis
    legend = {"type": "scroll", "textStyle": {"width": LEGEND_TEXT_PX, "overflow": "truncate"}, "itemWidth": 16,
              "itemHeight": 8,
              **({"orient": "vertical", "right": 0, "top": 40} if side else {"bottom": 0, "left": 0})}
    return {
        "animation": False,
        "title": {"text": str(title), "textStyle": {"fontSize": TITLE_FONT_PX}},
        "tooltip": {"trigger": "axis", "valueFormatter": "%.3g"},
        "legend": legend,
        "grid": {"left": 8, "right": 84 if side else 16, "top": 48, "bottom": 56},
        "xAxis": {"type": "log", "name": "training time t (log scale)", "nameLocation": "middle", "nameGap": 26},
        "yAxis": {"type": "log" if log_y else "value", "name": str(ylabel), "nameLocation": "middle",
                  "nameGap": 44, "scale": True},
        "series": lines,
    }


def series_names(option: dict) -> list[str]:
    """The curves' names, in order (what the legend lists)."""
    return [s["name"] for s in option["series"]]


def marker_times(option: dict) -> list[float]:
    """Every vertical marker's t in the option (empty: no marker)."""
    return [d["xAxis"] for s in option["series"] for d in s.get("markLine", {}).get("data", []) if "xAxis" in d]
