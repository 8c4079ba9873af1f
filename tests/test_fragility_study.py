"""The fragility study on real networks (experiments.fragility.run_study, fragility_cell) against brute force
where it claims exactness: the linearized network (exactly linear in its weights, the NTK regime at finite
width) retrained = kernel ridge regression with its empirical NTK, PBRF = leave-one-out to 1e-8, the IHVP keeps
exactly λQ_ii of the change (theory §5) — and its bookkeeping: failures named, Ctrl-C keeps cells, JSON."""
import json
import math

import numpy as np
import pytest
import torch
from reference import random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer import deep_network as DN
from ifexplorer.experiments import fragility as F
from ifexplorer.experiments import fragility_cell
from ifexplorer.experiments.fragility import (
    METHODS,
    FragilityConfig,
    FragilityResult,
    figures,
    load_study,
    run_study,
)
from ifexplorer.experiments.lds import exact_loo_effects, ihvp_effects, lds_many


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n=10, m=4, d=4, seed=0, C=1):
    rng = np.random.default_rng(seed)
    X, Xt = random_unit_rows(rng, n, d), random_unit_rows(rng, m, d)
    if C == 1:
        return X, np.sign(X[:, 0] + 0.3 * rng.normal(size=n)), Xt, np.sign(Xt[:, 0])
    return X, np.eye(C)[rng.integers(0, C, n)], Xt, np.eye(C)[rng.integers(0, C, m)]


def _config(**kw):
    base = dict(depths=(2,), widths=(32,), regs=(0.5,), n_examined=3, n_test=3, lds_subsets_ntk=10, lds_test=4,
                lissa_depth=20, cg_iters=10, rtol=1e-11)
    return FragilityConfig(**{**base, **kw})


def test_linearized_network_cell_is_kernel_ridge_regression_pbrf_is_loo_and_ihvp_keeps_lambda_q():
    X, y, Xt, yt = _data()
    lam = 0.5
    res = run_study(X, y, Xt, yt, _config(linearized=True, cg_iters=300))
    (cell,) = res.cells
    assert cell.status == "done" and cell.completed.all() and cell.not_converged == ()
    # brute force: the linearized network retrained without m is KRR with its empirical NTK at θ(0) (f₀ ≡ 0)
    net = DN.DeepReLU(32, 4, 1, depth=2, seed=0, linearized=True)
    Xtt, Xqt = torch.as_tensor(X), torch.as_tensor(Xt[:3])
    K, Kq = net.empirical_ntk(net.params0, Xtt).numpy(), net.empirical_ntk(net.params0, Xqt, Xtt).numpy()
    f = Kq @ np.linalg.solve(K + lam * np.eye(10), y)
    for k, i in enumerate(cell.indices):
        keep = np.arange(10) != i
        f_loo = Kq[:, keep] @ np.linalg.solve(K[np.ix_(keep, keep)] + lam * np.eye(9), y[keep])
        want = 0.5 * (f_loo - yt[:3]) ** 2 - 0.5 * (f - yt[:3]) ** 2
        np.testing.assert_allclose(cell.actual[k], want, atol=1e-9)
    # PBRF = leave-one-out to 1e-8 on a network linear in its weights (theory §10)
    np.testing.assert_allclose(cell.estimates["pbrf"], cell.actual, atol=1e-8)
    # the IHVP keeps exactly λQ_mm of the retrained output change (theory §5), Q = (K + λI)⁻¹ of the empirical NTK
    Q = np.linalg.inv(K + lam * np.eye(10))
    np.testing.assert_allclose(cell.lam_q_empirical, lam * np.diag(Q)[cell.indices], rtol=1e-10)
    np.testing.assert_allclose(cell.ihvp_retention, cell.lam_q_empirical, atol=1e-8)
    # …and the NTK-limit kernel's λQ_ii from H_L
    model = NTKInfluence(reg=lam, depth=2, device="cpu").fit(X, y)
    np.testing.assert_allclose(cell.lam_q_kernel, 1 - model.ihvp_error()[cell.indices], rtol=1e-12)
    # the Gauss–Newton, true-Hessian and CG IHVP coincide on a linear model (its Hessian is JᵀJ + λI)
    np.testing.assert_allclose(cell.estimates["ihvp_hessian"], cell.estimates["ihvp_gn"], atol=1e-9)
    np.testing.assert_allclose(cell.estimates["cg"], cell.estimates["ihvp_gn"], atol=1e-7)


def test_ihvp_retention_approaches_the_kernels_lambda_q_with_width():
    # in the NTK limit the IHVP's loss is 1 − λQ_ii of the analytic depth-L kernel, at every depth
    X, y, Xt, yt = _data(n=8, m=3)
    for depth in (1, 3):
        errs = []
        for width in (16, 1024):
            res = run_study(X, y, Xt, yt, _config(depths=(depth,), widths=(width,), linearized=True,
                                                  methods=("ihvp_gn",), lds_subsets_ntk=0))
            errs.append(res.cells[0].retention_error())
        assert errs[1] < 0.05 and errs[1] < errs[0] / 3, (depth, errs)


