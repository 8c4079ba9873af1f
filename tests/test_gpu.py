"""The scale paths on a GPU: the same numbers as the CPU's float64, within the same memory bound."""
import numpy as np
import pytest
import torch
from reference import random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer.dynamics import prefetch_times
from ifexplorer.linalg import inverse_factor_, times_inverse

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _problem(n=600, m=40, d=30, C=None, seed=0):
    rng = np.random.default_rng(seed)
    X, Xt = random_unit_rows(rng, n, d), random_unit_rows(rng, m, d)
    if C is None:
        return X, np.sign(X[:, 0] + 0.3 * rng.normal(size=n)), Xt, np.sign(Xt[:, 0])
    return X, np.eye(C)[rng.integers(0, C, n)], Xt, np.eye(C)[rng.integers(0, C, m)]


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def test_in_place_inverse_on_the_gpu_matches_the_cpu():
    rng = np.random.default_rng(1)
    G = rng.normal(size=(700, 700))
    A = G @ G.T / 700 + 0.1 * np.eye(700)
    buffer = torch.tensor(A, device="cuda")
    ptr = buffer.data_ptr()
    W, info = inverse_factor_(buffer, block=128)
    assert info == 0 and W.data_ptr() == ptr
    assert _rel(W.cpu().numpy(), np.linalg.inv(np.linalg.cholesky(A))) < 1e-10
    eye = torch.eye(700, dtype=torch.float64, device="cuda")
    assert _rel(times_inverse(eye, W).cpu().numpy(), np.linalg.inv(A)) < 1e-10


@pytest.mark.parametrize("C", [None, 4])
def test_fit_influence_top_k_on_the_gpu_match_the_cpu(C):
    X, y, Xt, yt = _problem(C=C)
    cpu = NTKInfluence(reg=1e-3, device="cpu").fit(X, y)
    gpu = NTKInfluence(reg=1e-3, device="cuda").fit(X, y)
    assert _rel(gpu.influence(Xt, yt), cpu.influence(Xt, yt)) < 1e-9
    assert _rel(gpu.self_influence(), cpu.self_influence()) < 1e-9
    a, b = cpu.top_influences_all(Xt, yt, k=5), gpu.top_influences_all(Xt, yt, k=5, block=7)
    np.testing.assert_array_equal(a.helpful, b.helpful)
    np.testing.assert_allclose(a.harmful_scores, b.harmful_scores, rtol=1e-8)


def test_fit_memory_on_the_gpu_is_one_n_squared_plus_panels():
    n = 6000
    X, y, _, _ = _problem(n=n, d=64)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    model = NTKInfluence(reg=1e-3, device="cuda").fit(X, y)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    # one n × n buffer, the kernel's 3 · 1024 · n panel (0.51 × 8n² at n = 6,000) and the inputs
    assert peak <= 1.6 * 8 * n * n, f"fit peaked at {peak / (8 * n * n):.2f} × 8n²"
    assert peak <= 1.05 * model.estimate_fit_bytes(n, 64)


def test_training_time_views_on_the_gpu_match_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("IFEXPLORER_CACHE_DIR", str(tmp_path))
    X, y, Xt, yt = _problem(n=400, C=3)
    cpu = NTKInfluence(reg=1e-2, device="cpu").fit(X, y)
    gpu = NTKInfluence(reg=1e-2, device="cuda").fit(X, y)
    assert prefetch_times(gpu, [0.5, 5.0]) == 2
    for t in (0.5, 5.0, 77.0):
        assert _rel(gpu.at_time(t).influence(Xt, yt), cpu.at_time(t).influence(Xt, yt)) < 1e-8
        assert _rel(gpu.at_time(t).influence(Xt[:1], yt[:1]), cpu.at_time(t).influence(Xt[:1], yt[:1])) < 1e-8
