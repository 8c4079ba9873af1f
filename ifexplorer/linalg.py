"""Dense symmetric linear algebra in place, with O(n · block) extra memory, on the CPU or a GPU.

The NTK model holds one n × n array: W with (H + λI)⁻¹ = WᵀW. Everything here works inside that buffer, so a
fit peaks at n² numbers plus thin panels:

- ``upper_gram``: H's upper triangle from the kernel, a block of rows at a time, into the buffer that
  ``inverse_factor_`` then factors; ``symmetric_gram``: the whole H (the lower block triangle computed
  and mirrored: half the kernel evaluations, exactly symmetric), for whoever needs H itself.
- ``inverse_factor_``: A ← W = L⁻¹ for a symmetric positive definite A = L Lᵀ, in place, so that
  A⁻¹ = WᵀW: on the CPU LAPACK potrf + trtri through scipy, on a GPU cuSOLVER potrf and our blocked
  right-looking triangular inverse. 2n³/3 flops, ≈ a third of one n × n × n matrix product; A⁻¹
  itself (another n³/3 flops) is never formed.
- ``times_inverse``, ``inverse_columns``, ``inverse_block``, ``inverse_diagonal``: K A⁻¹ = (K Wᵀ) W for
  rows K (BLAS trmm/trmv on the CPU: 2n²b flops, the cost of a symmetric product), columns of A⁻¹, a
  principal block of A⁻¹ as a Gram of W's columns (2ng² flops), and diag(A⁻¹) as W's squared column norms.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg.blas
import scipy.linalg.lapack
import torch

INVERSE_BLOCK = 256  # panel width of the blocked inverse: the extra memory is ≈ 2 · n · INVERSE_BLOCK numbers
GRAM_BLOCK = 1024  # rows of the kernel computed at once


def symmetric_gram(kernel: Callable, X: torch.Tensor, block: int = GRAM_BLOCK) -> torch.Tensor:
    """H (n, n) with H_ij = kernel(x_i, x_j): upper_gram's triangle (the very numbers a fit factors),
    mirrored, so exactly symmetric with half the kernel evaluations.
    kernel(X1, X2) -> (m, n) and kernel(X1, None) -> its symmetric (m, m) matrix (exact diagonal).
    Extra memory: one block × n kernel temporary."""
    H = upper_gram(kernel, X, block)
    for i0 in range(0, H.shape[0], block):
        i1 = min(i0 + block, H.shape[0])
        diag = H[i0:i1, i0:i1]
        diag.copy_(diag.triu() + diag.triu(1).mT)
        H[i1:, i0:i1] = H[i0:i1, i1:].mT
    return H


def upper_gram(kernel: Callable, X: torch.Tensor, block: int = GRAM_BLOCK) -> torch.Tensor:
    """The upper triangle of H (n, n), H_ij = kernel(x_i, x_j) for j ≥ i, written a block of rows at a time
    (contiguous row writes, half the kernel evaluations, no mirror). The strict lower triangle is left
    unset: the buffer is for inverse_factor_, whose LAPACK / cuSOLVER routines read only this triangle.
    kernel as for symmetric_gram. Extra memory: one block × n kernel temporary."""
    n = X.shape[0]
    A = torch.empty((n, n), dtype=X.dtype, device=X.device)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        A[i0:i1, i0:i1] = kernel(X[i0:i1], None)  # exact diagonal
        if i1 < n:
            A[i0:i1, i1:] = kernel(X[i0:i1], X[i1:])
    return A


def inverse_factor_(A: torch.Tensor, block: int = INVERSE_BLOCK,
                    lapack: bool | None = None) -> tuple[torch.Tensor, int]:
    """Overwrite the symmetric positive definite A (n, n, contiguous) with the factor of its inverse:
    A = L Lᵀ (Cholesky), W = L⁻¹, so A⁻¹ = Wᵀ W. Only A's upper triangle (row-major) is read: the strict
    lower one may hold anything (upper_gram leaves it unset). Returns (W, info): W (n, n) is a view of A's buffer
    (its transpose), lower triangular with an exactly zero strict upper triangle; info > 0 when the
    leading info × info minor is not numerically positive definite (then the buffer holds garbage).

    lapack: True = scipy's LAPACK potrf + trtri (CPU only), False = torch's Cholesky and our blocked
    triangular inverse (any device), None = LAPACK for float32/float64 on the CPU. 2n³/3 flops, ≈ a
    third of one n × n × n matrix product; extra memory O(n · block)."""
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not A.is_contiguous():
        raise ValueError(f"inverse_factor_ needs a contiguous square matrix; got shape {tuple(A.shape)}")
    # A is symmetric, so its column-major view A.mT is the same matrix: LAPACK/cuSOLVER factor it in
    # place (torch copies a row-major out= argument, but not a column-major one).
    V = A.mT
    if lapack is None:
        lapack = _lapack_ok(A)
    if lapack:
        return V, _inverse_factor_lapack_(V.numpy())
    info = torch.zeros((), dtype=torch.int32, device=A.device)
    torch.linalg.cholesky_ex(V, out=(V, info))  # V's lower triangle = L, strict upper zeroed
    info = int(info)
    if not info:
        _invert_lower_(V, block)
    return V, info


def _lapack_ok(A: torch.Tensor) -> bool:
    return A.device.type == "cpu" and A.dtype in (torch.float64, torch.float32)


def _in_place(F: np.ndarray, result: np.ndarray, info) -> int:
    """Write a LAPACK wrapper's result back into F when f2py had to copy (it does not for a
    Fortran-ordered array of the routine's dtype); returns info."""
    if not np.shares_memory(result, F):
        F[...] = result
    return int(info)


