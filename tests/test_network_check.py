"""The network-check study (MATH §7): NTK influence against real leave-one-out retraining."""
import json

import numpy as np
import pytest

from ifexplorer.cli import main
from ifexplorer.data import load_dataset
from ifexplorer.experiments import network_check as V

# The smallest configuration found to reach Pearson ≥ 0.95 reliably: real MNIST 7 vs 9, n = 30,
# width 512, λ = 0.1, 6 retrains (3 most influential + 3 random), 2 test points. Measured over data
# seeds 0–5: NTK Pearson 0.991–0.9996 (n = 40, width 256 gave 0.96–0.99; width 128 0.91–0.98).
TINY = dict(widths=[512], reg=0.1, n_retrain=6, n_test=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data = load_dataset("mnist", classes=(7, 9), n_train=30, n_test=5, seed=0)
    out = tmp_path_factory.mktemp("val") / "result.json"
    result = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, **TINY, out=out,
                              lissa=dict(depth=50), cg=dict(max_iter=100, tol=1e-12))
    return result, out


@pytest.mark.slow
def test_tiny_study_ntk_influence_tracks_real_retraining(tiny):
    result, _ = tiny
    w = result.widths[0]
    assert w.n_retrained == 6 and not result.interrupted
    assert w.scores["ntk"]["pearson"] >= 0.95
    assert w.scores["ntk"]["spearman"] >= 0.7
    # CG run to convergence is the exact IHVP
    np.testing.assert_allclose(w.predicted["cg"], w.predicted["ihvp_exact"], rtol=1e-5, atol=1e-9)
    assert 0 < w.train["flip_fraction"] < 0.2 and w.seconds_per_retrain > 0
    assert w.actual.shape == (6, 2) and np.isfinite(w.actual).all()


def test_tiny_study_json_has_the_keys_checks_read(tiny):
    result, out = tiny
    data = json.loads(out.read_text())
    assert data == V.load_result(out)
    assert data["interrupted"] is False and len(data["widths"]) == 1
    entry = data["widths"][0]
    assert entry["width"] == 512 and entry["n_retrained"] == 6
    for method in ("ntk", "ihvp_exact", "lissa", "cg"):
        scores = entry["methods"][method]
        assert {"pearson", "spearman", "relative_error", "median_relative_error"} <= set(scores)
        assert scores["pearson"] == pytest.approx(result.widths[0].scores[method]["pearson"])
        assert np.array(entry["predicted"][method]).shape == (6, 2)
    assert {"seconds_per_retrain", "loo_flip_fraction", "train"} <= set(entry)
    assert 0 <= entry["loo_flip_fraction"] < 1


def test_plots_of_the_study(tiny):
    result, _ = tiny
    figs = V.figures(result)
    assert set(figs) == {"correlation_vs_width", "scatter_w512"}
    scatter = figs["scatter_w512"]
    markers = [t for t in scatter.data if t.mode == "markers"]
    assert len(markers) == 4
    np.testing.assert_allclose(markers[0].x, result.widths[0].actual.ravel())
    np.testing.assert_allclose(markers[0].y, result.widths[0].predicted["ntk"].ravel())
    corr = figs["correlation_vs_width"]
    assert [t.name for t in corr.data] == ["NTK influence", "exact IHVP", "LiSSA", "conjugate gradient"]
    assert corr.data[0].y[0] == pytest.approx(result.widths[0].scores["ntk"]["pearson"])


def test_agreement_and_point_selection():
    a = np.array([[1.0, 2.0], [3.0, 5.0], [-1.0, 0.5]])
    p = 2 * a + 0.1 * np.array([[1, -1], [0, 1], [1, 0]])
    s = V.agreement(a, p)
    assert s["pearson"] == pytest.approx(np.corrcoef(a.ravel(), p.ravel())[0, 1])
    assert s["spearman"] == pytest.approx(1.0)
    assert s["relative_error"] == pytest.approx(np.linalg.norm(p - a) / np.linalg.norm(a))
    infl = np.array([[0.1, -5.0, 0.2, 0.0, 3.0], [0.0, 1.0, -0.3, 0.01, 0.0]])
    idx = V.select_points(infl, 3, 0.5, seed=0)
    assert idx[:2].tolist() == [1, 4] and idx[2] in (0, 2, 3) and len(set(idx)) == 3


