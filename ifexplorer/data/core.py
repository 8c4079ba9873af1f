"""Shared pieces of the dataset loaders: the error type, the raw "source" record every loader
returns, memory estimates, option checks, and the image helpers (colour, resize, glyph thumbnails).

Nothing here imports torch or streamlit: loading the default view must stay fast.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..memory import host_available_bytes

# The loaders keep at most this fraction of the free memory for one dataset.
MEMORY_FRACTION = 0.5
DEFAULT_MAX_TOTAL_BYTES = 1 << 30  # 1 GiB: cap on a zip's uncompressed size / a folder's file sizes
DEFAULT_MAX_FILES = 200_000  # cap on the entries of a zip / the files of a folder (full MNIST is 70,000)
DEFAULT_MAX_FILE_BYTES = 64 << 20  # 64 MiB: cap on one image file (a zip member's declared AND actual size)
DEFAULT_MAX_FEATURES = 64 * 64 * 3  # cap on the features of one image after resize and colour (12,288)
DEFAULT_MAX_DECODED_BYTES = 1 << 30  # 1 GiB: cap on the pixel memory the decoder allocates, summed over the images


class DataError(ValueError):
    """A dataset could not be loaded; the message names the offending file, entry or field."""


class UploadInfo(NamedTuple):
    """What a folder / zip / npz of images would load as, read from headers only: the number of
    images and each one's size after resize and colour (channels 1 = gray, 3 = RGB)."""
    n_images: int
    height: int
    width: int
    channels: int

    @property
    def n_features(self) -> int:
        return self.height * self.width * self.channels


@dataclass
class Source:
    """What a loader hands to the common pipeline (split, label noise, features, targets).

    images:      uint8 (N, H, W) or (N, H, W, 3), or None for tabular data.
    features:    float64 (N, d) for tabular / simulated data and non-8-bit npz arrays (the kernel's
                 inputs; images, if any, are then for display only); None means "flatten the images".
    labels:      int (N,), index into class_names.
    ids:         str (N,), stable sample ids ("mnist:1234", "cats/img01.png").
    is_test:     bool (N,) when the source fixes its own train/test split, else None.
    density:     float64 (N,) true density (simulated mixture only).
    components:  int (N,) mixture component of each point (simulated mixture only).
    standardize: z-score the tabular features (train statistics) before the unit-norm scaling.
    """

    name: str
    description: str
    labels: np.ndarray
    class_names: tuple[str, ...]
    ids: np.ndarray
    images: np.ndarray | None = None
    features: np.ndarray | None = None
    is_test: np.ndarray | None = None
    density: np.ndarray | None = None
    components: np.ndarray | None = None
    standardize: bool = False
    skipped: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])


