"""The training-dynamics page's prediction curve: f_t(x) over training time with the decision boundary drawn
(two classes: the zero line, each side labelled with the class it predicts) and a marker at the chosen t, as an
ECharts option (plots.curves)."""
from __future__ import annotations

import numpy as np

from .curves import mark_lines, time_curves_option
from .style import MARKER_LINE, SERIES, SIDE_COLOURS

PREDICTION = SERIES[6]  # one output's curve: not helpful's blue nor harmful's red
ZERO_LINE = "#5A5F66"
# the halves' labels: grey reads on both themes (ECharts would draw them in a theme colour outlined by another)
SIDE_LABEL = {"fontSize": 12, "fontWeight": "bold", "color": MARKER_LINE, "textBorderWidth": 0}


def nice_ceiling(x: float, floor: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) that is ≥ max(x, floor): an axis
    end that reads as a round number."""
    x = max(float(x), floor) if np.isfinite(x) else floor
    power = 10.0 ** np.floor(np.log10(x))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= x * (1 - 1e-12):
            return float(f"{step * power:.12g}")
    return float(10 * power)


def prediction_curve_option(times, predictions, t: float | None, class_names, title: str) -> dict:
    """predictions (T,) for two classes (f > 0 → class_names[1]) or (T, C) one curve per class (argmax wins, the
    first ten drawn). Two classes: the zero line, shaded halves labelled "f > 0 → <class>"; the marker at t.
    Class names are plain text in ECharts (no escaping needed)."""
    p = np.asarray(predictions, dtype=np.float64)
    names = [str(c) for c in class_names]
    if p.ndim == 1:
        series = {"f_t(x)": p}
    else:
        series = {f"class {names[c]}": p[:, c] for c in range(min(p.shape[1], 10))}
    option = time_curves_option(times, series, t, title, "output f_t(x)",
                                colours={"f_t(x)": PREDICTION} if p.ndim == 1 else None)
    if p.ndim == 1:
        top = nice_ceiling(1.05 * float(np.nanmax(np.abs(p))), 1e-3)
        option["yAxis"].update(min=-top, max=top, scale=False,  # ±top between ticks would crowd the next label
                               axisLabel={"showMinLabel": False, "showMaxLabel": False})
        line = option["series"][0]
        marks = line.setdefault("markLine", mark_lines([]))
        marks["data"].append({"yAxis": 0.0, "lineStyle": {"color": ZERO_LINE, "width": 1.5, "type": "solid"}})
        line["markArea"] = {"silent": True, "data": [
            [{"name": f"f > 0 → {names[1]}", "yAxis": top, "itemStyle": {"color": SIDE_COLOURS[1], "opacity": 0.08},
              "label": {"position": "insideTopLeft", **SIDE_LABEL}}, {"yAxis": 0.0}],
            [{"name": f"f < 0 → {names[0]}", "yAxis": 0.0, "itemStyle": {"color": SIDE_COLOURS[0], "opacity": 0.08},
              "label": {"position": "insideBottomLeft", **SIDE_LABEL}}, {"yAxis": -top}]]}
        option["legend"]["show"] = False
        option["grid"]["bottom"] = 36
    return option


def side_labels(option: dict) -> list[str]:
    """The labels of the shaded halves of a two-class prediction curve (empty for C classes)."""
    return [pair[0]["name"] for s in option["series"] for pair in s.get("markArea", {}).get("data", [])]


def verdict(prediction: np.ndarray, label: int) -> tuple[int, bool]:
    """(predicted class, correct?) of one output f (scalar or (C,)): sign for one output, argmax for C."""
    p = np.atleast_1d(np.asarray(prediction, dtype=np.float64))
    pred = int(p[0] > 0) if p.size == 1 else int(p.argmax())
    return pred, pred == int(label)
