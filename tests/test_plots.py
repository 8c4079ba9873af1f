"""Plot builders: the figures carry exactly the arrays they were given, and refuse mismatched input."""
import json

import numpy as np
import pytest

from ifexplorer import plots
from ifexplorer.classroom import example_points, parameter_influence, response_curve, weighted_fit
from ifexplorer.plots import curves


def test_influence_histogram_splits_helpful_harmful_and_zero_counts():
    scores = np.array([-3.0, -1.0, 0.5, 1.0, 2.0, 2.5, 0.0])
    fig = plots.influence_histogram(scores, n_bins=4)
    helpful, harmful, zero = fig.data
    assert helpful.y.sum() == 4 and harmful.y.sum() == 2 and zero.y.sum() == 1
    assert fig.layout.yaxis.type != "log"  # a handful of points: counts are read on a linear axis
    many = np.random.default_rng(0).standard_cauchy(5000)
    big = plots.influence_histogram(many, n_bins=40)
    assert big.layout.yaxis.type == "log" and [d.name for d in big.data] == ["helpful (I > 0)", "harmful (I < 0)"]


def test_group_complexity_colours_by_sign_of_mean_score():
    fig = plots.group_complexity_figure([3.0, 1.0, 2.0], [-0.5, 0.1, 0.7])
    bar = fig.data[0]
    np.testing.assert_array_equal(bar.x, [1, 2, 3])
    np.testing.assert_array_equal(bar.y, [3.0, 1.0, 2.0])
    assert list(bar.marker.color) == [plots.HARMFUL, plots.HELPFUL, plots.HELPFUL]
    with pytest.raises(ValueError, match="same length"):
        plots.group_complexity_figure([1.0, 2.0], [0.1])


def test_self_influence_ranks_largest_first_and_marks_flipped():
    s = np.array([0.1, 0.9, 0.5, 0.7])
    fig = plots.self_influence_figure(s, flipped=[False, False, True, False], top=3)
    clean, flipped = fig.data
    np.testing.assert_array_equal(clean.x, [1, 2]) and np.testing.assert_array_equal(clean.customdata, [1, 3])
    np.testing.assert_array_equal(clean.y, [0.9, 0.7])
    np.testing.assert_array_equal(flipped.x, [3]) and np.testing.assert_array_equal(flipped.customdata, [2])
    assert flipped.marker.color == plots.FLIPPED and clean.marker.color == plots.GREY
    (only,) = plots.self_influence_figure(s, top=2).data  # no noise: one trace, no legend
    np.testing.assert_array_equal(only.customdata, [1, 3])
    assert only.showlegend is False
    with pytest.raises(ValueError, match="same length"):
        plots.self_influence_figure(s, flipped=[True])


def test_ihvp_scatter_has_identity_line_spanning_both_axes():
    exact, ihvp = np.array([-1.0, 0.5, 2.0]), np.array([-0.2, 0.1, 3.0])
    fig = plots.ihvp_scatter(exact, ihvp, indices=[7, 8, 9])
    line, points = fig.data
    assert list(line.x) == [-1.0, 3.0] and list(line.y) == [-1.0, 3.0]
    np.testing.assert_array_equal(points.x, exact)
    np.testing.assert_array_equal(points.y, ihvp)
    np.testing.assert_array_equal(points.customdata, [7, 8, 9])
    with pytest.raises(ValueError, match="same length"):
        plots.ihvp_scatter(exact, ihvp[:2])


def test_error_vs_reg_marks_the_chosen_lambda_on_a_log_axis():
    regs = np.geomspace(1e-3, 1, 4)
    fig = plots.error_vs_reg_figure(regs, [0.9, 0.5, 0.2, 0.1], [0.9, 0.5, 0.2, 0.1], [0.8, 0.4, 0.1, 0.0],
                                    [1, 1, 0.9, 0.8], current=0.01)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.shapes[0].x0 == 0.01
    assert fig.layout.annotations[0].x == pytest.approx(-2.0)  # log10 coordinates on a log axis
    np.testing.assert_array_equal(fig.data[2].y, [0.8, 0.4, 0.1, 0.0])
    assert [d.name for d in fig.data[:2]] == ["median", "mean over points"]  # the median drawn under the mean


def test_error_vs_density_carries_points_bins_and_rho():
    fig = plots.error_vs_density_figure([1.0, 2.0, 3.0], [0.9, 0.5, 0.1], [1.5, 2.5], [0.7, 0.3], -0.87)
    assert "-0.87" in fig.layout.title.text
    np.testing.assert_array_equal(fig.data[0].customdata, [0, 1, 2])
    np.testing.assert_array_equal(fig.data[1].y, [0.7, 0.3])