def test_cell_estimates_equal_their_direct_computations():
    X, y, Xt, yt = _data(n=12, C=3)
    res = run_study(X, y, Xt, yt, _config(depths=(3,), regs=(0.3,), methods=("ntk", "ihvp_gn", "ihvp_hessian")))
    (cell,) = res.cells
    net = DN.DeepReLU(32, 4, 3, depth=3, seed=0)
    fit = DN.train(net, X, y, 0.3, rtol=1e-11)
    infl = fit.influence()
    Xq, yq = torch.as_tensor(Xt[:3]), torch.as_tensor(yt[:3], dtype=torch.float64)
    np.testing.assert_allclose(cell.estimates["ihvp_gn"], infl.ihvp_gn(Xq, yq).numpy()[:, cell.indices].T,
                               rtol=1e-9, atol=1e-12)
    ntk = NTKInfluence(reg=0.3, depth=3, device="cpu").fit(X, y)
    np.testing.assert_allclose(cell.estimates["ntk"], ntk.influence(Xt[:3], yt[:3])[:, cell.indices].T,
                               rtol=1e-9, atol=1e-12)
    loo = DN.retrain_loo(fit, cell.indices, X_eval=Xq, rtol=1e-11)
    base = 0.5 * ((fit.predict(Xq) - yt[:3]) ** 2).sum(-1)
    np.testing.assert_allclose(cell.actual, 0.5 * ((loo.eval_predictions - yt[:3]) ** 2).sum(-1) - base, atol=1e-9)
    assert cell.scores["ntk"]["pearson"] == pytest.approx(np.corrcoef(cell.actual.ravel(),
                                                                      cell.estimates["ntk"].ravel())[0, 1])
    # NTK-regime LDS: exactly lds_many on the study's LDS test points and seed
    eff = {"ntk_exact": exact_loo_effects(ntk, Xt, yt), "ntk_ihvp": ihvp_effects(ntk, Xt, yt)}
    want = lds_many(ntk, Xt, yt, eff, n_subsets=10, seed=0)
    assert cell.lds == {k: v.mean for k, v in want.items()}
    assert 0 < cell.flip_fraction < 1 and cell.kernel_gap_trained > 0 and cell.prediction_gap > 0


def test_a_retrain_that_does_not_converge_is_named_and_the_rest_kept(monkeypatch):
    X, y, Xt, yt = _data()
    real = DN.retrain_loo
    bad = []

    def flaky(fit, indices, **kw):
        if not bad:
            bad.append(int(indices[0]))
            raise DN.NotConvergedError("the loo run(s) for point(s) … did not reach the gradient tolerance")
        return real(fit, indices, **kw)

    monkeypatch.setattr(fragility_cell.DN, "retrain_loo", flaky)
    (cell,) = run_study(X, y, Xt, yt, _config(methods=("ntk",))).cells
    assert cell.not_converged == (bad[0],)
    assert cell.completed.tolist() == [i != bad[0] for i in cell.indices]
    assert np.isnan(cell.actual[~cell.completed]).all() and np.isfinite(cell.actual[cell.completed]).all()
    assert math.isfinite(cell.scores["ntk"]["pearson"])


def test_a_failed_training_is_kept_as_a_failed_cell_and_the_study_goes_on():
    X, y, Xt, yt = _data()
    res = run_study(X, y, Xt, yt, _config(max_steps=3, methods=("ntk",)))
    (cell,) = res.cells
    assert cell.status == "failed" and "max_steps" in cell.message and cell.indices.size == 0
    assert res.table()[0]["status"] == "failed" and not res.interrupted


