"""The Fragility page as a user drives it (AppTest): the committed study and the kernel-only chart without any
training, the retraining study only on the button, its numbers those of the package."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ifexplorer.data import load_dataset
from ifexplorer.experiments.fragility import (
    FragilityConfig,
    committed_studies,
    ihvp_error_vs_depth,
    load_study,
    run_study,
)
from ifexplorer.experiments.network_check import training_subset

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _heatmap(at) -> np.ndarray:
    """The depth × width values of the page's heatmap (its second chart, after the kernel-only one)."""
    import plotly.io as pio

    charts = at.get("plotly_chart")
    fig = pio.from_json(charts[1].proto.spec)
    assert fig.data[0].type == "heatmap"
    return np.array([[np.nan if v is None else v for v in row] for row in fig.data[0].z], dtype=float)


def test_fragility_page_shows_the_committed_study_and_the_kernel_chart_before_any_run():
    studies = committed_studies()
    assert studies, "docs/fragility/ must hold the committed study JSON"
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page("pages/fragility.py").run()
    _ok(at)
    assert any("Fragility" in t.value for t in at.title)
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # IHVP error vs depth, heatmap, scatter of the selected cell
    label = at.selectbox(key="frag_study").value
    assert label == "mnist, 7 vs 9"  # the committed study on the sidebar's dataset comes first
    result = load_study(studies[label])
    method, reg = at.selectbox(key="frag_method").value, at.select_slider(key="frag_reg").value
    _, _, want = result.grid(method, reg, "pearson")
    got = _heatmap(at)
    np.testing.assert_allclose(got, want, equal_nan=True)
    # another method and λ: the heatmap follows
    at.selectbox(key="frag_method").set_value("ihvp_gn").run()
    _ok(at)
    _, _, want = result.grid("ihvp_gn", reg, "pearson")
    np.testing.assert_allclose(_heatmap(at), want, equal_nan=True)
    assert {m.label for m in at.metric} >= {"activation flips θ(0) → θ_s", "IHVP keeps", "λQ_ii (theory §5)"}
    # the NTK-regime LDS table is the package's, at the sidebar's dataset and λ
    data = load_dataset("mnist", classes=(7, 9), n_train=800, n_test=200, seed=0)
    ref = ihvp_error_vs_depth(data.X_train, data.y_train, [1, 2, 3, 4, 5], [0.001], data.X_test[:50],
                              data.y_test[:50], n_subsets=50)
    table = at.dataframe[0].value
    np.testing.assert_allclose(table["LDS of the IHVP"], ref.lds_ihvp[:, 0], rtol=1e-12)
    np.testing.assert_allclose(table["mean 1 − λQ_ii"], ref.mean_error[:, 0], rtol=1e-12)


def test_fragility_page_runs_its_own_study_on_the_button():
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page("pages/fragility.py").run()
    _ok(at)
    at.multiselect(key="frag_run_depths").set_value([1, 2])
    at.multiselect(key="frag_run_widths").set_value([16])
    at.multiselect(key="frag_run_regs").set_value([1.0])
    at.slider(key="frag_run_n_train").set_value(10)
    at.number_input(key="frag_run_examined").set_value(3)
    at.number_input(key="frag_run_test").set_value(2)
    at.run()
    _ok(at)
    assert "your run on the sidebar's dataset" not in at.selectbox(key="frag_study").options
    at.button(key="frag_run").click().run()
    _ok(at)
    assert at.selectbox(key="frag_study").value == "your run on the sidebar's dataset"
    data = load_dataset("mnist", classes=(7, 9), n_train=800, n_test=200, seed=0)
    X, y = training_subset(data.X_train, data.y_train, 10, seed=0)
    ref = run_study(X, y, data.X_test, data.y_test,
                    FragilityConfig(depths=(1, 2), widths=(16,), regs=(1.0,), n_examined=3, n_test=2, lds_test=50,
                                    lissa_depth=50, cg_iters=20, threads=1))
    at.select_slider(key="frag_depth").set_value(2).run()
    _ok(at)
    flips = next(m for m in at.metric if m.label == "activation flips θ(0) → θ_s").value
    assert flips == f"{100 * ref.cell(2, 16, 1.0).flip_fraction:.1f}%"
    _, _, want = ref.grid("ntk", 1.0)
    np.testing.assert_allclose(_heatmap(at), want, rtol=1e-9)
    assert want.shape == (2, 1) and np.isfinite(want).all()
    # a widget change reuses the memoised study
    at.radio(key="frag_stat").set_value("spearman").run()
    _ok(at)
    _, _, want = ref.grid("ntk", 1.0, "spearman")
    np.testing.assert_allclose(_heatmap(at), want, rtol=1e-9)


@pytest.mark.parametrize("bad", [[]])
def test_run_button_is_disabled_without_widths(bad):
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page("pages/fragility.py").run()
    at.multiselect(key="frag_run_widths").set_value(bad).run()
    _ok(at)
    assert at.button(key="frag_run").disabled
