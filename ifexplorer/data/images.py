"""Decoding image files with Pillow, safely and in two passes.

Pass 1 (`plan_images`) reads only each file's header, from a size-capped stream: format (PNG, JPEG,
GIF, BMP, TIFF, WebP, PPM only — no Ghostscript or other exotic decoders), pixel size, mode. From the
headers alone it fixes the output size and colour and checks every budget: pixels per image, features
per image (after resize), pixel memory the decoder needs in all, and the memory of the result.
Pass 2 (`decode_images`) decodes one image at a time straight from its stream (JPEGs at a reduced
scale when they are shrunk), so the peak is one decoded image plus the output array.

Decompression-bomb warnings are errors; truncated images are errors (LOAD_TRUNCATED_IMAGES stays off).
Messages name files by the name the user gave (path in the zip / folder), never by object reprs.
"""
from __future__ import annotations

import functools
import io
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .core import DataError, check_decoded_bytes, check_features, check_memory, fit_size, reason

# Formats read (JPEG includes phones' multi-picture MPO files); the rest of Pillow's are not (EPS runs
# Ghostscript, others are rarely seen and little tested).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}  # Pillow's storage; else 4
_DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default Image.MAX_IMAGE_PIXELS


@functools.lru_cache(maxsize=1)
def _image_extensions() -> frozenset[str]:
    """File extensions of the formats read (.png, .jpg, .jpeg, .tif, …)."""
    from PIL import Image

    Image.init()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in FORMATS)


def is_image_name(name: str) -> bool:
    """True when the file name ends in an extension of a format read here (.png, .jpg, .bmp, …)."""
    dot = name.rfind(".")
    return dot > 0 and not name.startswith(".") and name[dot:].lower() in _image_extensions()


class CappedReader(io.RawIOBase):
    """A seekable, read-only view of a binary stream that refuses to go past `cap` bytes: a zip
    member's declared size can lie, so the bytes actually read are bounded too. Closing it closes
    the stream."""

    def __init__(self, raw, cap: int, shown: str):
        super().__init__()
        self._raw, self._cap, self._shown = raw, int(cap), shown

    def _refuse(self):
        raise DataError(f"{self._shown}: holds more than {self._cap:,} bytes, the limit per file "
                        f"(max_file_bytes={self._cap}); refusing to read it")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset, whence=io.SEEK_SET) -> int:
        try:
            pos = self._raw.seek(offset, whence)  # a zip member seeks by decompressing: same errors as reading
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{self._shown}: could not be read ({reason(exc)})") from None
        self._refuse_past(pos)
        return pos

    def _refuse_past(self, pos) -> None:
        if pos > self._cap:
            self._refuse()

    def readinto(self, buffer) -> int:
        room = self._cap + 1 - self._raw.tell()  # one byte more than allowed tells "too long" from "exactly cap"
        try:
            data = self._raw.read(max(0, min(len(buffer), room)))
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # a damaged zip member, a failing disk
            raise DataError(f"{self._shown}: could not be read ({reason(exc)})") from None
        self._refuse_past(self._raw.tell())
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


@dataclass(frozen=True)
class Header:
    """What an image file's header says: (height, width), Pillow mode, format."""
    size: tuple[int, int]
    mode: str
    format: str


@dataclass(frozen=True)
class ImagePlan:
    """The outcome of pass 1: every header, and the common output size (H, W) and colour."""
    headers: tuple[Header, ...]
    size: tuple[int, int]
    color: str

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3


def plan_images(entries, *, resize, color, options, what) -> ImagePlan:
    """Pass 1 over [(class, name, open)] entries, where open() returns a fresh binary stream.

    resize: None (all images must share one size), (H, W), or an int S (the largest side at most S
    px, aspect kept; images of different sizes become squares — see core.fit_size). color: None (gray
    if every image is grayscale, else RGB), "gray" or "rgb". options: max_image_pixels, max_features,
    max_decoded_bytes, max_memory_gb (None = default). Raises DataError naming the first bad file;
    nothing is decoded.
    """
    if not entries:
        raise DataError(f"{what}: no images found (expected image files inside the class folders)")
    limit = _pixel_limit(options.get("max_image_pixels"))
    headers = tuple(_probe(name, opener, limit) for _, name, opener in entries)
    size = fit_size(resize, [h.size for h in headers])
    if size is None:
        raise DataError(_mixed_sizes(headers, entries, what))
    if color is None:
        color = "gray" if all(h.mode in _GRAY_MODES for h in headers) else "rgb"
    plan = ImagePlan(headers, size, color)
    check_features(size, plan.channels, what, options.get("max_features"))
    costs = [_decode_bytes(h, size, color) for h in headers]
    big = int(np.argmax(costs))
    check_decoded_bytes(sum(costs), len(costs), f"{entries[big][1]} ({_hw(headers[big].size)})", what,
                        options.get("max_decoded_bytes"))
    check_memory(len(entries), size[0] * size[1] * plan.channels, what, options.get("max_memory_gb"))
    return plan