def test_stopping_keeps_the_finished_cells_and_the_json_round_trips(tmp_path):
    X, y, Xt, yt = _data()
    calls = []

    def stop():
        calls.append(1)
        return bool(res_cells)

    res_cells = []
    out = tmp_path / "f.json"
    progress = []

    def watch(frac, msg):
        progress.append(frac)
        if "cell 2" in msg:
            res_cells.append(1)

    res = run_study(X, y, Xt, yt, _config(depths=(1, 2), methods=("ntk", "pbrf")), out=out, progress=watch,
                    should_stop=stop)
    assert res.interrupted and len(res.cells) == 1 and res.cells[0].depth == 1
    back = load_study(out)
    assert back.interrupted and len(back.cells) == 1
    a, b = res.cells[0], back.cells[0]
    for k in ("indices", "completed", "actual", "ihvp_retention", "lam_q_kernel", "lam_q_empirical"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    for m in a.estimates:
        np.testing.assert_array_equal(a.estimates[m], b.estimates[m])
    assert a.scores == b.scores and a.lds == b.lds and res.table() == back.table()
    assert back.ntk_table["depths"] == [1, 2] and np.all(np.diff(progress) >= -1e-12)
    with pytest.raises(ValueError, match="not a fragility study"):
        FragilityResult.from_dict({**json.loads(out.read_text()), "schema": "other"})
    assert set(figures(back)) >= {"heatmap_ntk_reg0.5", "ihvp_error_vs_depth", "retention", "scatter_L1_w32_reg0.5"}


def test_cells_run_narrow_first_and_keep_depth_and_reg():
    X, y, Xt, yt = _data(n=8)
    res = run_study(X, y, Xt, yt, _config(depths=(1, 2), widths=(16, 8), regs=(0.5, 2.0), methods=("ntk",),
                                          n_examined=2, lds_subsets_ntk=0))
    assert [c.key for c in res.cells] == [(8, 1, 2.0), (8, 1, 0.5), (8, 2, 2.0), (8, 2, 0.5), (16, 1, 2.0),
                                          (16, 1, 0.5), (16, 2, 2.0), (16, 2, 0.5)] or \
        [(c.width, c.depth, c.reg) for c in res.cells] == [(8, 1, 2.0), (8, 1, 0.5), (8, 2, 2.0), (8, 2, 0.5),
                                                           (16, 1, 2.0), (16, 1, 0.5), (16, 2, 2.0), (16, 2, 0.5)]
    depths, widths, grid = res.grid("ntk", 0.5)
    assert depths == [1, 2] and widths == [8, 16] and np.isfinite(grid).all()


def test_network_lds_scores_half_subset_retrains():
    X, y, Xt, yt = _data(n=10)
    (cell,) = run_study(X, y, Xt, yt, _config(methods=("ntk",), lds_subsets_net=3)).cells
    assert set(cell.lds) == {"ntk_exact", "ntk_ihvp", "net_ntk", "net_ihvp_gn"}
    assert all(-1 <= v <= 1 for v in cell.lds.values())
    assert cell.solver_info["lds_network"] == {"subsets": 3, "finished": 3}


@pytest.mark.parametrize("kwargs, match", [
    (dict(depths=(1, 0)), "depth must be an integer ≥ 1; got 0"),
    (dict(depths=(2.5,)), "depth must be an integer"),
    (dict(depths=(True,)), "depth must be an integer"),
    (dict(widths=(33,)), "widths must be even: the doubling"),
    (dict(widths=(0,)), "widths must be an integer ≥ 2"),
    (dict(regs=(0.1, -1)), "regs must be a positive number"),
    (dict(regs=()), "regs must be a non-empty list"),
    (dict(n_examined=1), "n_examined must be an integer ≥ 2"),
    (dict(lds_subsets_ntk=1), "lds_subsets_ntk must be 0 .skip. or at least 2"),
    (dict(methods=("ntk", "magic")), "methods must be taken from"),
    (dict(threads=0), "threads must be an integer ≥ 1"),
])
def test_bad_settings_are_refused_with_the_field_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _config(**kwargs)


def test_study_sizes_are_checked_against_the_data():
    X, y, Xt, yt = _data(n=6, m=2)
    with pytest.raises(ValueError, match="n_examined must be at most the 6 training points"):
        run_study(X, y, Xt, yt, _config(n_examined=7))
    with pytest.raises(ValueError, match="n_test must be at most the 2 test points"):
        run_study(X, y, Xt, yt, _config(n_test=3))


def test_methods_list_is_the_documented_one():
    assert METHODS == ("ntk", "ihvp_gn", "ihvp_hessian", "lissa", "cg", "pbrf")


def test_merging_runs_on_the_same_data_keeps_every_cell_and_says_where_each_came_from():
    X, y, Xt, yt = _data(n=8)
    a = run_study(X, y, Xt, yt, _config(widths=(8,), methods=("ntk", "cg"), n_examined=2, lds_subsets_ntk=0))
    b = run_study(X, y, Xt, yt, _config(widths=(16,), methods=("ntk",), n_examined=2, lds_subsets_ntk=0))
    m = F.merge_studies(a, b)
    assert [c.key for c in m.cells] == [(2, 8, 0.5), (2, 16, 0.5)]
    assert [p["cells"] for p in m.config["parts"]] == [[[2, 8, 0.5]], [[2, 16, 0.5]]]
    depths, widths, grid = m.grid("cg", 0.5)
    assert widths == [8, 16] and np.isfinite(grid[0, 0]) and np.isnan(grid[0, 1])
    assert F.FragilityResult.from_dict(json.loads(json.dumps(m.to_dict()))).table() == m.table()
    with pytest.raises(ValueError, match="appears in more than one study"):
        F.merge_studies(a, a)
    other = run_study(X[:6], y[:6], Xt, yt, _config(widths=(16,), methods=("ntk",), n_examined=2, lds_subsets_ntk=0))
    with pytest.raises(ValueError, match=r"differ in \['n_train'\]"):
        F.merge_studies(a, other)
