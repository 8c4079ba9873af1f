"""Small Streamlit helpers shared by the pages: images, grids, explanations, friendly errors."""
from __future__ import annotations

import contextlib

import numpy as np
import streamlit as st
from PIL import Image

from ifexplorer.device import InsufficientMemoryError
from ifexplorer.ui.text import md_escape


def upscale(image: np.ndarray, size: int = 112) -> Image.Image:
    """uint8 (H, W) or (H, W, 3) -> PIL image upscaled with NEAREST to `size` px on the long side
    (Streamlit only shrinks images, and blurry digits are hard to read)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    factor = max(1, int(round(size / max(arr.shape[:2]))))
    return img.resize((arr.shape[1] * factor, arr.shape[0] * factor), Image.NEAREST)


def show_image(image, caption: str | None = None, size: int = 112, width="content") -> None:
    """One image, upscaled; its caption is shown literally (Streamlit renders captions as markdown, and they
    carry class names and file names)."""
    st.image(upscale(image, size), caption=None if caption is None else md_escape(caption), output_format="PNG",
             width=width)


def image_row(images, captions, size: int = 84, per_row: int = 5) -> None:
    """Images in rows of `per_row` equal columns, each with its caption (shown literally); each image fills its
    column (rendered at ≥ 2× `size` px so the browser only ever shrinks it)."""
    images = list(images)
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for col, img, cap in zip(cols, images[start:start + per_row], captions[start:start + per_row]):
            with col:
                show_image(img, cap, 2 * size, width="stretch")


def explain(markdown: str) -> None:
    """The "What am I looking at?" expander every page has."""
    with st.expander("What am I looking at?", icon=":material/help:"):
        st.markdown(markdown)


HINTS = {
    InsufficientMemoryError: "Use fewer training points in the sidebar (memory grows as n²).",
}


@contextlib.contextmanager
def friendly_errors(what: str = "This page"):
    """Turn package errors into st.error messages that say what to change; never a traceback. The exception's
    message is shown literally (it may quote a file or class name)."""
    try:
        yield
    except InsufficientMemoryError as exc:
        st.error(f"{md_escape(exc)}\n\n**What to change:** {HINTS[InsufficientMemoryError]}", icon=":material/memory:")
    except ValueError as exc:  # includes ifexplorer.data.DataError
        st.error(f"{what} could not be computed: {md_escape(exc)}\n\n**What to change:** adjust the settings in the "
                 "sidebar (dataset, sizes, λ) or the file you gave.", icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - last resort: a message, not a traceback
        st.error(f"{what} failed unexpectedly ({type(exc).__name__}: {md_escape(exc)}). Try other settings or "
                 "reload.", icon=":material/error:")


def fmt(x: float) -> str:
    """Compact signed number for influence scores: "+0.042", "−0.017", "−8.7e−3". The minus is U+2212, which a
    browser does not break a line after (an ASCII hyphen split captions as "−8.7e-" / "3")."""
    if x == 0 or 1e-2 <= abs(x) < 1e3:
        text = f"{x:+.3f}"
    else:
        mantissa, exponent = f"{x:+.1e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", "\u2212")


def fmt_rate(x: float) -> str:
    """A rate in [0, 1] with three decimals, or more, never rounding a value short of 1 up to "1.000":
    0.99953 → "0.9995", 1 − 1e-11 → "1 − 1.0e-11"."""
    digits = 3
    while digits < 8 and round(x, digits) >= 1 > x:
        digits += 1
    text = f"{x:.{digits}f}"
    return f"1 − {1 - x:.1e}" if x < 1 and text.startswith("1") else text


def selected_training_index(event) -> int | None:
    """The training index (customdata) of the first point clicked in a plotly chart, if any."""
    try:
        points = event.selection["points"]
    except (AttributeError, KeyError, TypeError):
        return None
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            return int(data)
    return None


def favicon() -> Image.Image:
    """A 32×32 icon drawn locally (a blue disc with a white dot), so no icon is fetched from the web."""
    yy, xx = np.mgrid[:32, :32]
    r = np.hypot(yy - 15.5, xx - 15.5)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[r < 15] = (47, 111, 222, 255)
    rgba[r < 5] = (255, 255, 255, 255)
    return Image.fromarray(rgba, "RGBA")
