"""Prefetched training times (dynamics.prefetch_times) give the same exact leave-one-out as on demand."""
import math

import numpy as np
import pytest
from test_dynamics import BruteForce, _problem, _rel

from ifexplorer.dynamics import prefetch_times
from ifexplorer.influence import NTKInfluence


@pytest.mark.parametrize("C, self_terms", [(None, False), (3, False), (None, True), (3, True)])
def test_prefetched_times_equal_brute_force_and_on_demand(C, self_terms, monkeypatch):
    import ifexplorer.dynamics as dyn

    monkeypatch.setattr(dyn, "PREFETCH_PRODUCT_BYTES", 1)  # one time per batched product: exercises the chunks
    X, y, Xt, yt = _problem(45, C=C, seed=7)
    lam = 0.05
    times = [0.3, 4.0, 60.0]
    fresh = NTKInfluence(lam, device="cpu").fit(X, y)
    model = NTKInfluence(lam, device="cpu").fit(X, y)
    seen = []
    assert prefetch_times(model, times + [0.0, math.inf, 4.0], progress=lambda f, m: seen.append(f),
                          self_terms=self_terms) == 3
    assert seen[-1] == 1.0 and all(t in model.spectral()._poles for t in times)
    assert all((model.spectral()._poles[t].dG_self is not None) == self_terms for t in times)
    ref = BruteForce(X, y, Xt, lam)
    for t in times:
        loo = ref.loo(t)[0]
        loo = loo[..., 0] if C is None else loo
        view = model.at_time(t)
        assert _rel(view.loo_predictions(Xt[:1]), loo[:1]) < 1e-8
        assert _rel(view.loo_predictions(Xt), loo) < 1e-8
        on_demand = fresh.at_time(t)
        np.testing.assert_allclose(view.influence(Xt, yt), on_demand.influence(Xt, yt), rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(view.self_influence(), on_demand.self_influence(), rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(view.loo_residuals(), on_demand.loo_residuals(), rtol=1e-11, atol=1e-15)
    assert prefetch_times(model, times) == 0  # already there


def test_prefetched_self_terms_need_no_pass_over_the_eigenvectors(monkeypatch):
    import ifexplorer.dynamics as dyn

    X, y, _, _ = _problem(30, seed=9)
    model = NTKInfluence(0.1, device="cpu").fit(X, y)
    prefetch_times(model, [0.5, 5.0], self_terms=True)
    calls = []
    real = dyn._real_matmul
    monkeypatch.setattr(dyn, "_real_matmul", lambda A, B: calls.append(B.shape) or real(A, B))
    for t in (0.5, 5.0):
        model.at_time(t).self_influence()
    assert calls == []
    model.at_time(7.0).self_influence()  # not prefetched: V∘V and V products on demand
    assert len(calls) >= 2


def test_prefetch_respects_the_memory_budget():
    X, y, _, _ = _problem(30, seed=8)
    model = NTKInfluence(0.1, device="cpu").fit(X, y)
    per_t = 30 * 8 * 3 * 16  # n · P · (2 + C) complex numbers
    assert prefetch_times(model, [1.0, 2.0, 3.0, 4.0], budget_bytes=2 * per_t) == 2
    assert set(model.spectral()._poles) == {1.0, 2.0}
    with pytest.raises(ValueError, match="t must be"):
        prefetch_times(model, [-1.0])
