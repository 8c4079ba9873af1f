"""Pure figure builders (arrays in, a plotly Figure or an ECharts option out; no Streamlit, no model objects).

`plots.style` holds the palette and template; `plots.influence` the influence pages' charts (re-exported
here, so `from ifexplorer import plots; plots.ihvp_scatter(...)` works); `plots.network` the network check's;
`plots.curves` curves over training time as ECharts options (dicts for st.echarts_chart, drawn on a canvas: the
time slider redraws them at every step).
"""
from .curves import time_curves_option
from .influence import (
                        classroom_fit_figure,
                        classroom_response_figure,
                        error_vs_density_figure,
                        error_vs_reg_figure,
                        group_complexity_figure,
                        ihvp_scatter,
                        influence_histogram,
                        self_influence_figure,
)
from .style import FLIPPED, GREY, HARMFUL, HELPFUL

__all__ = ["HELPFUL", "HARMFUL", "FLIPPED", "GREY", "classroom_fit_figure", "classroom_response_figure",
           "error_vs_density_figure", "error_vs_reg_figure", "group_complexity_figure", "ihvp_scatter",
           "influence_histogram", "self_influence_figure", "time_curves_option"]
