"""Pure plot builders of the fragility study: what is drawn is the data given, bad shapes are refused."""
import numpy as np
import pytest

from ifexplorer.plots import fragility as P


def test_heatmap_draws_the_grid_with_nan_as_gaps_on_a_fixed_scale():
    v = np.array([[0.9, np.nan], [0.5, -0.2]])
    fig = P.heatmap_figure([1, 2], [64, 256], v, "t")
    h = fig.data[0]
    assert h.type == "heatmap" and list(h.x) == ["64", "256"] and list(h.y) == ["1", "2"]
    assert [list(r) for r in h.z] == [[0.9, None], [0.5, -0.2]] and (h.zmin, h.zmax) == (-1, 1)
    assert h.text[0][1] == "—" and h.text[1][1] == "-0.20"
    with pytest.raises(ValueError, match="values must have shape"):
        P.heatmap_figure([1], [64, 256], v, "t")


def test_scatter_has_one_panel_per_method_with_y_equals_x_and_drops_nan():
    actual = np.array([[1.0, 2.0], [np.nan, 4.0]])
    est = {"ntk": actual * 0.5, "pbrf": actual + 1}
    fig = P.scatter_figure(actual, est, {"ntk": {"pearson": 1.0, "spearman": 1.0}})
    points = [t for t in fig.data if t.mode == "markers"]
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(points) == 2 and len(lines) == 2
    np.testing.assert_array_equal(points[0].x, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(points[1].y, [2.0, 3.0, 5.0])
    assert list(lines[0].x) == list(lines[0].y) == [1.0, 4.0]
    assert "r = 1.000" in fig.layout.annotations[0].text and fig.layout.annotations[1].text == "PBRF"
    with pytest.raises(ValueError, match="has 1 values"):
        P.scatter_figure(actual, {"ntk": [1.0]})


def test_ihvp_error_depth_has_a_line_per_reg_and_dotted_bounds():
    e = np.array([[0.1, 0.5], [0.2, 0.6]])
    fig = P.ihvp_error_depth_figure([1, 2], [0.1, 1.0], e, e - 0.05, e + 0.05)
    named = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in named] == ["λ = 0.1", "λ = 1"]
    np.testing.assert_array_equal(named[1].y, [0.5, 0.6])
    assert sum(t.line.dash == "dot" for t in fig.data) == 4
    with pytest.raises(ValueError, match="mean_error must have shape"):
        P.ihvp_error_depth_figure([1], [0.1, 1.0], e)


def test_retention_groups_points_by_label_with_the_diagonal():
    fig = P.retention_figure([0.2, 0.3, 0.5], [0.21, 0.28, 0.1], ["a", "a", "b"])
    assert [t.name for t in fig.data] == ["a", "b", "y = x"]
    np.testing.assert_array_equal(fig.data[0].x, [0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        P.retention_figure([0.2], [0.1, 0.2], ["a", "b"])
