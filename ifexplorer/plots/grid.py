"""A clickable grid of thumbnails as one plotly figure: the thumbnails composed into one PNG per row
(plots.thumbnails.compose_grid), captions drawn as text that never wraps (each line is one SVG text), and an
invisible marker over every cell carrying its index (customdata), so a click selects a thumbnail through
Streamlit's `st.plotly_chart(on_select=...)`.

    fig = thumbnail_grid_figure(images, indices, per_row=10, size_px=72, captions=[("#12", "+0.031"), ...],
                                frames=[None, "flipped", ...], hover=["#12 · 7 · mnist:1234", ...])
"""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from .style import TEMPLATE
from .thumbnails import DEFAULT_GAP, compose_grid

LINE_PX = 15         # height of one caption line (font CAPTION_FONT px)
CAPTION_FONT = 12


def chars_that_fit(size_px: int) -> int:
    """How many caption characters fit under a cell of size_px at CAPTION_FONT (about 0.55 em per character of
    the app's sans-serif font, digits and lower case; measured "T-shirt/top" 55 px at 12 px)."""
    return max(4, int((size_px + DEFAULT_GAP) / (0.55 * CAPTION_FONT)))


def shorten(text: str, size_px: int) -> str:
    """text cut to what fits under one cell, with "…" (plotly text never wraps: a long one would run into the
    neighbour's caption)."""
    limit = chars_that_fit(size_px)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def thumbnail_grid_figure(images, indices, per_row: int, size_px: int, captions=None, frames=None, hover=None,
                          caption_colours=None, gap: int = DEFAULT_GAP) -> go.Figure:
    """The figure of k thumbnails, per_row to a row, each size_px square, with `captions` (k tuples of lines,
    each shortened to fit) under each cell, drawn at exactly its pixel size (show it with width = figure width).

    images: uint8 (k, H, W[, 3]); indices (k,): the customdata of each cell's marker (what a click returns);
    frames: compose_grid's frames; hover: k strings (plain text; '<' and '&' are escaped here);
    caption_colours: k colours of the caption text (None: the default text colour)."""
    images = np.asarray(images)
    indices = np.asarray(indices).astype(np.int64)
    k = len(indices)
    if len(images) != k or k == 0:
        raise ValueError(f"need one image per index and at least one; got {len(images)} images, {k} indices")
    captions = [tuple(c) for c in captions] if captions is not None else [()] * k
    lines = max((len(c) for c in captions), default=0)
    rows, cols = -(-k // per_row), min(k, per_row)
    pitch_x, pitch_y = size_px + gap, size_px + gap + lines * LINE_PX
    width, height = cols * pitch_x - gap, rows * pitch_y
    fig = go.Figure(layout=dict(
        template=TEMPLATE, width=width, height=height, margin=dict(l=0, r=0, t=0, b=0), showlegend=False,
        xaxis=dict(range=[0, width], visible=False, fixedrange=True),
        yaxis=dict(range=[height, 0], visible=False, fixedrange=True),
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)", dragmode=False, hovermode="closest"))
    for r in range(rows):
        part = slice(r * per_row, min(k, (r + 1) * per_row))
        strip = compose_grid(images[part], per_row=per_row, size_px=size_px,
                             frames=None if frames is None else list(frames)[part], gap=gap)
        fig.add_layout_image(source=_png(_transparent_gaps(strip, size_px, gap)), xref="x", yref="y", x=0,
                             y=r * pitch_y, sizex=strip.shape[1],
                             sizey=strip.shape[0], xanchor="left", yanchor="top", layer="below", sizing="stretch")
    pos = np.arange(k)
    cx = (pos % per_row) * pitch_x + size_px / 2
    cy = (pos // per_row) * pitch_y + size_px / 2
    text = [_escape(h) for h in hover] if hover is not None else [str(i) for i in indices]
    fig.add_trace(go.Scatter(
        x=cx, y=cy, mode="markers", customdata=indices, hovertext=text, hovertemplate="%{hovertext}<extra></extra>",
        marker=dict(symbol="square", size=size_px, color="rgba(0,0,0,0.004)", line=dict(width=0)),
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)), name="thumbnails"))
    colours = list(caption_colours) if caption_colours is not None else [None] * k
    for colour in dict.fromkeys(colours):  # one text trace per colour; None: the theme's text colour
        mine = np.array([c == colour for c in colours])
        for line in range(lines):
            fig.add_trace(go.Scatter(
                x=cx[mine], y=(pos[mine] // per_row) * pitch_y + size_px + gap / 2 + (line + 0.5) * LINE_PX,
                mode="text", text=[_escape(shorten(c[line], size_px)) if line < len(c) else ""
                                   for c, m in zip(captions, mine) if m],
                textfont=dict(size=CAPTION_FONT, color=colour), hoverinfo="skip", name=f"caption {line}"))
    return fig


def grid_width(count: int, per_row: int, size_px: int, gap: int = DEFAULT_GAP) -> int:
    """The figure's width in px (what st.plotly_chart's width must be for 1:1 pixels)."""
    return min(count, per_row) * (size_px + gap) - gap


def _transparent_gaps(strip: np.ndarray, size_px: int, gap: int) -> np.ndarray:
    """RGBA of a one-row strip with the gaps between cells (and under short thumbnails' cells nothing else)
    transparent: the page's own background shows there, light or dark."""
    alpha = np.full(strip.shape[:2], 255, np.uint8)
    alpha[:, (np.arange(strip.shape[1]) % (size_px + gap)) >= size_px] = 0
    return np.dstack([strip, alpha])


def _png(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False, compress_level=3)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _escape(text: str) -> str:
    """Plotly renders a subset of HTML in text and hover labels: user class and file names must stay literal."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