def check_options(source: str, options: dict, allowed: tuple[str, ...]) -> None:
    """Refuse options a loader does not know (a typo must not be silently ignored)."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) if allowed else "none"
        raise DataError(f"unknown option(s) {unknown} for dataset {source!r}; accepted: {accepted}")


def format_gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB"


def check_memory(n_images: int, values_per_image: int, what: str, max_memory_gb=None) -> None:
    """Raise DataError before decoding when n images would not fit.

    Each value is held as a uint8 display pixel plus a float64 feature (9 bytes), and the decoder
    keeps a second uint8 copy while converting, so the estimate is 10 bytes per value.
    """
    needed = 10 * int(n_images) * int(values_per_image)
    if max_memory_gb is None:
        limit = MEMORY_FRACTION * host_available_bytes()
        how = f"{int(MEMORY_FRACTION * 100)}% of the free memory"
    else:
        limit = float(max_memory_gb) * 1e9
        how = f"max_memory_gb={max_memory_gb}"
    if needed > limit:
        raise DataError(
            f"{what}: {n_images} images of {values_per_image} values need about {format_gb(needed)} "
            f"of memory, more than the {format_gb(limit)} allowed ({how}); use fewer images or a "
            "smaller resize=(H, W)"
        )


def check_features(size: tuple[int, int], channels: int, what: str, max_features=None) -> None:
    """Refuse, from the headers, images that would give more than max_features kernel inputs each."""
    cap = DEFAULT_MAX_FEATURES if max_features is None else int(max_features)
    d = size[0] * size[1] * channels
    if d > cap:
        raise DataError(
            f"{what}: each image would give {size[0]}×{size[1]}×{channels} = {d:,} features, more than the "
            f"{cap:,} allowed (max_features={cap}); shrink the images (resize=S keeps the largest side at most "
            "S px, e.g. resize=64) or raise max_features"
        )


def check_decoded_bytes(total: int, n_images: int, largest: str, what: str, max_decoded_bytes=None) -> None:
    """Refuse, from the headers, a set of images whose decoding would allocate more pixel memory in
    all than the cap (each is decoded once, one at a time; `largest` names the costliest)."""
    cap = DEFAULT_MAX_DECODED_BYTES if max_decoded_bytes is None else int(max_decoded_bytes)
    if total > cap:
        raise DataError(
            f"{what}: decoding the {n_images:,} images needs {format_gb(total)} of pixel memory in all "
            f"(the largest: {largest}), more than the {format_gb(cap)} cap (max_decoded_bytes={cap}); "
            "use fewer or smaller images"
        )


def check_total_bytes(total: int, what: str, max_total_bytes) -> None:
    """Refuse a zip / folder / npz whose (uncompressed) size exceeds the cap."""
    cap = DEFAULT_MAX_TOTAL_BYTES if max_total_bytes is None else int(max_total_bytes)
    if total > cap:
        raise DataError(
            f"{what} holds {format_gb(total)} of (uncompressed) data, more than the "
            f"{format_gb(cap)} cap (max_total_bytes={cap}); refusing to read it"
        )


def check_file_count(count: int, what: str, max_files) -> None:
    """Refuse a zip / folder with more entries than the cap (each is decoded one by one)."""
    cap = DEFAULT_MAX_FILES if max_files is None else int(max_files)
    if count > cap:
        raise DataError(f"{what} holds at least {count:,} files, more than the {cap:,} cap (max_files={cap}); "
                        "refusing to read it")


def check_resize(resize) -> tuple[int, int] | int | None:
    """None, a (H, W) pair of positive ints, or one positive int S (largest side at most S px)."""
    if resize is None:
        return None
    if isinstance(resize, (int, np.integer)) and not isinstance(resize, bool):
        if resize < 1:
            raise DataError(f"resize=S (largest side in px) must be a positive integer; got {resize!r}")
        return int(resize)
    try:
        h, w = (int(v) for v in resize)
    except (TypeError, ValueError):
        raise DataError(f"resize must be None, (height, width) or S (largest side in px); got {resize!r}") from None
    if h < 1 or w < 1 or (h, w) != tuple(resize):
        raise DataError(f"resize must be two positive integers (height, width); got {resize!r}")
    return h, w


def fit_size(resize, sizes) -> tuple[int, int] | None:
    """The common output size (H, W) for images of the given (H, W) sizes, or None when they differ
    and resize is None (the caller must refuse).

    resize None: the one common size. (H, W): that. An int S, the largest side at most S px: images
    of one size keep their aspect (scaled down so the longer side is S, each side at least 1 px;
    never scaled up); images of different sizes become S×S squares (stretched), or m×m with m the
    largest side found when that is smaller than S.
    """
    sizes = {tuple(int(v) for v in s) for s in sizes}
    if isinstance(resize, tuple):
        return resize
    if resize is None:
        return next(iter(sizes)) if len(sizes) == 1 else None
    if len(sizes) > 1:
        side = min(int(resize), max(max(s) for s in sizes))
        return side, side
    h, w = next(iter(sizes))
    if max(h, w) <= resize:
        return h, w
    scale = resize / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def reason(exc: BaseException) -> str:
    """An exception's text fit for the user: an OSError's strerror without its file path, object reprs
    (``<_io.BytesIO object at 0x…>``) replaced by "the file"."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return re.sub(r"<[^<>]*? at 0x[0-9A-Fa-f]+>", "the file", str(exc)) or type(exc).__name__


