"""plots.grid (clickable thumbnail grids) and plots.dynamics (the prediction curve with class sides)."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from ifexplorer.plots.curves import marker_times, series_names
from ifexplorer.plots.dynamics import nice_ceiling, prediction_curve_option, side_labels, verdict
from ifexplorer.plots.grid import CAPTION_FONT, chars_that_fit, grid_width, shorten, thumbnail_grid_data
from ifexplorer.plots.thumbnails import compose_grid


def _images(k, h=8, w=8):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(k, h, w), dtype=np.uint8)


def _decoded(source: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_every_cell_carries_its_index_its_lines_and_its_tooltip():
    images, idx = _images(13), np.arange(100, 113)
    data = thumbnail_grid_data(images, idx, per_row=5, size_px=40, captions=[(f"#{j}", "+0.1") for j in idx],
                               hover=[f"training #{j}" for j in idx])
    assert json.loads(json.dumps(data)) == data  # plain JSON: what the component receives
    assert (data["size"], data["gap"], data["per_row"], data["lines"]) == (40, 4, 5, 2)
    assert [c["index"] for c in data["cells"]] == list(idx)
    assert [c["lines"] for c in data["cells"]] == [[f"#{j}", "+0.1"] for j in idx]
    assert [c["title"] for c in data["cells"]] == [f"training #{j}" for j in idx]
    assert grid_width(13, 5, 40) == 5 * 44 - 4 and grid_width(3, 5, 40) == 3 * 44 - 4


def test_each_cell_image_is_exactly_its_composed_thumbnail_frame_included():
    images, idx = _images(7, h=8, w=6), np.arange(7)
    frames = [None, "flipped", None, "harmful", None, None, "helpful"]
    data = thumbnail_grid_data(images, idx, per_row=4, size_px=32, frames=frames)
    for n, cell in enumerate(data["cells"]):
        assert cell["src"].startswith("data:image/png;base64,")
        np.testing.assert_array_equal(_decoded(cell["src"]), compose_grid(images[n:n + 1], per_row=1, size_px=32,
                                                                          frames=[frames[n]]))
    assert _decoded(data["cells"][0]["src"]).shape == (32, 32, 3)


def test_captions_are_cut_to_the_cell_and_short_ones_padded():
    idx = np.arange(2)
    long = "a-very-long-file-name-0123456789.png"
    data = thumbnail_grid_data(_images(2), idx, per_row=2, size_px=96, captions=[("<b>x</b>", "+1"), (long,)])
    first, second = (c["lines"] for c in data["cells"])
    assert first == ["<b>x</b>", "+1"]  # literal: the component sets textContent, never HTML
    assert len(second) == 2 and second[1] == ""
    cut = second[0]
    assert cut.endswith("…") and len(cut) == chars_that_fit(96) and long.startswith(cut[:-1])
    assert [c["title"] for c in data["cells"]] == ["0", "1"]  # no hover given: the index
    assert shorten("+0.031", 48) == "+0.031" and chars_that_fit(160) * 0.55 * CAPTION_FONT <= 164


def test_caption_colours_go_with_their_cells():
    data = thumbnail_grid_data(_images(4), np.arange(4), per_row=4, size_px=40, captions=[(str(j),) for j in range(4)],
                               caption_colours=["#ff0000", None, "#ff0000", None])
    assert [(c["lines"][0], c["colour"]) for c in data["cells"]] == [("0", "#ff0000"), ("1", None), ("2", "#ff0000"),
                                                                     ("3", None)]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one image per index"):
        thumbnail_grid_data(_images(3), np.arange(2), per_row=2, size_px=40)
    with pytest.raises(ValueError, match="at least one"):
        thumbnail_grid_data(_images(0), np.arange(0), per_row=2, size_px=40)


def test_prediction_curve_draws_the_zero_line_and_labels_both_sides():
    t = np.logspace(-3, 2, 20)
    f = np.tanh(t) - 0.2
    option = prediction_curve_option(t, f, 1.0, ("seven", "nine"), "title")
    marks = option["series"][0]["markLine"]["data"]
    assert [m["yAxis"] for m in marks if "yAxis" in m] == [0.0] and marker_times(option) == [1.0]
    assert side_labels(option) == ["f > 0 → nine", "f < 0 → seven"]
    top = option["yAxis"]["max"]
    assert top >= np.abs(f).max() and option["yAxis"]["min"] == -top and top == nice_ceiling(top, 1e-3)
    np.testing.assert_allclose([y for _, y in option["series"][0]["data"]], f)
    json.dumps(option, allow_nan=False)
    multi = prediction_curve_option(t, np.stack([f, -f, 0 * f], 1), None, ("a", "b", "c"), "title")
    assert series_names(multi) == ["class a", "class b", "class c"] and not side_labels(multi)
    assert not marker_times(multi)


def test_nice_ceiling_is_the_next_round_number():
    assert [nice_ceiling(x, 1e-3) for x in (0.2673, 1.0, 1.01, 7.9, 8.1, 123.0)] == [0.3, 1.0, 1.2, 8.0, 10.0, 150.0]
    assert nice_ceiling(1e-6, 1e-3) == 1e-3 and nice_ceiling(float("nan"), 1e-3) == 1e-3


def test_verdict_is_the_sign_for_one_output_and_the_argmax_for_many():
    assert verdict(np.array(0.3), 1) == (1, True) and verdict(np.array([-0.3]), 1) == (0, False)
    assert verdict(np.array(0.0), 0) == (0, True)  # f = 0 predicts class 0 (f > 0 is class 1)
    assert verdict(np.array([0.1, 0.5, 0.2]), 1) == (1, True) and verdict(np.array([0.6, 0.5]), 1) == (0, False)