def _inverse_factor_lapack_(F: np.ndarray) -> int:
    """F (n, n, Fortran order, float64 or float32) ← L⁻¹ in place, L = chol(F) lower; strict upper
    zeroed (potrf's clean). Returns LAPACK's info (> 0: the failing leading minor)."""
    potrf, trtri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "trtri"), (F,))
    info = _in_place(F, *potrf(F, lower=1, clean=1, overwrite_a=1))
    if info:
        return info
    return _in_place(F, *trtri(F, lower=1, overwrite_c=1))


def times_inverse(K: torch.Tensor, W: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """K A⁻¹ = (K Wᵀ) W (b, n) for rows K (b, n) and the factor W of inverse_factor_ (lower
    triangular, A⁻¹ = WᵀW). On the CPU in float32/float64 BLAS trmv (one row) or trmm, which touch
    only W's triangle: 2n²b flops, and for one row n² numbers read. Elsewhere two general products.
    overwrite=True: K (if contiguous) may be overwritten by the result, which then needs no memory."""
    if not _blas_ok(K, W):
        return (K @ W.mT) @ W
    Kt = K.numpy().T  # (n, b), Fortran-ordered when K is contiguous
    B = Kt if overwrite and Kt.flags.f_contiguous else np.array(Kt, order="F")
    return torch.from_numpy(_triangular_times(W, _triangular_times(W, B, trans=0), trans=1).T)


def inverse_columns(W: torch.Tensor, index) -> torch.Tensor:
    """A⁻¹[:, index] = Wᵀ W[:, index] (n, g) from the factor W of inverse_factor_; index (g,)."""
    columns = W[:, torch.as_tensor(index, device=W.device)]  # (n, g), a copy
    if not _blas_ok(columns, W):
        return W.mT @ columns
    return torch.from_numpy(_triangular_times(W, np.asfortranarray(columns.numpy()), trans=1))


def inverse_block(W: torch.Tensor, index) -> torch.Tensor:
    """A⁻¹[index][:, index] = W[:, index]ᵀ W[:, index] (g, g) from the factor W of inverse_factor_; index (g,).
    2ng² flops: for a group of g points far less than its columns of A⁻¹ (n²g). Exactly symmetric: the upper
    triangle mirrored (a GEMM of Cᵀ with C need not round (i, j) and (j, i) alike: it depends on its blocking and
    threads)."""
    columns = W[:, torch.as_tensor(index, device=W.device)]  # (n, g), a copy
    gram = columns.mT @ columns
    return torch.triu(gram) + torch.triu(gram, 1).mT


def inverse_diagonal(W: torch.Tensor, block: int = GRAM_BLOCK) -> torch.Tensor:
    """diag(A⁻¹) (n,) from the factor W (A⁻¹ = WᵀW): the squared norms of W's columns, read a block of
    columns at a time (W's columns are the rows of the row-major buffer W.mT)."""
    rows = W.mT  # row i holds W[k, i], zero for k < i: read rows[i0:i1, i0:] only
    return torch.cat([torch.linalg.vector_norm(rows[i0:i0 + block, i0:], dim=1).square()
                      for i0 in range(0, rows.shape[0], block)])


def _blas_ok(B: torch.Tensor, W: torch.Tensor) -> bool:
    return _lapack_ok(W) and B.device.type == "cpu" and B.dtype == W.dtype


def _triangular_times(W: torch.Tensor, B: np.ndarray, trans: int) -> np.ndarray:
    """W B (trans=0) or Wᵀ B (trans=1) in place for the lower triangular W (n, n) and B (n, b) in
    Fortran order: BLAS trmv for one column, trmm for more. Returns B."""
    F = W.numpy()  # Fortran-ordered: W is the transpose of a row-major buffer
    if B.shape[1] == 1:
        trmv = scipy.linalg.blas.get_blas_funcs("trmv", (F,))
        B[:, 0] = trmv(F, B[:, 0], lower=1, trans=trans, overwrite_x=1)
        return B
    trmm = scipy.linalg.blas.get_blas_funcs("trmm", (F,))
    out = trmm(1.0, F, B, lower=1, trans_a=trans, overwrite_b=1)
    _in_place(B, out, 0)
    return B


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


def inverse_work_bytes(n: int, itemsize: int, block: int = INVERSE_BLOCK) -> int:
    """Extra memory of inverse_factor_ beyond A: the largest panel temporaries (two n × block)."""
    return itemsize * (3 * n * block + 3 * block * block)


def gram_work_bytes(n: int, itemsize: int, block: int = GRAM_BLOCK) -> int:
    """Extra memory of symmetric_gram beyond H for the NTK: the kernel block and its angle temporary."""
    return itemsize * 3 * min(n, block) * n