def check_color(color) -> str | None:
    if color is None or color in ("gray", "rgb"):
        return color
    raise DataError(f"color must be None (keep the source's), 'gray' or 'rgb'; got {color!r}")


def to_color(images: np.ndarray, color: str | None) -> np.ndarray:
    """uint8 (N,H,W) or (N,H,W,3) converted to gray (ITU-R 601-2 luma, as Pillow's "L") or RGB."""
    if color is None:
        return images
    if color == "gray" and images.ndim == 4:
        luma = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    if color == "rgb" and images.ndim == 3:
        return np.repeat(images[..., None], 3, axis=-1)
    return images


def resize_images(images: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize uint8 (N,H,W[,3]) to size=(H', W') with Pillow's antialiased bilinear filter."""
    if size is None or images.shape[1:3] == tuple(size):
        return images
    from PIL import Image

    h, w = size
    out = np.empty((images.shape[0], h, w) + images.shape[3:], dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BILINEAR))
    return out


def bar_glyphs(features: np.ndarray, height: int = 32) -> np.ndarray:
    """Thumbnails for tabular rows: one vertical bar per feature, up from the midline for positive
    values and down for negative ones, scaled by the largest |value| in the whole matrix.

    features: float (N, d). Returns uint8 (N, height, d * bar_width) — white background, dark bars,
    a grey midline; bar_width = max(1, 32 // d) so small d still gives a readable glyph, and bars
    3 px or wider keep a white gap (a quarter of the width) so neighbours of one sign stay apart.
    The longest bar stops max(1, height // 16) px short of the edge.
    """
    x = np.asarray(features, dtype=np.float64)
    n, d = x.shape
    bw = max(1, 32 // d)
    scale = np.max(np.abs(x)) or 1.0
    half = height // 2
    margin = max(1, height // 16)
    # bar length in pixels per (row, feature), signed
    length = np.rint(x / scale * (half - margin)).astype(int)
    rows = np.arange(height)[None, :, None]  # (1, H, 1)
    top = np.where(length > 0, half - length, half + 1)[:, None, :]  # (N, 1, d)
    bottom = np.where(length < 0, half + 1 - length, half)[:, None, :]
    filled = (rows >= top) & (rows < bottom)  # (N, H, d)
    img = np.full((n, height, d), 255, dtype=np.uint8)
    img[:, half, :] = 170
    img[filled] = 40
    img = np.repeat(img, bw, axis=2)
    if bw >= 3:
        gap = np.arange(d * bw) % bw >= bw - max(1, bw // 4)
        img[:, :, gap] = 255
        img[:, half, :] = 170
    return img


def allocate(total: int, weights, minimum=None) -> np.ndarray:
    """Split an integer total into parts proportional to weights (largest remainder method).

    weights: (K,) non-negative. minimum: optional (K,) ints; parts below it are raised to it,
    taking the points from the parts with the most room (the caller ensures sum(minimum) <= total).
    Returns int (K,) summing to total.
    """
    w = np.asarray(weights, dtype=np.float64)
    share = total * w / w.sum()
    parts = np.floor(share).astype(np.int64)
    rest = int(total - parts.sum())
    if rest:
        order = np.argsort(-(share - parts), kind="stable")
        parts[order[:rest]] += 1
    if minimum is not None:
        minimum = np.asarray(minimum, dtype=np.int64)
        while np.any(parts < minimum):
            k = int(np.argmax(minimum - parts))
            donor = int(np.argmax(parts - minimum))
            parts[k] += 1
            parts[donor] -= 1
    return parts
