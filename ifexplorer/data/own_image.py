"""The user's own test image (a drawing, an upload, a camera photo) preprocessed like the dataset.

    features, display = prepare_own_image(canvas.image_data, like=ds)   # (d,) unit norm, uint8 (H, W[, 3])
    model.predict(features)

Gray datasets (MNIST, Fashion-MNIST, digits, gray folders) get the MNIST recipe (LeCun et al.): the ink is
separated from the background, cropped to its bounding box, scaled (aspect kept, antialiased) so its larger side
is the dataset's typical ink size — the median over up to SAMPLE training images, 20 px of 28 for MNIST — and
translated by whole pixels so that its centre of mass is within half a pixel of the dataset's median centre of
mass ((14, 14) for MNIST). The result has the dataset's polarity (light ink on black for MNIST). Colour datasets
get the photo recipe: centre-cropped to the dataset's aspect ratio and resized to its (H, W). Either way the
features are the display pixels flattened and scaled to unit norm, exactly as load_dataset builds them.

Which is ink: a canvas with a transparent background (streamlit-drawable-canvas's default) is read from its
alpha channel, whatever the stroke colour; an opaque image is read from its luma, and it is inverted when its
border is light (dark ink on paper). Ink weaker than INK_FLOOR of the strongest stroke (paper grain, JPEG
noise) is dropped.
"""
from __future__ import annotations

import io
import warnings

import numpy as np

from .core import DataError

SAMPLE = 500  # training images measured for the dataset's ink size and polarity
INK_FLOOR = 0.1  # ink below this fraction of the strongest stroke is background
WORK_SIDE = 512  # inputs are first reduced (antialiased) to at most this many pixels on their larger side
_MIN_CONTRAST = 8  # an image whose ink spans fewer grey levels than this is empty


def prepare_own_image(image, like) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess one image like the images of the Dataset `like`.

    image: a PIL image; a uint8 array (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA (a canvas's image_data),
           or a float array with values in [0, 1]; PNG / JPEG / … file bytes; or an uploaded file (anything
           with getvalue(), such as Streamlit's UploadedFile from st.file_uploader or st.camera_input).
    like:  the Dataset whose model will see the image.
    Returns (features float64 (d,) of unit norm, display uint8 of like.image_shape).
    Raises DataError for a tabular / simulated dataset, unreadable bytes, a bad array, or an empty drawing.
    """
    shape = _image_shape(like)
    im = _as_pil(image)
    if len(shape) == 3:
        display = _photo(im, shape)
    else:
        display = _drawing(im, shape, *_dataset_style(like))
    features = display.reshape(-1).astype(np.float64)
    return features / np.linalg.norm(features), display


# ------------------------------------------------------------------------------------- inputs
def _image_shape(like) -> tuple[int, ...]:
    """like.image_shape, after checking that the features are the dataset's pixels."""
    shape = tuple(like.image_shape)
    if like.n_features != int(np.prod(shape)):
        raise DataError(f"own images need an image dataset; {like.name!r} has {like.n_features} features per point, "
                        "not pixels (tabular or simulated data)")
    return shape


def _as_pil(image):
    """Any accepted input as a PIL image in mode "L", "RGB" or "RGBA", at most WORK_SIDE px on its larger side."""
    from PIL import Image, ImageOps

    if hasattr(image, "getvalue"):  # st.file_uploader / st.camera_input
        image = image.getvalue()
    if isinstance(image, (bytes, bytearray, memoryview)):
        im = _decode(bytes(image))
    elif isinstance(image, Image.Image):
        im = image
    elif isinstance(image, np.ndarray):
        im = Image.fromarray(_as_uint8(image))
    else:
        raise DataError(f"own image: expected a PIL image, an array (H, W[, 3 or 4]) or image file bytes; "
                        f"got {type(image).__name__}")
    im = ImageOps.exif_transpose(im)  # camera photos carry their orientation in EXIF
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):  # 16-bit / float gray: scaled to 8 bits, not clipped
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(values.max()), 255.0)
        im = Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8))
    if im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    if max(im.size) > WORK_SIDE:
        im = im.copy()
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return im


