"""plots.grid (clickable thumbnail grids) and plots.dynamics (the prediction curve with class sides)."""
import base64
import io

import numpy as np
import pytest
from PIL import Image

from ifexplorer.plots.dynamics import prediction_curve_figure, verdict
from ifexplorer.plots.grid import CAPTION_FONT, chars_that_fit, grid_width, shorten, thumbnail_grid_figure
from ifexplorer.plots.thumbnails import cell_at, compose_grid


def _images(k, h=8, w=8):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(k, h, w), dtype=np.uint8)


def _decoded(source: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_every_cell_has_a_click_target_over_its_thumbnail_carrying_its_index():
    images, idx = _images(13), np.arange(100, 113)
    fig = thumbnail_grid_figure(images, idx, per_row=5, size_px=40, captions=[(f"#{j}", "+0.1") for j in idx])
    targets = fig.data[0]
    np.testing.assert_array_equal(targets.customdata, idx)
    assert fig.layout.width == grid_width(13, 5, 40) == 5 * 44 - 4
    assert fig.layout.height == 3 * (44 + 2 * 15)
    for k, (x, y) in enumerate(zip(targets.x, targets.y)):  # the marker centre lies on cell k of its row's strip
        row = k // 5
        assert cell_at(x, y - row * (44 + 30), count=len(idx) - 5 * row, per_row=5, size_px=40) == k % 5
        assert targets.marker.size == 40


def test_the_row_images_are_exactly_the_composed_thumbnails():
    images, idx = _images(7), np.arange(7)
    frames = [None, "flipped", None, "harmful", None, None, "helpful"]
    fig = thumbnail_grid_figure(images, idx, per_row=4, size_px=32, frames=frames)
    strips = [_decoded(im.source) for im in fig.layout.images]
    assert len(strips) == 2 and strips[0].shape[2] == 4
    np.testing.assert_array_equal(strips[0][..., :3], compose_grid(images[:4], per_row=4, size_px=32,
                                                                   frames=frames[:4]))
    np.testing.assert_array_equal(strips[1][..., :3], compose_grid(images[4:], per_row=4, size_px=32,
                                                                   frames=frames[4:]))
    gaps = (np.arange(strips[0].shape[1]) % 36) >= 32  # the 4 px between cells show the page behind
    assert (strips[0][:, gaps, 3] == 0).all() and (strips[0][:, ~gaps, 3] == 255).all()


def test_captions_are_literal_and_cut_to_the_cell():
    idx = np.arange(2)
    long = "a-very-long-file-name-0123456789.png"
    fig = thumbnail_grid_figure(_images(2), idx, per_row=2, size_px=96, captions=[("<b>x</b>",), (long,)],
                                hover=["<i>cat</i> & dog", "y"])
    texts = [t for tr in fig.data[1:] for t in tr.text]
    assert "&lt;b&gt;x&lt;/b&gt;" in texts and "<b>" not in "".join(texts)
    cut = [t for t in texts if t.startswith("a-very")][0]
    assert cut.endswith("…") and len(cut) == chars_that_fit(96) and long.startswith(cut[:-1])
    assert fig.data[0].hovertext[0] == "&lt;i&gt;cat&lt;/i&gt; &amp; dog"
    assert shorten("+0.031", 48) == "+0.031" and chars_that_fit(160) * 0.55 * CAPTION_FONT <= 164


def test_caption_colours_group_into_traces_with_the_right_captions():
    idx = np.arange(4)
    fig = thumbnail_grid_figure(_images(4), idx, per_row=4, size_px=40, captions=[(str(j),) for j in idx],
                                caption_colours=["#ff0000", None, "#ff0000", None])
    by_colour = {tr.textfont.color: list(tr.text) for tr in fig.data[1:]}
    assert by_colour == {"#ff0000": ["0", "2"], None: ["1", "3"]}


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one image per index"):
        thumbnail_grid_figure(_images(3), np.arange(2), per_row=2, size_px=40)


def test_prediction_curve_draws_the_zero_line_and_labels_both_sides():
    t = np.logspace(-3, 2, 20)
    f = np.tanh(t) - 0.2
    fig = prediction_curve_figure(t, f, 1.0, ("seven", "nine"), "title")
    zero = [s for s in fig.layout.shapes if s.type == "line" and s.y0 == 0 and s.y1 == 0]
    assert len(zero) == 1
    texts = [a.text for a in fig.layout.annotations]
    assert "f > 0 → nine" in texts and "f < 0 → seven" in texts
    top = fig.layout.yaxis.range[1]
    assert top >= np.abs(f).max() and fig.layout.yaxis.range[0] == -top
    multi = prediction_curve_figure(t, np.stack([f, -f, 0 * f], 1), None, ("a", "b", "c"), "title")
    assert len(multi.data) == 3 and not multi.layout.annotations


def test_verdict_is_the_sign_for_one_output_and_the_argmax_for_many():
    assert verdict(np.array(0.3), 1) == (1, True) and verdict(np.array([-0.3]), 1) == (0, False)
    assert verdict(np.array(0.0), 0) == (0, True)  # f = 0 predicts class 0 (f > 0 is class 1)
    assert verdict(np.array([0.1, 0.5, 0.2]), 1) == (1, True) and verdict(np.array([0.6, 0.5]), 1) == (0, False)
