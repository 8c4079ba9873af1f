"""Dense symmetric linear algebra in place, with O(n · block) extra memory, on the CPU or a GPU.

The NTK model holds two n × n arrays: the kernel H and Q = (H + λI)⁻¹. Everything here works inside
those buffers, so a fit peaks at 2n² numbers plus thin panels:

- ``symmetric_gram``: H from the kernel, computed one block of rows at a time on the lower block
  triangle and mirrored (half the kernel evaluations; exactly symmetric).
- ``invert_spd_``: A ← A⁻¹ for a symmetric positive definite A: Cholesky A = L Lᵀ (torch / LAPACK
  potrf, in place), W = L⁻¹ (blocked, right-looking: n³/3 flops in rank-block updates), Q = WᵀW
  (blocked, n³/3 flops), then the upper triangle mirrored from the lower. n³ flops in all, ≈ half of
  one n × n × n matrix product.
- ``symmetric_times``: K Q for a block of rows K, or one symmetric matrix-vector product (BLAS dsymv,
  which reads only one triangle of Q: half the memory traffic of a general product) for one row.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

INVERSE_BLOCK = 256  # panel width of the blocked inverse: the extra memory is ≈ 2 · n · INVERSE_BLOCK numbers
GRAM_BLOCK = 1024  # rows of the kernel computed at once


def symmetric_gram(kernel: Callable, X: torch.Tensor, block: int = GRAM_BLOCK) -> torch.Tensor:
    """H (n, n) with H_ij = kernel(x_i, x_j), evaluated only for block pairs I ≥ J and mirrored.
    kernel(X1, X2) -> (m, n) and kernel(X1, None) -> its symmetric (m, m) matrix (exact diagonal).
    Extra memory: one block × n kernel temporary."""
    n = X.shape[0]
    H = torch.empty((n, n), dtype=X.dtype, device=X.device)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        diag = kernel(X[i0:i1], None)
        H[i0:i1, i0:i1] = diag.tril() + diag.tril(-1).T
        if i0:
            lower = kernel(X[i0:i1], X[:i0])  # (b, i0)
            H[i0:i1, :i0] = lower
            H[:i0, i0:i1] = lower.T
    return H


def invert_spd_(A: torch.Tensor, block: int = INVERSE_BLOCK) -> int:
    """Overwrite the symmetric positive definite A (n, n, contiguous) with A⁻¹ (full, symmetric).

    Returns 0, or k > 0 when the leading k × k minor is not numerically positive definite (then A
    holds garbage). Extra memory: O(n · block)."""
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not A.is_contiguous():
        raise ValueError(f"invert_spd_ needs a contiguous square matrix; got shape {tuple(A.shape)}")
    # A is symmetric, so its column-major view A.mT is the same matrix: LAPACK/cuSOLVER factor it in
    # place (torch copies a row-major out= argument, but not a column-major one).
    V = A.mT
    info = torch.zeros((), dtype=torch.int32, device=A.device)
    torch.linalg.cholesky_ex(V, out=(V, info))  # V's lower triangle = L, strict upper zeroed
    info = int(info)
    if info:
        return info
    _invert_lower_(V, block)
    _gram_of_lower_(V, block)
    _mirror_lower_(V, block)
    return 0


def _invert_lower_(M: torch.Tensor, block: int) -> None:
    """M's lower triangle L → W = L⁻¹ in place (strict upper must be zero and stays zero).

    Right-looking: from L W = I, W[k, :k] = −L_kk⁻¹ Σ_{k>l≥j} L[k, l] W[l, j]. The sums are accumulated
    in the positions of L already used: after block row k is final, its contribution L[i, k] W[k, :k]
    is added to every row below in one rank-block update."""
    n = M.shape[0]
    eye = torch.eye(block, dtype=M.dtype, device=M.device)
    for k0 in range(0, n, block):
        k1 = min(k0 + block, n)
        inv_kk = torch.linalg.solve_triangular(M[k0:k1, k0:k1].tril(), eye[: k1 - k0, : k1 - k0], upper=False)
        if k0:
            M[k0:k1, :k0] = -(inv_kk @ M[k0:k1, :k0])  # row block k of W (the sums are in place)
        if k1 < n:
            panel = M[k1:, k0:k1].clone()  # L[i, k] for the rows below, consumed by this step
            if k0:
                M[k1:, :k0].addmm_(panel, M[k0:k1, :k0])
            M[k1:, k0:k1] = panel @ inv_kk
        M[k0:k1, k0:k1] = inv_kk


def _gram_of_lower_(M: torch.Tensor, block: int) -> None:
    """M's lower triangle W → the lower triangle of WᵀW in place (LAPACK lauum order: block row i of
    the result needs only rows ≥ i of W, which later steps have not touched yet)."""
    n = M.shape[0]
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        panel = M[i0:, i0:i1].clone()  # W[K, i] for K ≥ i
        panel[: i1 - i0].tril_()
        if i0:
            M[i0:i1, :i0] = panel.T @ M[i0:, :i0]
        M[i0:i1, i0:i1] = panel.T @ panel


def _mirror_lower_(M: torch.Tensor, block: int) -> None:
    """Copy the strict lower triangle onto the upper one."""
    n = M.shape[0]
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        M[i0:i1, i1:] = M[i1:, i0:i1].T
        diag = M[i0:i1, i0:i1]
        diag.copy_(diag.tril() + diag.tril(-1).T)


def inverse_work_bytes(n: int, itemsize: int, block: int = INVERSE_BLOCK) -> int:
    """Extra memory of invert_spd_ beyond A: the largest panel temporaries (two n × block)."""
    return itemsize * (3 * n * block + 3 * block * block)


def gram_work_bytes(n: int, itemsize: int, block: int = GRAM_BLOCK) -> int:
    """Extra memory of symmetric_gram beyond H for the NTK: the kernel block and its angle temporary."""
    return itemsize * 3 * min(n, block) * n


def symmetric_times(K: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """K Q (b, n) for K (b, n) and a symmetric Q (n, n). One row on the CPU in float64: BLAS dsymv,
    which reads one triangle of Q (n²/2 numbers) instead of all of it."""
    if K.shape[0] == 1 and Q.device.type == "cpu" and Q.dtype == torch.float64:
        from scipy.linalg.blas import dsymv

        # Q.numpy().T is Fortran-ordered (no copy) and, Q being symmetric, equal to Q.
        k = np.ascontiguousarray(K[0].numpy())
        return torch.from_numpy(dsymv(1.0, Q.numpy().T, k, lower=1))[None, :]
    return K @ Q
