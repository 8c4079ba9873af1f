import numpy as np
import torch
from reference import ntk_reference, random_unit_rows

from ifexplorer.kernels import empirical_ntk, ntk_two_layer


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
