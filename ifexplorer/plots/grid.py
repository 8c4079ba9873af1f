"""A clickable grid of thumbnails, as the plain data the app's grid component draws (ui.grid_component):
one PNG per cell (plots.thumbnails.compose_grid, frames included), caption lines cut to the cell, a tooltip and
the index a click returns.

    data = thumbnail_grid_data(images, indices, per_row=10, size_px=72, captions=[("#12", "+0.031"), ...],
                               frames=[None, "flipped", ...], hover=["#12 · 7 · mnist:1234", ...])
"""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from .thumbnails import DEFAULT_GAP, compose_grid

LINE_PX = 15         # height of one caption line (font CAPTION_FONT px)
CAPTION_FONT = 12


def chars_that_fit(size_px: int) -> int:
    """How many caption characters fit under a cell of size_px at CAPTION_FONT (about 0.55 em per character of
    the app's sans-serif font, digits and lower case; measured "T-shirt/top" 55 px at 12 px)."""
    return max(4, int((size_px + DEFAULT_GAP) / (0.55 * CAPTION_FONT)))


def shorten(text: str, size_px: int) -> str:
    """text cut to what fits under one cell, with "…" (a caption line never wraps: a long one would run into
    the neighbour's caption)."""
    limit = chars_that_fit(size_px)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def thumbnail_grid_data(images, indices, per_row: int, size_px: int, captions=None, frames=None, hover=None,
                        caption_colours=None, gap: int = DEFAULT_GAP) -> dict:
    """What the app's thumbnail grid component (ui.grid_component) draws: k cells, per_row to a row, each a
    size_px square PNG with `lines` caption lines under it (each shortened to fit), `gap` px apart; a row's pitch
    is size_px + gap + lines·LINE_PX.

    images: uint8 (k, H, W[, 3]); indices (k,): what a click on each cell returns; frames: compose_grid's
    frames; hover: k plain-text strings (the cell's tooltip); caption_colours: k CSS colours of the caption
    text (None: the theme's). Every text is shown literally (the component sets textContent, never HTML).

    Returns {"size", "gap", "per_row", "lines", "line_px", "font_px", "cells": [{"index", "src" (a PNG data
    URI), "lines" (strings), "colour" (or None), "title"}]} — plain JSON."""
    images = np.asarray(images)
    indices = np.asarray(indices).astype(np.int64)
    k = len(indices)
    if len(images) != k or k == 0:
        raise ValueError(f"need one image per index and at least one; got {len(images)} images, {k} indices")
    captions = [tuple(c) for c in captions] if captions is not None else [()] * k
    lines = max((len(c) for c in captions), default=0)
    frames = list(frames) if frames is not None else [None] * k
    colours = list(caption_colours) if caption_colours is not None else [None] * k
    titles = [str(h) for h in hover] if hover is not None else [str(i) for i in indices]
    column = compose_grid(images, per_row=1, size_px=size_px, frames=frames, gap=gap)  # every cell, one call
    pitch = size_px + gap
    cells = [{"index": int(i), "src": _png(column[n * pitch:n * pitch + size_px]),
              "lines": [shorten(str(line), size_px) for line in captions[n]] + [""] * (lines - len(captions[n])),
              "colour": colours[n], "title": titles[n]}
             for n, i in enumerate(indices)]
    return {"size": int(size_px), "gap": int(gap), "per_row": int(per_row), "lines": lines, "line_px": LINE_PX,
            "font_px": CAPTION_FONT, "cells": cells}


def grid_width(count: int, per_row: int, size_px: int, gap: int = DEFAULT_GAP) -> int:
    """The grid's width in px: cols·(size_px + gap) − gap."""
    return min(count, per_row) * (size_px + gap) - gap


def _png(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False, compress_level=3)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
