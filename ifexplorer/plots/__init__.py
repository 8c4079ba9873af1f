"""Pure plotly figure builders (arrays in, Figure out; no Streamlit, no model objects).

`plots.style` holds the palette and template; `plots.influence` the influence pages' charts (re-exported
here, so `from ifexplorer import plots; plots.ihvp_scatter(...)` works); `plots.network` the network check's.
"""
from .influence import (
                        classroom_fit_figure,
                        classroom_response_figure,
                        error_vs_density_figure,
                        error_vs_reg_figure,
                        group_complexity_figure,
                        ihvp_scatter,
                        influence_histogram,
                        self_influence_figure,
                        time_marker_figure,
)
from .style import FLIPPED, GREY, HARMFUL, HELPFUL

__all__ = ["HELPFUL", "HARMFUL", "FLIPPED", "GREY", "classroom_fit_figure", "classroom_response_figure",
           "error_vs_density_figure", "error_vs_reg_figure", "group_complexity_figure", "ihvp_scatter",
           "influence_histogram", "self_influence_figure", "time_marker_figure"]
