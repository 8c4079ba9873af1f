"""The one plot style of IF Explorer: palette, a light template, and the blank-figure helper.

Meaning of the colours, the same on every chart, grid and page: helpful (I > 0) blue, harmful (I < 0) red (also
a wrong prediction), flipped labels orange (a framed thumbnail), neutral grey; `SERIES` extends them for curves of
many classes or methods, and starts with the same three, so a "helpful" curve is blue there too.
"""
from __future__ import annotations

import plotly.graph_objects as go

HELPFUL, HARMFUL, FLIPPED, GREY = "#2F6FDE", "#D1495B", "#F29E4C", "#8A8F98"
GREEN = "#3BB273"
# the two halves of a two-class output (f < 0, f > 0): neither helpful/harmful's blue and red nor flipped's orange
SIDE_COLOURS = ("#7768AE", "#17BECF")
SERIES = (HELPFUL, HARMFUL, FLIPPED, GREY, GREEN, "#7768AE", "#8C564B", "#E377C2", "#BCBD22", "#17BECF")

MARGIN = dict(l=10, r=10, t=40, b=10)
LAYOUT = dict(margin=MARGIN, height=360,
              legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0))
# A small template of our own: plotly's named templates are deep-copied and validated on every figure (tens of
# ms each on a busy CPU, and ~10 kB of JSON per chart), and Streamlit's chart theme restyles the figure anyway.
# Transparent backgrounds and half-transparent grey lines: the same figure reads on the light and the dark theme
# (Streamlit's chart theme gives the text its colour).
_AXIS = dict(gridcolor="rgba(138,143,152,0.25)", zerolinecolor="rgba(138,143,152,0.6)",
             linecolor="rgba(138,143,152,0.6)", automargin=True)
TEMPLATE = go.layout.Template(layout=dict(plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
                                          hovermode="closest", xaxis=_AXIS, yaxis=_AXIS))
MARKER_LINE = "#8A8F98"  # a marker line (the chosen t) visible on both themes


def blank_figure(title: str, xlabel: str, ylabel: str, **layout) -> go.Figure:
    """An empty figure in the house style with its title and axis labels; `layout` overrides LAYOUT."""
    return go.Figure(layout=dict(template=TEMPLATE, title=dict(text=title, font=dict(size=14)),
                                 xaxis_title=xlabel, yaxis_title=ylabel, **{**LAYOUT, **layout}))