def test_time_curves_option_checks_lengths_and_marks_t():
    option = plots.time_curves_option([0.1, 1, 10], {"train": [3, 2, 1], "test": [3, 2.5, 2]}, 1.0, "loss", "loss")
    assert curves.series_names(option) == ["train", "test"]
    assert curves.marker_times(option) == [1.0] and option["xAxis"]["type"] == "log"
    assert option["series"][0]["markLine"]["precision"] >= 15  # ECharts rounds a mark's value to 2 decimals else
    assert option["series"][1]["data"] == [[0.1, 3.0], [1.0, 2.5], [10.0, 2.0]]
    assert not curves.marker_times(plots.time_curves_option([0.1, 1], {"a": [1, 2]}, None, "t", "y"))
    json.dumps(option, allow_nan=False)  # st.echarts_chart takes JSON only
    with pytest.raises(ValueError, match="2 values for 3 times"):
        plots.time_curves_option([0.1, 1, 10], {"train": [3, 2]}, 1.0, "loss", "loss")
    with pytest.raises(ValueError, match="> 0 on a log axis"):
        plots.time_curves_option([0.0, 1], {"a": [1, 2]}, None, "t", "y")


def test_time_curves_option_leaves_gaps_for_nan_and_keeps_names_as_plain_text():
    name = "![pwn](http:x) <b>{b}</b>"
    option = plots.time_curves_option([0.1, 1, 10], {name: [1.0, np.nan, np.inf]}, None, "t", "y")
    assert option["series"][0]["data"] == [[0.1, 1.0], [1.0, None], [10.0, None]]
    assert curves.series_names(option) == [name]  # ECharts draws it as text: no escaping, nothing substituted
    json.dumps(option, allow_nan=False)
    many = plots.time_curves_option([0.1, 1], {f"class {c}": [c, c] for c in range(10)}, 0.5, "t", "y")
    assert many["legend"]["orient"] == "vertical" and many["legend"]["type"] == "scroll"  # ten beside the chart


def test_classroom_figures_match_math_section_8():
    x, y = example_points()
    theta = weighted_fit(x, y, np.ones(3))
    np.testing.assert_allclose(theta, [1.0, 1 / 6], atol=1e-12)
    eps = np.linspace(-0.5, 1, 7)
    curve = response_curve(x, y, 0, eps)
    infl = parameter_influence(x, y)
    fig = plots.classroom_response_figure(eps, curve, infl[0], 0.25)
    slope, slope_tangent = fig.data[0], fig.data[1]
    np.testing.assert_allclose(slope.y, curve[:, 0])
    np.testing.assert_allclose(slope_tangent.y, theta[0] + infl[0, 0] * eps)
    fit = plots.classroom_fit_figure(x, y, theta, curve[3], 0, 0.0)
    np.testing.assert_allclose(fit.data[0].y, theta[0] * np.array([-0.5, 2.5]) + theta[1])
    with pytest.raises(ValueError, match=r"\(7, 2\)"):
        plots.classroom_response_figure(eps, curve[:3], infl[0], 0.0)


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match="empty"):
        plots.influence_histogram([])


def test_figures_carry_a_small_template_and_lambda_in_decades():
    """Plotly's named templates cost ~10 kB of JSON and tens of ms per chart; ours is a few hundred bytes."""
    fig = plots.error_vs_reg_figure(np.geomspace(1e-4, 10, 6), [0.9] * 6, [0.9] * 6, [0.5] * 6, [0.99] * 6, current=0.1)
    assert len(fig.layout.template.to_plotly_json().__repr__()) < 1000
    assert len(fig.to_json()) < 5000
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.dtick == 1
    assert fig.layout.annotations[0].yref == "paper"