def test_interrupted_study_keeps_finished_retrains(tmp_path):
    data = load_dataset("mnist", classes=(7, 9), n_train=20, n_test=3, seed=0)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 1  # the first chunk of retrains only

    out = tmp_path / "partial.json"
    res = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, widths=[64, 128], reg=0.3,
                           n_retrain=4, n_test=1, methods=["ntk"], chunk_size=2, should_stop=stop, out=out)
    assert res.interrupted and len(res.widths) == 1 and res.widths[0].n_retrained == 2
    saved = V.load_result(out)
    assert saved["interrupted"] is True and saved["widths"][0]["n_retrained"] == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(widths=[]), "widths"), (dict(widths=[0]), "width"), (dict(n_retrain=50), "n_retrain"),
    (dict(n_test=9), "n_test"), (dict(methods=["ntk", "newton"]), "methods"),
    (dict(lissa={"depht": 3}), "unknown lissa"), (dict(reg=-1.0), "reg"), (dict(kappa=0.0), "kappa"),
    (dict(top_fraction=2.0), "top_fraction"), (dict(top_fraction="half"), "top_fraction"),
    (dict(reg="x"), "reg"), (dict(seed="a"), "seed"), (dict(seed=-1), "seed"),
])
def test_bad_study_settings_are_clear_errors(kwargs, match):
    data = load_dataset("mnist", classes=(7, 9), n_train=20, n_test=3, seed=0)
    args = dict(widths=[16], reg=0.1, n_retrain=2, n_test=1, methods=["ntk"]) | kwargs
    with pytest.raises(ValueError, match=match):
        V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, **args)


def test_command_line_writes_json_and_plots(tmp_path, capsys):
    code = main(["validate", "--dataset", "mnist", "--classes", "7", "9", "--n-train", "20", "--widths", "32", "64",
                 "--reg", "0.3", "--n-retrain", "3", "--n-test", "1", "--methods", "ntk", "ihvp_exact",
                 "--out", str(tmp_path)])
    assert code == 0
    saved = V.load_result(tmp_path / "validation.json")
    assert [w["width"] for w in saved["widths"]] == [32, 64]
    assert saved["config"]["dataset"] == "mnist" and saved["config"]["n_train"] == 20
    assert {"ntk", "ihvp_exact"} == set(saved["widths"][0]["methods"])
    assert (tmp_path / "correlation_vs_width.html").exists() and (tmp_path / "scatter_w64.html").exists()
    printed = capsys.readouterr().out
    assert "| width |" in printed and "| 64 | 3 |" in printed


def test_command_line_bad_settings_exit_with_a_message(tmp_path, capsys):
    code = main(["validate", "--n-train", "20", "--widths", "31", "--n-retrain", "3", "--out", str(tmp_path)])
    assert code == 2
    assert "width must be even" in capsys.readouterr().err


def test_standard_init_fits_the_ntk_to_the_initial_networks_residual():
    data = load_dataset("mnist", classes=(7, 9), n_train=20, n_test=3, seed=0)
    res = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, widths=[64], reg=0.3, n_retrain=4,
                           n_test=2, methods=["ntk"], antisymmetric=False)
    w = res.widths[0]
    assert set(w.predicted) == {"ntk", "ntk_uncorrected"}
    assert np.abs(w.predicted["ntk"] - w.predicted["ntk_uncorrected"]).max() > 1e-4
    assert w.scores["ntk"]["pearson"] > w.scores["ntk_uncorrected"]["pearson"]
