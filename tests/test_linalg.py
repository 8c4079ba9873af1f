import numpy as np
import pytest
import torch
from reference import ntk_reference, random_unit_rows

from ifexplorer import linalg
from ifexplorer.kernels import ntk_two_layer
from ifexplorer.linalg import (
    inverse_block,
    inverse_columns,
    inverse_diagonal,
    inverse_factor_,
    symmetric_gram,
    times_inverse,
    upper_gram,
)


def _spd(n, cond, seed=0):
    """A random SPD matrix with eigenvalues log-spaced over [1/cond, 1]."""
    rng = np.random.default_rng(seed)
    Qm, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (Qm * np.geomspace(1.0 / cond, 1.0, n)) @ Qm.T


def _factor(A, lapack, block=32, dtype=torch.float64):
    buffer = torch.tensor(A, dtype=dtype)
    ptr = buffer.data_ptr()
    W, info = inverse_factor_(buffer, block=block, lapack=lapack)
    assert W.data_ptr() == ptr  # in place: W is the buffer itself, transposed
    return W, info


@pytest.mark.parametrize("n, block", [(1, 4), (7, 3), (50, 8), (61, 16), (200, 64), (130, 256)])
@pytest.mark.parametrize("cond", [1e2, 1e8])
@pytest.mark.parametrize("lapack", [True, False])
def test_inverse_factor_matches_the_explicit_inverse(n, block, cond, lapack):
    A = _spd(n, cond, seed=n)
    W, info = _factor(A, lapack, block)
    assert info == 0
    assert torch.count_nonzero(W.triu(1)) == 0  # lower triangular, exactly
    # a Cholesky factor moves by ~ cond(A)·eps
    np.testing.assert_allclose(W.numpy(), np.linalg.inv(np.linalg.cholesky(A)), rtol=0,
                               atol=50 * cond * 2.2e-16 * np.abs(W.numpy()).max())
    ref = np.linalg.inv(A)
    # backward-stable inverses agree to ~ cond · eps relative to ‖A⁻¹‖
    assert np.max(np.abs((W.T @ W).numpy() - ref)) / np.max(np.abs(ref)) < 50 * cond * 2.2e-16


@pytest.mark.parametrize("lapack", [True, False])
def test_inverse_factor_reports_the_failing_pivot(lapack):
    A = _spd(40, 10.0)
    A[25, 25] = -1.0  # the leading 26 × 26 minor is no longer positive definite
    assert _factor(A, lapack, block=8)[1] == 26
    with pytest.raises(ValueError, match="contiguous square"):
        inverse_factor_(torch.zeros(4, 4).T[:, :3])


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
@pytest.mark.parametrize("lapack", [True, False])
def test_products_with_the_inverse_match_explicit_ones(dtype, tol, lapack, monkeypatch):
    """times_inverse, inverse_columns, inverse_block and inverse_diagonal through BLAS trmm/trmv (lapack=True) and
    through torch's general products (the GPU path, forced here on the CPU)."""
    n = 120
    A = _spd(n, 1e3, seed=3)
    W, _ = _factor(A, lapack, dtype=dtype)
    if not lapack:
        monkeypatch.setattr(linalg, "_lapack_ok", lambda A: False)
    ref = np.linalg.inv(A)
    scale = np.abs(ref).max()
    rng = np.random.default_rng(4)
    for rows in (1, 3):
        K = rng.normal(size=(rows, n))
        got = times_inverse(torch.tensor(K, dtype=dtype), W)
        assert got.shape == (rows, n) and got.dtype == dtype
        np.testing.assert_allclose(got.numpy(), K @ ref, rtol=0, atol=tol * scale * np.abs(K).sum(1).max())
    column = torch.tensor(rng.normal(size=(n, 2)), dtype=dtype)[:, :1].T  # a non-contiguous row
    np.testing.assert_allclose(times_inverse(column, W).numpy(), column.double().numpy() @ ref, rtol=0,
                               atol=tol * scale * n)
    index = [5, 0, 77]
    np.testing.assert_allclose(inverse_columns(W, index).numpy(), ref[:, index], rtol=0, atol=tol * scale)
    block = inverse_block(W, index)
    np.testing.assert_allclose(block.numpy(), ref[np.ix_(index, index)], rtol=0, atol=tol * scale)
    assert torch.equal(block, block.mT)  # a Gram: exactly symmetric
    np.testing.assert_allclose(inverse_diagonal(W, block=7).numpy(), np.diag(ref), rtol=tol)


@pytest.mark.parametrize("n, block", [(5, 2), (37, 8), (64, 64), (100, 1024)])
def test_symmetric_gram_equals_the_full_kernel(n, block):
    X = torch.tensor(random_unit_rows(np.random.default_rng(n), n, 6))
    H = symmetric_gram(ntk_two_layer, X, block=block)
    ref = ntk_reference(X.numpy(), X.numpy())
    np.fill_diagonal(ref, 0.5)
    np.testing.assert_allclose(H.numpy(), ref, rtol=1e-12, atol=1e-14)
    assert torch.equal(H, H.T)
    assert torch.equal(H.diagonal(), ntk_two_layer(X).diagonal())  # the kernel's exact diagonal ‖x‖²/2


@pytest.mark.parametrize("n, block", [(5, 2), (37, 8), (64, 64), (100, 1024)])
def test_upper_gram_is_the_upper_triangle_of_the_symmetric_gram(n, block):
    X = torch.tensor(random_unit_rows(np.random.default_rng(n), n, 6))
    A = upper_gram(ntk_two_layer, X, block=block)
    H = symmetric_gram(ntk_two_layer, X, block=block)
    upper = torch.ones(n, n, dtype=torch.bool).triu()
    np.testing.assert_allclose(A[upper].numpy(), H[upper].numpy(), rtol=1e-14, atol=1e-16)
    assert torch.equal(A.diagonal(), ntk_two_layer(X).diagonal())


@pytest.mark.parametrize("lapack", [True, False])
def test_inverse_factor_reads_only_the_upper_triangle(lapack):
    A = _spd(60, 1e4, seed=3)
    garbage = A.copy()
    garbage[np.tril_indices(60, -1)] = np.nan  # what upper_gram leaves there is unset memory
    W, info = _factor(A, lapack, block=16)
    W2, info2 = _factor(garbage, lapack, block=16)
    assert info == info2 == 0
    assert torch.equal(W, W2) and torch.count_nonzero(W2.triu(1)) == 0