# ------------------------------------------------------------------ the training-set map and thumbnail grids
def test_training_map_carries_training_indices_and_a_zero_centred_diverging_scale():
    from ifexplorer.plots.map import training_map_figure

    xy = np.arange(10.0).reshape(5, 2)
    infl = np.array([-2.0, 0.5, 0.0, 1.0, -0.1])
    fig = training_map_figure(xy, infl, "influence", labels=list("abcde"), hover_ids=["<b>x</b>", "2", "3", "4", "5"],
                              marked=[3], webgl=True)
    (points,), (ring,) = fig.data, fig.layout.shapes
    assert points.type == "scattergl" and fig.layout.dragmode == "zoom"
    np.testing.assert_array_equal(points.customdata, np.arange(5))
    np.testing.assert_array_equal(points.marker.color, infl)
    assert (points.marker.cmin, points.marker.cmid, points.marker.cmax) == (-2.0, 0.0, 2.0)
    assert points.marker.colorscale[0][1] == plots.HARMFUL and points.marker.colorscale[-1][1] == plots.HELPFUL
    assert "&lt;b&gt;" in points.text[0] and "a" in points.text[0] and "-2" in points.text[0]
    assert (ring.type, ring.xanchor, ring.yanchor, ring.name) == ("circle", 6.0, 7.0, "chosen")


def test_training_map_discrete_colourings_split_traces_but_keep_indices():
    from ifexplorer.plots.map import training_map_figure

    xy = np.random.default_rng(0).normal(size=(6, 2))
    by_label = training_map_figure(xy, np.array([1, 0, 1, 2, 0, 1]), "label")
    assert [t.name for t in by_label.data] == ["0", "1", "2"]
    np.testing.assert_array_equal(by_label.data[1].customdata, [0, 2, 5])
    np.testing.assert_array_equal(by_label.data[1].x, xy[[0, 2, 5], 0])
    flipped = training_map_figure(xy, np.array([0, 1, 0, 0, 1, 0], bool), "flipped")
    kept, flip = flipped.data
    assert flip.marker.color == plots.FLIPPED and kept.marker.color == plots.GREY
    np.testing.assert_array_equal(flip.customdata, [1, 4])
    assert sorted(np.concatenate([t.customdata for t in flipped.data])) == list(range(6))
    with pytest.raises(ValueError, match="color_kind"):
        training_map_figure(xy, np.zeros(6), "density")
    with pytest.raises(ValueError, match=r"one value per point \(6,\)"):
        training_map_figure(xy, np.zeros(5), "self_influence")
    with pytest.raises(ValueError, match="marked"):
        training_map_figure(xy, np.zeros(6), "self_influence", marked=[6])


def test_compose_grid_places_scaled_thumbnails_and_frames():
    from ifexplorer.plots.thumbnails import compose_grid, frame_width

    images = np.stack([np.full((4, 4), 10 * (k + 1), np.uint8) for k in range(7)])
    images[0, 0, 0] = 255  # nearest-neighbour scaling: one source pixel becomes an 8 × 8 block at 32 px
    frames = [None, "helpful", "harmful", "flipped", None, None, None]
    grid = compose_grid(images, per_row=3, size_px=32, frames=frames, gap=2)
    assert grid.shape == (3 * 34 - 2, 3 * 34 - 2, 3) and grid.dtype == np.uint8
    assert (grid[:8, :8] == 255).all() and (grid[8, 8] == 10).all()
    w = frame_width(32)
    hex_rgb = lambda h: [int(h[i:i + 2], 16) for i in (1, 3, 5)]
    assert list(grid[0, 34]) == hex_rgb(plots.HELPFUL) and list(grid[w, 34 + w]) == [20, 20, 20]
    assert list(grid[31, 68 + 31]) == hex_rgb(plots.HARMFUL) and list(grid[34 + 16, 0]) == hex_rgb(plots.FLIPPED)
    assert (grid[:, 32:34] == 255).all() and (grid[2 * 34 + 5, 34 + 5] == 255).all()  # a gap; an empty cell


def test_compose_grid_keeps_aspect_and_colour_and_refuses_bad_input():
    from ifexplorer.plots.thumbnails import compose_grid

    rgb = np.zeros((2, 2, 4, 3), np.uint8)
    rgb[..., 0] = 200
    grid = compose_grid(rgb, per_row=5, size_px=8, gap=0)
    assert grid.shape == (8, 16, 3)
    assert (grid[2:6, :8] == [200, 0, 0]).all() and (grid[:2] == 255).all()  # 4 × 8 letterboxed in its cell
    with pytest.raises(ValueError, match="uint8"):
        compose_grid(np.zeros((2, 4, 4)), per_row=2)
    with pytest.raises(ValueError, match="one entry per image"):
        compose_grid(np.zeros((2, 4, 4), np.uint8), frames=["helpful"])
    with pytest.raises(ValueError, match="frames entries"):
        compose_grid(np.zeros((1, 4, 4), np.uint8), frames=["good"])
    with pytest.raises(ValueError, match="per_row"):
        compose_grid(np.zeros((1, 4, 4), np.uint8), per_row=0)
