"""LiSSA and conjugate gradient against an exact solve."""
import numpy as np
import pytest
import torch

from ifexplorer import solvers


def _toy(n=40, d=6, reg=0.5, seed=0):
    """Least squares Hessian Σ_i x_i x_iᵀ + λI (eigenvalues in ≈ [λ, 8]) and its mini-batch estimate."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) / np.sqrt(n) * 2
    H = X.T @ X + reg * torch.eye(d, dtype=torch.float64)

    def hvp(v, rows=None):
        if rows is None:
            return X.T @ (X @ v) + reg * v
        return X[rows].T @ (X[rows] @ v) * (n / len(rows)) + reg * v

    v = torch.randn(d, generator=g, dtype=torch.float64)
    return H, hvp, v, n


def test_conjugate_gradient_converges_to_the_exact_solve():
    H, hvp, v, _ = _toy()
    x, info = solvers.conjugate_gradient(hvp, v, tol=1e-12)
    np.testing.assert_allclose(x.numpy(), torch.linalg.solve(H, v).numpy(), rtol=1e-10)
    assert info["iterations"] <= 6 + 1 and info["relative_residual"] <= 1e-12
    xd, _ = solvers.conjugate_gradient(hvp, v, damping=0.3, tol=1e-12)
    np.testing.assert_allclose(xd.numpy(), torch.linalg.solve(H + 0.3 * torch.eye(6, dtype=H.dtype), v).numpy(),
                               rtol=1e-10)


def test_lissa_full_batch_converges_to_the_damped_exact_solve():
    H, hvp, v, n = _toy()
    lam_max = float(torch.linalg.eigvalsh(H)[-1])
    x, info = solvers.lissa(hvp, v, n=n, damping=0.0, scale=1.5 * lam_max, depth=400, batch_size=None)
    np.testing.assert_allclose(x.numpy(), torch.linalg.solve(H, v).numpy(), rtol=1e-8)
    xd, _ = solvers.lissa(hvp, v, n=n, damping=0.2, scale=1.5 * lam_max, depth=400, batch_size=None)
    np.testing.assert_allclose(xd.numpy(), torch.linalg.solve(H + 0.2 * torch.eye(6, dtype=H.dtype), v).numpy(),
                               rtol=1e-8)


def test_lissa_mini_batches_are_unbiased_on_average():
    H, hvp, v, n = _toy()
    exact = torch.linalg.solve(H, v)
    x, info = solvers.lissa(hvp, v, n=n, damping=0.0, scale=40.0, depth=300, batch_size=20, repeats=30, seed=1)
    err = float(torch.linalg.vector_norm(x - exact) / torch.linalg.vector_norm(exact))
    assert err < 0.05
    assert info["repeats"] == 30 and info["batch_size"] == 20
    # truncating the recursion leaves a visible error (the point of showing LiSSA)
    short, _ = solvers.lissa(hvp, v, n=n, damping=0.0, scale=40.0, depth=5, batch_size=None)
    assert float(torch.linalg.vector_norm(short - exact) / torch.linalg.vector_norm(exact)) > 0.3


def test_bad_solver_settings_are_clear_errors():
    H, hvp, v, n = _toy()
    with pytest.raises(solvers.LissaDivergedError, match="increase scale"):
        solvers.lissa(hvp, v, n=n, scale=0.5, depth=2000, batch_size=None)
    assert issubclass(solvers.LissaDivergedError, ValueError)
    with pytest.raises(ValueError, match="damping must be a finite number ≥ 0; got -1.0"):
        solvers.lissa(hvp, v, n=n, damping=-1.0)
    with pytest.raises(ValueError, match="depth must be an integer ≥ 1; got 0"):
        solvers.lissa(hvp, v, n=n, depth=0)
    # counts are integers: an integral float is refused like any other float (as for network widths)
    with pytest.raises(ValueError, match="depth must be an integer ≥ 1; got 500.0"):
        solvers.lissa(hvp, v, n=n, depth=500.0)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        solvers.lissa(hvp, v, n=n, batch_size=True)
    with pytest.raises(ValueError, match="scale must be a positive number; got 0"):
        solvers.lissa(hvp, v, n=n, scale=0)
    with pytest.raises(ValueError, match="max_iter must be an integer ≥ 1; got 0"):
        solvers.conjugate_gradient(hvp, v, max_iter=0)
    with pytest.raises(ValueError, match="max_iter must be an integer ≥ 1; got 50.0"):
        solvers.conjugate_gradient(hvp, v, max_iter=50.0)
    with pytest.raises(ValueError, match="tol must be a finite number ≥ 0; got nan"):
        solvers.conjugate_gradient(hvp, v, tol=float("nan"))
    with pytest.raises(ValueError, match="non-positive curvature"):
        solvers.conjugate_gradient(lambda p: -p, v)