def _decode(data: bytes):
    """Bytes to a loaded PIL image; JPEGs are decoded at a reduced scale (draft) when they are large."""
    from PIL import Image

    if not data:
        raise DataError("own image: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format == "JPEG":
                im.draft("RGB", (WORK_SIDE, WORK_SIDE))
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"own image: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"own image: not a readable image file (PNG, JPEG, …): {exc}") from None
    return im


def _as_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)) or 0 in arr.shape:
        raise DataError(f"own image: expected an array (H, W), (H, W, 3) or (H, W, 4); got shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and arr.min() >= 0 and arr.max() <= 1:
        return np.rint(arr * 255.0).astype(np.uint8)
    raise DataError(f"own image: expected uint8 pixels (or floats in [0, 1]); got dtype {arr.dtype} with values "
                    f"in [{arr.min()}, {arr.max()}]")


# ------------------------------------------------------------------------------ the recipes
def _photo(im, shape) -> np.ndarray:
    """RGB (H, W, 3): transparency over white, centre crop to the dataset's aspect, antialiased resize."""
    from PIL import Image, ImageOps

    if im.mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    rgb = np.asarray(im.convert("RGB"))
    if int(rgb.max()) - int(rgb.min()) < _MIN_CONTRAST:
        raise DataError("own image: the picture is blank (one flat colour); draw something first or pick a photo")
    fitted = ImageOps.fit(Image.fromarray(rgb), (shape[1], shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(fitted, dtype=np.uint8)


def _drawing(im, shape, ink_side: float, centre: np.ndarray, light_background: bool) -> np.ndarray:
    """Gray (H, W): ink cropped, scaled to ink_side (fraction of min(H, W)), its centre of mass moved to centre."""
    from PIL import Image

    ink = _ink(im)
    on = ink >= 255 * INK_FLOOR
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = shape
    scale = ink_side * min(h, w) / max(crop.shape)
    new_h, new_w = (max(1, min(h, int(round(s * scale)))) for s in crop.shape)
    glyph = np.asarray(Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS), dtype=np.float64)
    field = np.zeros((h, w))
    top, left = (h - new_h) // 2, (w - new_w) // 2
    field[top:top + new_h, left:left + new_w] = glyph
    field = _move_centre_of_mass(field, centre)
    field = np.clip(np.rint(field * (255.0 / field.max())), 0, 255).astype(np.uint8)
    return 255 - field if light_background else field


def _ink(im) -> np.ndarray:
    """Ink strength uint8 (h, w), 255 at the strongest stroke, 0 on the background. DataError if there is none."""
    arr = np.asarray(im)
    if im.mode == "RGBA" and arr[:, :, 3].min() < 255:  # a canvas with a transparent background: alpha is ink
        ink = arr[:, :, 3].astype(np.float64)
    else:
        gray = np.asarray(im.convert("L"), dtype=np.float64)
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        background = float(np.median(border))
        ink = gray - background if background < 128 else background - gray
    ink = np.clip(ink, 0, None)
    peak = float(ink.max())
    if peak < _MIN_CONTRAST:
        raise DataError("own image: nothing is drawn (the image is blank); draw something first")
    return np.rint(ink * (255.0 / peak)).astype(np.uint8)


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (row, column) in pixel coordinates of gray images (..., H, W): (..., 2)."""
    w = np.asarray(images, dtype=np.float64)
    rr, cc = np.indices(w.shape[-2:])
    total = w.sum(axis=(-2, -1))
    return np.stack([(w * rr).sum(axis=(-2, -1)), (w * cc).sum(axis=(-2, -1))], axis=-1) / total[..., None]


def _move_centre_of_mass(field: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Translate by whole pixels, as MNIST did, so that the centre of mass lands within half a pixel of target
    (row, column); ink pushed past the border is cut."""
    dr, dc = (int(v) for v in np.rint(target - centre_of_mass(field)))
    h, w = field.shape
    out = np.zeros_like(field)
    out[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = field[max(-dr, 0):h - max(dr, 0),
                                                                      max(-dc, 0):w - max(dc, 0)]
    return out


def _dataset_style(like) -> tuple[float, np.ndarray, bool]:
    """Over up to SAMPLE training images: (median larger side of the ink box as a fraction of min(H, W), median
    centre of mass of the ink (row, column) rounded to half a pixel, light background?). MNIST: 20/28, (14, 14),
    False — MNIST's own centring put the centre of mass on pixel 14, half a pixel below and right of the geometric
    middle 13.5."""
    images = np.asarray(like.images_train[:SAMPLE])
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    light = float(np.median(border)) >= 128
    ink = (255 - images if light else images).astype(np.int16)
    on = ink > 255 * INK_FLOOR
    rows, cols = on.any(axis=2), on.any(axis=1)
    height = rows.shape[1] - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    width = cols.shape[1] - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    side = np.maximum(height, width)[rows.any(axis=1)]
    if not side.size:  # blank training images: fill the field, centre on the middle
        return 1.0, (np.array(images.shape[1:3]) - 1) / 2.0, light
    centre = np.round(2.0 * np.median(centre_of_mass(ink[rows.any(axis=1)]), axis=0)) / 2.0  # to half a pixel
    return min(float(np.median(side)) / min(images.shape[1:3]), 1.0), centre, light
