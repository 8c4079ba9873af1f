import numpy as np
import pytest
import torch
from reference import ntk_reference, random_unit_rows

from ifexplorer.kernels import ntk_two_layer
from ifexplorer.linalg import invert_spd_, symmetric_gram, symmetric_times


def _spd(n, cond, seed=0):
    """A random SPD matrix with eigenvalues log-spaced over [1/cond, 1]."""
    rng = np.random.default_rng(seed)
    Qm, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (Qm * np.geomspace(1.0 / cond, 1.0, n)) @ Qm.T


@pytest.mark.parametrize("n, block", [(1, 4), (7, 3), (50, 8), (61, 16), (200, 64), (130, 256)])
@pytest.mark.parametrize("cond", [1e2, 1e8])
def test_invert_spd_in_place_matches_explicit_inverse(n, block, cond):
    A = _spd(n, cond, seed=n)
    Q = torch.tensor(A)
    ptr = Q.data_ptr()
    assert invert_spd_(Q, block=block) == 0
    assert Q.data_ptr() == ptr
    ref = np.linalg.inv(A)
    # backward-stable inverses agree to ~ cond · eps relative to ‖Q‖
    assert np.max(np.abs(Q.numpy() - ref)) / np.max(np.abs(ref)) < 50 * cond * 2.2e-16
    assert torch.equal(Q, Q.T)  # exactly symmetric
    np.testing.assert_allclose(Q.numpy() @ A, np.eye(n), atol=50 * cond * 2.2e-16)


def test_invert_spd_reports_the_failing_pivot():
    A = _spd(40, 10.0)
    A[25, 25] = -1.0  # the leading 26 × 26 minor is no longer positive definite
    assert invert_spd_(torch.tensor(A), block=8) == 26
    with pytest.raises(ValueError, match="contiguous square"):
        invert_spd_(torch.zeros(4, 4).T[:, :3])


def test_invert_spd_extra_memory_is_panels_only():
    """The Cholesky runs in place (no n × n copy): the buffer is the same and so is its content layout."""
    n = 300
    A = torch.tensor(_spd(n, 1e3, seed=3))
    before = A.clone()
    invert_spd_(A, block=32)
    np.testing.assert_allclose((A @ before).numpy(), np.eye(n), atol=1e-10)


@pytest.mark.parametrize("n, block", [(5, 2), (37, 8), (64, 64), (100, 1024)])
def test_symmetric_gram_equals_the_full_kernel(n, block):
    X = torch.tensor(random_unit_rows(np.random.default_rng(n), n, 6))
    H = symmetric_gram(ntk_two_layer, X, block=block)
    ref = ntk_reference(X.numpy(), X.numpy())
    np.fill_diagonal(ref, 0.5)
    np.testing.assert_allclose(H.numpy(), ref, rtol=1e-12, atol=1e-14)
    assert torch.equal(H, H.T)
    assert torch.equal(H.diagonal(), ntk_two_layer(X).diagonal())  # the kernel's exact diagonal ‖x‖²/2


@pytest.mark.parametrize("rows", [1, 3])
def test_symmetric_times_is_k_times_q(rows):
    rng = np.random.default_rng(1)
    Q = torch.tensor(_spd(40, 10.0))
    K = torch.tensor(rng.normal(size=(rows, 40)))
    np.testing.assert_allclose(symmetric_times(K, Q).numpy(), K.numpy() @ Q.numpy(), rtol=1e-12, atol=1e-13)
    # a non-contiguous row (a column of a matrix) works too
    col = torch.tensor(rng.normal(size=(40, 2)))[:, :1].T
    np.testing.assert_allclose(symmetric_times(col, Q).numpy(), col.numpy() @ Q.numpy(), rtol=1e-12, atol=1e-13)
