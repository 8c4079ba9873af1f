"""Thumbnails composed as one image (a page of them, or one cell of the app's grids), scaled by nearest
neighbour, with coloured frames. Pure numpy; no Streamlit, no plotly.

    grid = compose_grid(ds.images_train[idx], per_row=10, size_px=96, frames=["helpful", None, ...])
"""
from __future__ import annotations

import numpy as np

from .style import FLIPPED, HARMFUL, HELPFUL

FRAME_COLOURS = {"helpful": HELPFUL, "harmful": HARMFUL, "flipped": FLIPPED}
DEFAULT_GAP = 4
BACKGROUND = (255, 255, 255)


def compose_grid(images, per_row: int = 10, size_px: int = 96, frames=None, gap: int = DEFAULT_GAP) -> np.ndarray:
    """One RGB uint8 image (rows·(size_px + gap) − gap, cols·(size_px + gap) − gap, 3) of k thumbnails.

    images: uint8 (k, H, W) gray or (k, H, W, 3) RGB, k ≥ 1; each is scaled by nearest neighbour so that its
            larger side is size_px, centred in a size_px square cell; cells are filled row by row, per_row wide.
    frames: None, or a list of k entries each None, "helpful", "harmful" or "flipped": a frame of that colour
            (plots.style) drawn over the outer frame_width(size_px) pixels of the cell.
    gap:    white pixels between cells.
    """
    images = _check_images(images)
    k, h, w = images.shape[:3]
    per_row, size_px = _positive(per_row, "per_row"), _positive(size_px, "size_px")
    gap = _non_negative(gap, "gap")
    frames = _check_frames(frames, k)
    scale = size_px / max(h, w)
    cell_h, cell_w = max(1, round(h * scale)), max(1, round(w * scale))
    rows = np.minimum(((np.arange(cell_h) + 0.5) / scale).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(cell_w) + 0.5) / scale).astype(np.int64), w - 1)
    thumbs = images[:, rows][:, :, cols]  # (k, cell_h, cell_w[, 3])
    if thumbs.ndim == 3:
        thumbs = np.repeat(thumbs[..., None], 3, axis=3)
    n_rows, n_cols = -(-k // per_row), min(k, per_row)
    pitch = size_px + gap
    out = np.empty((n_rows * pitch - gap, n_cols * pitch - gap, 3), dtype=np.uint8)
    out[:] = BACKGROUND
    top, left = (size_px - cell_h) // 2, (size_px - cell_w) // 2
    width = frame_width(size_px)
    for j in range(k):
        y0, x0 = (j // per_row) * pitch, (j % per_row) * pitch
        out[y0 + top:y0 + top + cell_h, x0 + left:x0 + left + cell_w] = thumbs[j]
        if frames[j] is not None:
            cell = out[y0:y0 + size_px, x0:x0 + size_px]
            colour = _rgb(FRAME_COLOURS[frames[j]])
            cell[:width], cell[-width:], cell[:, :width], cell[:, -width:] = colour, colour, colour, colour
    return out


def frame_width(size_px: int) -> int:
    """Frame thickness in pixels for cells of size_px: 6 px at 96 px, at least 2."""
    return max(2, size_px // 16)


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or not (images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)):
        raise ValueError(f"images must be uint8 (k, H, W) or (k, H, W, 3); got {images.dtype} {images.shape}")
    if images.shape[0] == 0 or 0 in images.shape[1:3]:
        raise ValueError(f"images is empty: shape {images.shape}")
    return images


def _check_frames(frames, k: int) -> list:
    if frames is None:
        return [None] * k
    frames = list(frames)
    if len(frames) != k:
        raise ValueError(f"frames must have one entry per image ({k}); got {len(frames)}")
    bad = [f for f in frames if f is not None and f not in FRAME_COLOURS]
    if bad:
        raise ValueError(f"frames entries must be None or one of {sorted(FRAME_COLOURS)}; got {bad[0]!r}")
    return frames


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1; got {value!r}")
    return int(value)


def _non_negative(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer ≥ 0; got {value!r}")
    return int(value)