def decode_images(entries, plan: ImagePlan) -> np.ndarray:
    """Pass 2: uint8 (N, H, W) for gray or (N, H, W, 3) for RGB, one image decoded at a time."""
    h, w = plan.size
    out = np.empty((len(entries), h, w) + (() if plan.color == "gray" else (3,)), dtype=np.uint8)
    for i, (_, name, opener) in enumerate(entries):
        out[i] = _decode(name, opener, plan.color, plan.size)
    return out


def _pixel_limit(max_image_pixels) -> int:
    from PIL import Image

    if max_image_pixels is not None:
        return int(max_image_pixels)
    return int(Image.MAX_IMAGE_PIXELS) if Image.MAX_IMAGE_PIXELS else _DEFAULT_MAX_PIXELS


def _hw(size) -> str:
    return f"{size[0]}×{size[1]}"


def _open(name, fh):
    """Image.open (header only) restricted to FORMATS, bomb warnings as errors; DataError for anything
    unreadable. Our own DataError (a file over its size cap) passes through."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(fh, formats=FORMATS)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name}: refused as a decompression bomb ({reason(exc)})") from None
    except UnidentifiedImageError:
        kinds = f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
        raise DataError(f"{name}: not a readable image (not a {kinds} file)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"{name}: not a readable image ({reason(exc)})") from None


def _probe(name, opener, limit) -> Header:
    """The header of one file, read from its stream (the pixel data is not decoded)."""
    with opener() as fh, _open(name, fh) as im:
        w, h = im.size
        header = Header((h, w), im.mode, im.format)
    if w * h > limit:
        raise DataError(f"{name}: {w}×{h} = {w * h:,} pixels is over the limit of {limit:,} pixels per image "
                        "(possible decompression bomb; raise max_image_pixels if the file is genuine)")
    return header


def _mixed_sizes(headers, entries, what) -> str:
    sizes: dict[tuple[int, int], list[str]] = {}
    for hd, (_, name, _) in zip(headers, entries):
        sizes.setdefault(hd.size, []).append(name)
    common = sorted(sizes.items(), key=lambda kv: -len(kv[1]))[:4]
    listing = "; ".join(f"{_hw(hw)} (e.g. {names[0]})" for hw, names in common)
    return (f"{what}: images have {len(sizes)} different sizes (height×width): {listing}; pass resize=(H, W) "
            "or resize=S (largest side S px)")


def _draft_scale(size, target) -> int:
    """The reduction Pillow's JPEG draft mode decodes at for a target (H, W): 8, 4, 2 or 1."""
    ratio = min(size[0] // target[0], size[1] // target[1])
    return next((s for s in (8, 4, 2) if ratio >= s), 1)


def _decode_bytes(header: Header, target, color) -> int:
    """Pixel memory the decoder allocates for one image: the decoded image (JPEGs at their draft
    scale) plus, when the mode changes, the converted copy."""
    h, w = header.size
    if header.format in ("JPEG", "MPO"):
        s = _draft_scale(header.size, target)
        h, w = -(-h // s), -(-w // s)
    src = _BYTES_PER_PIXEL.get(header.mode, 4)
    out = 0 if header.mode == _target_mode(color) else (1 if color == "gray" else 4)
    return h * w * (src + out)


def _target_mode(color) -> str:
    return "L" if color == "gray" else "RGB"


def _decode(name, opener, color, size) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with opener() as fh, _open(name, fh) as im:
                if size != (im.size[1], im.size[0]):
                    im.draft(_target_mode(color), (size[1], size[0]))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
                im.load()
                im = _convert(im, color)
                if im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                return np.asarray(im, dtype=np.uint8)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name}: refused as a decompression bomb ({reason(exc)})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"{name}: corrupt or truncated image ({reason(exc)})") from None


def _convert(im, color):
    """Pillow image to mode "L" or "RGB" (no copy when it already is); 16-bit and float grayscale are
    scaled, not clipped."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(arr.max()), 255.0)
        im = Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8))
    mode = _target_mode(color)
    return im if im.mode == mode else im.convert(mode)

