"""plots/map.py additions: the SVG / WebGL switch, the colour's title, the user's own point as a star."""
import numpy as np
import pytest

from ifexplorer.plots.map import WEBGL_FROM, add_new_point, training_map_figure


def test_small_maps_draw_in_svg_large_ones_in_webgl_with_the_same_indices():
    rng = np.random.default_rng(0)
    for n, kind in ((50, "scatter"), (WEBGL_FROM, "scattergl")):
        xy = rng.normal(size=(n, 2))
        fig = training_map_figure(xy, rng.normal(size=n), "influence")
        assert fig.data[0].type == kind
        np.testing.assert_array_equal(fig.data[0].customdata, np.arange(n))
    assert training_map_figure(np.zeros((3, 2)), np.zeros(3), "self_influence", webgl=True).data[0].type == "scattergl"
    assert training_map_figure(np.zeros((3, 2)), np.zeros(3), "label", webgl=False).data[0].type == "scatter"


def test_colour_title_names_the_colour_and_the_star_is_on_top():
    xy = np.arange(8.0).reshape(4, 2)
    fig = training_map_figure(xy, np.array([1.0, -1, 0, 2]), "influence", title="Map", color_title="influence on x")
    assert fig.layout.title.text == "Map: influence on x" and fig.data[0].marker.colorbar.title.text == "influence on x"
    add_new_point(fig, [0.5, -1.0], label="<i>yours</i>")
    star = fig.data[-1]
    assert (star.x, star.y, star.marker.symbol, star.customdata) == ((0.5,), (-1.0,), "star", None)
    assert "&lt;i&gt;" in star.hovertemplate
    with pytest.raises(ValueError, match="2 finite"):
        add_new_point(fig, [np.nan, 0.0])
