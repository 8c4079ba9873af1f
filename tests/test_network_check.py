"""The network-check study (theory §7): NTK influence against real leave-one-out retraining."""
import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from ifexplorer import cli, solvers
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
    (dict(reg=True), r"reg \(λ\) must be a positive number; got True"),
    (dict(n_retrain=2.0), "n_retrain must be an integer ≥ 1; got 2.0"),
    (dict(widths=[16.0]), "width must be an integer"),
    (dict(max_steps=500.0), "max_steps must be an integer ≥ 1; got 500.0"), (dict(widths=[15]), "width must be even"),
    (dict(lissa={"depth": 0}), "lissa depth must be an integer ≥ 1; got 0"),
    (dict(cg={"tol": -1.0}), "cg tol must be a finite number ≥ 0; got -1.0"),
    (dict(chunk_size=0), "chunk_size must be an integer ≥ 1 or None; got 0"),
    (dict(antisymmetric="yes"), "antisymmetric must be True or False"), (dict(device="tpu"), "device"),
])
def test_bad_study_settings_are_clear_errors(kwargs, match):
    data = load_dataset("mnist", classes=(7, 9), n_train=20, n_test=3, seed=0)
    args = dict(widths=[16], reg=0.1, n_retrain=2, n_test=1, methods=["ntk"]) | kwargs
    with pytest.raises(ValueError, match=match):
        V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, **args)


def test_config_holds_the_checked_settings_and_keywords_replace_its_fields():
    config = V.NetworkCheckConfig(widths=np.array([64, 128]), reg=1, lissa={"depth": 7})
    assert config.widths == (64, 128) and isinstance(config.widths[0], int) and config.reg == 1.0
    assert config.lissa == {**V.LISSA_DEFAULTS, "depth": 7} and config.cg == V.CG_DEFAULTS
    assert V.NetworkCheckConfig().widths == (256, 1024, 4096)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.reg = 0.5
    data = load_dataset("mnist", classes=(7, 9), n_train=20, n_test=3, seed=0)
    small = V.NetworkCheckConfig(widths=[32], reg=0.3, n_retrain=3, n_test=1, methods=["ntk", "ihvp_exact"])
    by_config = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, small)
    by_keywords = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, widths=[32], reg=0.3,
                                   n_retrain=3, n_test=1, methods=["ntk", "ihvp_exact"])
    overridden = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test,
                                  dataclasses.replace(small, reg=5.0), reg=0.3)
    assert by_config.config == by_keywords.config == overridden.config
    assert by_config.config["n_train"] == 20 and by_config.config["widths"] == [32]
    for other in (by_keywords, overridden):
        np.testing.assert_array_equal(other.widths[0].actual, by_config.widths[0].actual)
        np.testing.assert_array_equal(other.widths[0].predicted["ntk"], by_config.widths[0].predicted["ntk"])
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['withs'\]"):
        V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, withs=[32])


class _DivergingAnalysis:
    """solver_influence that diverges until the LiSSA scale reaches `needed`."""

    def __init__(self, needed, error=None):
        self.needed, self.error, self.scales = needed, error, []

    def solver_influence(self, Xe, ye, solver, **opts):
        self.scales.append(opts["scale"])
        if self.error is not None:
            raise self.error
        if opts["scale"] < self.needed:
            raise solvers.LissaDivergedError("LiSSA diverged; increase scale")
        return "ok", []


def test_lissa_divergence_doubles_the_scale_and_other_errors_pass_through():
    analysis = _DivergingAnalysis(needed=7.0)
    opts = {"scale": 1.0}
    assert V._solve(analysis, None, None, "lissa", opts) == ("ok", [])
    assert analysis.scales == [1.0, 2.0, 4.0, 8.0] and opts["scale"] == 8.0
    with pytest.raises(solvers.LissaDivergedError):
        V._solve(_DivergingAnalysis(needed=100.0), None, None, "lissa", {"scale": 1.0})
    other = _DivergingAnalysis(needed=0.0, error=ValueError("increase scale, but not a divergence"))
    with pytest.raises(ValueError, match="not a divergence"):
        V._solve(other, None, None, "lissa", {"scale": 1.0})
    assert other.scales == [1.0]  # not retried


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


@pytest.mark.parametrize("argv, message", [
    (["--widths", "31"], "width must be even"), (["--lissa-depth", "0"], "lissa depth must be an integer ≥ 1"),
    (["--reg", "0"], "reg (λ) must be a positive number; got 0.0"), (["--n-train", "100000"], "n_train"),
    (["--n-retrain", "50"], "n_retrain must be at most the 20 training points; got 50"),
])
def test_command_line_bad_settings_exit_with_a_message_and_no_progress_bar(tmp_path, capsys, argv, message):
    code = main(["validate", "--n-train", "20", "--n-retrain", "3", "--out", str(tmp_path), *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ")  # nothing drawn before the message
    assert not (tmp_path / "validation.json").exists()


def test_command_line_help_and_entry_point(capsys):
    assert main(["validate", "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: ifexplorer validate") and "--dtype" in shown
    assert "float64" in shown and "float32 on GPU" not in shown
    assert cli._parser().parse_args(["validate", "--out", "x"]).dtype == "float64"
    assert main(["frobnicate"]) == 2
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["ifexplorer"] == "ifexplorer.cli:main"


def test_standard_init_fits_the_ntk_to_the_initial_networks_residual():
    data = load_dataset("mnist", classes=(7, 9), n_train=20, n_test=3, seed=0)
    res = V.run_validation(data.X_train, data.y_train, data.X_test, data.y_test, widths=[64], reg=0.3, n_retrain=4,
                           n_test=2, methods=["ntk"], antisymmetric=False)
    w = res.widths[0]
    assert set(w.predicted) == {"ntk", "ntk_uncorrected"}
    assert np.abs(w.predicted["ntk"] - w.predicted["ntk_uncorrected"]).max() > 1e-4
    assert w.scores["ntk"]["pearson"] > w.scores["ntk_uncorrected"]["pearson"]
