"""Decoding image files with Pillow, safely: every header is read first (size, mode, pixel limit,
decompression bombs), sizes and memory are checked, and only then is anything decoded. Decompression
bomb warnings are turned into errors; truncated images are errors (LOAD_TRUNCATED_IMAGES stays off).
"""
from __future__ import annotations

import functools
import io
import warnings

import numpy as np

from .core import DataError, check_memory

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default Image.MAX_IMAGE_PIXELS


@functools.lru_cache(maxsize=1)
def _image_extensions() -> frozenset[str]:
    """File extensions Pillow can *open* (not the save-only ones such as .pdf)."""
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def is_image_name(name: str) -> bool:
    """True when the file name ends in an extension Pillow can open (.png, .jpg, .bmp, …)."""
    dot = name.rfind(".")
    return dot > 0 and not name.startswith(".") and name[dot:].lower() in _image_extensions()


def decode_entries(entries, *, resize, color, max_image_pixels, max_memory_gb, what):
    """Decode [(class, name, bytes)] into uint8 (N, H, W) or (N, H, W, 3).

    resize: None (all images must share one size) or (H, W). color: None (gray if every image is
    grayscale, else RGB), "gray" or "rgb". Returns (images, color used). Raises DataError naming the
    first bad file; nothing is decoded until every header has passed.
    """
    if not entries:
        raise DataError(f"{what}: no images found (expected image files inside the class folders)")
    limit = _pixel_limit(max_image_pixels)
    headers = [_probe(name, data, limit) for _, name, data in entries]
    size = _common_size(headers, entries, resize, what)
    if color is None:
        color = "gray" if all(mode in _GRAY_MODES for _, mode in headers) else "rgb"
    channels = 1 if color == "gray" else 3
    check_memory(len(entries), size[0] * size[1] * channels, what, max_memory_gb)
    out = np.empty((len(entries), size[0], size[1]) + (() if color == "gray" else (3,)), dtype=np.uint8)
    for i, (_, name, data) in enumerate(entries):
        out[i] = _decode(name, data, color, size)
    return out, color


def _pixel_limit(max_image_pixels) -> int:
    from PIL import Image

    if max_image_pixels is not None:
        return int(max_image_pixels)
    return int(Image.MAX_IMAGE_PIXELS) if Image.MAX_IMAGE_PIXELS else _DEFAULT_MAX_PIXELS


def _open(name, data):
    """Image.open with bomb warnings as errors; DataError for anything unreadable."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from None


def _probe(name, data, limit) -> tuple[tuple[int, int], str]:
    """((H, W), mode) from the header only."""
    with _open(name, data) as im:
        w, h = im.size
        mode = im.mode
    if w * h > limit:
        raise DataError(f"{name}: {w}×{h} = {w * h} pixels is over the limit of {limit} pixels per image "
                        "(possible decompression bomb; raise max_image_pixels if the file is genuine)")
    return (h, w), mode


def _common_size(headers, entries, resize, what) -> tuple[int, int]:
    if resize is not None:
        return tuple(resize)
    sizes = {}
    for (hw, _), (_, name, _) in zip(headers, entries):
        sizes.setdefault(hw, []).append(name)
    if len(sizes) > 1:
        listing = "; ".join(f"{h}×{w} (e.g. {names[0]})" for (h, w), names in sorted(sizes.items(), key=lambda kv: -len(kv[1]))[:4])
        raise DataError(f"{what}: images have {len(sizes)} different sizes (height×width): {listing}; pass resize=(H, W)")
    return next(iter(sizes))


def _decode(name, data, color, size) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                im = _convert(im, color)
                if im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                return np.asarray(im, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"{name}: corrupt or truncated image ({exc})") from None


def _convert(im, color):
    """Pillow image to mode "L" or "RGB"; 16-bit and float grayscale are scaled, not clipped."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(arr.max()), 255.0)
        im = Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8))
    return im.convert("L" if color == "gray" else "RGB")
