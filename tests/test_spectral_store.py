import time

import numpy as np
import pytest
import torch
from reference import ntk_reference, random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer import spectral_store as store


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(store.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return random_unit_rows(rng, n, 6), np.sign(rng.normal(size=n))


def test_eigendecomposition_is_exact_and_in_place(cache):
    X, y = _data()
    model = NTKInfluence(reg=0.01).fit(X, y)
    mu, V = model.eigendecomposition()
    H = ntk_reference(X, X)
    np.fill_diagonal(H, 0.5)
    A = H + 0.01 * np.eye(len(X))
    np.testing.assert_allclose(mu.numpy(), np.linalg.eigvalsh(A), rtol=1e-12)
    np.testing.assert_allclose((V * mu) @ V.T, A, atol=1e-13)
    np.testing.assert_allclose(V.T @ V, np.eye(len(X)), atol=1e-13)


def test_second_model_loads_the_cached_decomposition_bit_identical(cache):
    X, y = _data()
    before = store.computations()
    mu1, V1 = NTKInfluence(reg=0.01).fit(X, y).eigendecomposition()
    assert store.computations() == before + 1 and any(cache.rglob("*.pkl"))
    messages = []
    model2 = NTKInfluence(reg=0.01).fit(X, -y)  # the targets do not enter A
    mu2, V2 = model2.eigendecomposition(lambda f, msg: messages.append(msg))
    assert store.computations() == before + 1  # loaded, not computed
    assert "from the cache" in messages[0]
    assert torch.equal(mu1, mu2) and torch.equal(V1, V2)
    assert model2.eigendecomposition() is model2.eigendecomposition()  # and kept in memory
    # a time view built on the loaded decomposition works
    np.testing.assert_allclose(model2.at_time(1e6).predict(X[:3]), model2.predict(X[:3]), rtol=1e-8)


@pytest.mark.parametrize("change", ["reg", "data"])
def test_a_different_model_misses_the_cache(cache, change):
    X, y = _data()
    NTKInfluence(reg=0.01).fit(X, y).eigendecomposition()
    before = store.computations()
    if change == "reg":
        NTKInfluence(reg=0.02).fit(X, y).eigendecomposition()
    else:
        X2 = X.copy()
        X2[0] = X[1]
        NTKInfluence(reg=0.01).fit(X2, y).eigendecomposition()
    assert store.computations() == before + 1


def test_persistence_off_and_custom_kernels_are_not_stored(tmp_path, monkeypatch):
    X, y = _data()
    monkeypatch.setenv(store.CACHE_ENV, "off")
    assert store.cache_dir() is None
    before = store.computations()
    NTKInfluence(reg=0.01).fit(X, y).eigendecomposition()
    NTKInfluence(reg=0.01).fit(X, y).eigendecomposition()
    assert store.computations() == before + 2
    monkeypatch.setenv(store.CACHE_ENV, str(tmp_path))
    kernel = lambda A, B: (A @ (A if B is None else B).T + 1.0) ** 2  # noqa: E731
    model = NTKInfluence(reg=0.01, kernel=kernel).fit(X, y)
    assert store.cache_key(model) is None
    model.eigendecomposition()
    assert not any(tmp_path.rglob("*.pkl"))


def test_default_cache_dir(monkeypatch):
    monkeypatch.delenv(store.CACHE_ENV, raising=False)
    assert str(store.cache_dir()).endswith(".cache/ifexplorer")


def test_progress_ticks_and_estimate(monkeypatch):
    monkeypatch.setattr(store, "TICK_SECONDS", 0.01)
    seen = []
    out = store._with_ticks(lambda: time.sleep(0.2) or "done", 0.1, lambda f, msg: seen.append((f, msg)))
    assert out == "done" and len(seen) >= 3
    assert all(0 <= f <= 0.95 for f, _ in seen) and seen[-1][0] == 0.95  # capped once past the estimate
    with pytest.raises(ZeroDivisionError):
        store._with_ticks(lambda: 1 / 0, 1.0, lambda f, msg: None)
    assert store.gemm_rate(torch.device("cpu"), size=64) > 1e6
    assert store.estimate_seconds(2000, torch.device("cpu")) > 0


def test_new_fit_gets_a_new_decomposition(cache):
    X, y = _data()
    model = NTKInfluence(reg=0.01).fit(X, y)
    first = model.eigendecomposition()
    model.fit(X[:30], y[:30])
    assert model.eigendecomposition()[0].shape == (30,) and first[0].shape == (40,)


def test_threads_asking_at_once_compute_the_decomposition_once(cache, monkeypatch):
    """The app shares one fitted model between the threads of all sessions: the second caller waits for the first
    one's decomposition instead of computing another (and both get the same tensors)."""
    import threading

    X, y = _data(n=120, seed=3)
    model = NTKInfluence(reg=0.01).fit(X, y)
    real, calls = store.eigendecomposition, []

    def slow(m, progress):
        calls.append(threading.get_ident())
        time.sleep(0.3)  # long enough for every thread to arrive while the first computes
        return real(m, progress)

    monkeypatch.setattr(store, "eigendecomposition", slow)
    results = [None] * 4

    def ask(i):
        results[i] = model.spectral()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    times = [0.5, 1.0, 2.0, 0.5, 1.0, 2.0]
    out = [None] * len(times)

    def view(i):
        out[i] = model.at_time(times[i]).predict(X[:5])

    threads = [threading.Thread(target=view, args=(i,)) for i in range(len(times))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, t in enumerate(times):
        np.testing.assert_allclose(out[i], model.at_time(t).predict(X[:5]), rtol=1e-12, atol=1e-14)
