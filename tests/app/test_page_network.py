"""The network-check page as a user drives it (AppTest): nothing runs until the button, then real numbers."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ifexplorer.data import load_dataset
from ifexplorer.experiments.network_check import run_validation, training_subset

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in " ".join(str(e.value) for e in at.error)
    assert not at.error, [e.value for e in at.error]


def test_network_page_runs_the_study_on_button_press_and_shows_numbers():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/network.py").run()
    _ok(at)
    assert any("Network check" in t.value for t in at.title)
    assert not at.get("plotly_chart")  # slow study: only on the button
    at.slider(key="net_n_train").set_value(30)
    at.pills(key="net_widths").set_value([128])
    at.number_input(key="net_n_retrain").set_value(4)
    at.number_input(key="net_n_test").set_value(2)
    at.pills(key="net_methods").set_value(["ntk", "ihvp_exact", "cg"])
    at.run()
    _ok(at)
    assert not at.get("plotly_chart")
    at.button(key="net_run").click().run()
    _ok(at)
    pearson = {m.label: float(m.value) for m in at.metric}
    assert set(pearson) == {"NTK influence", "exact IHVP", "conjugate gradient"}
    assert any("Pearson correlation with real retraining at width 128" in md.value for md in at.markdown)
    assert all(-1.0 <= v <= 1.0 for v in pearson.values())
    table = at.dataframe[0].value
    assert table["width"].tolist() == [128] and table["retrains"].tolist() == [4]
    assert 0 < table["s / retrain"][0] < 60
    assert len(at.get("plotly_chart")) == 2
    # the page shows exactly what the package computes for these settings
    data = load_dataset("mnist", classes=(7, 9), n_train=800, n_test=200, seed=0)
    X, y = training_subset(data.X_train, data.y_train, 30, seed=0)
    ref = run_validation(X, y, data.X_test, data.y_test, widths=[128], reg=0.1, n_retrain=4, n_test=2,
                         methods=["ntk", "ihvp_exact", "cg"], seed=0)
    assert pearson["NTK influence"] == pytest.approx(ref.widths[0].scores["ntk"]["pearson"], abs=1e-3)
    assert table["NTK influence Pearson"][0] == pytest.approx(ref.widths[0].scores["ntk"]["pearson"], abs=1e-9)
    # a rerun (any widget) reuses the cached study instead of retraining
    at.selectbox(key="net_scatter_width").set_value(128).run()
    _ok(at)
    assert at.dataframe[0].value.equals(table)


def test_the_committed_peer_table_is_shown_before_any_run():
    """A class opening the page sees how the libraries compare (the committed docs/peers.json) without training."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/network.py").run()
    _ok(at)
    assert any("Run the network check" in i.value for i in at.info)
    assert any("How the influence libraries compare" in s.value for s in at.subheader)
    assert at.table and "Pearson" in at.table[0].value.columns
    assert any("Why each method lands where it does" in m.value for m in at.markdown)
