"""The NTK of the ReLU network of docs/theory.md §9 (depth L; L = 1 is the two-layer network of §1–§2).

    Σ¹ = Θ¹ = x·x',   θ_l = the angle of Σ^l,   Σ^l(x, x) = ‖x‖² at every layer,
    Σ^{l+1} = ‖x‖‖x'‖ (sin θ_l + (π − θ_l) cos θ_l) / π,    Θ^{l+1} = Σ^{l+1} + Θ^l (π − θ_l) / π,
    H_L(x, x') = Θ^L (π − θ_L) / (2π);          L = 1:  H(x, x') = (x·x') (π − θ) / (2π).

It does not depend on the initial scale κ. The diagonal is exactly L‖x‖²/2.

Precision. arccos loses half the digits where cos θ ≈ ±1 (a test point equal to a training point came out
wrong by 1e-8 relative), so there π − θ₁ is recomputed from the unit vectors u = x/‖x‖,
π − θ = 2·atan2(‖u + u'‖, ‖u − u'‖), and each deeper angle comes from 1 − cos θ_{l+1} written without
cancellation. Every entry is then exact to rounding, apart from the rounding of x·x' and of u, an
absolute error that shows only where H passes through zero (near-antipodal x, x').
"""
from __future__ import annotations

import math

import torch

from ._checks import check_depth

# Rows of the output computed at once: bounds the temporaries (a few block × n buffers).
DEFAULT_BLOCK_ROWS = 1024
# Where cos θ ≥ NEAR_PARALLEL or ≤ NEAR_ANTIPARALLEL the angle is recomputed from the vectors: O(d) a pair,
# some hundred times a GEMM entry, so the set must stay small (≤ 5e-3 of the pairs off the diagonal in the
# bundled datasets but the 3-D mixture; +≤10% time on MNIST). Elsewhere arccos turns a rounding δ of cos θ
# into an error ≤ δ/sin θ in π − θ: relative to π − θ that is ≤ 1.2δ on the parallel side (sin θ ≥ 0.31,
# π − θ ≥ 2.8) and ≤ 2.6δ on the antiparallel side (sin θ ≥ 0.6, π − θ ≥ 0.64).
NEAR_PARALLEL = 0.95
NEAR_ANTIPARALLEL = -0.8


def ntk_relu(X1: torch.Tensor, X2: torch.Tensor | None = None, *, depth: int = 1,
             block_rows: int = DEFAULT_BLOCK_ROWS, out: torch.Tensor | None = None,
             norms2: torch.Tensor | None = None) -> torch.Tensor:
    """Depth-L ReLU NTK H_L between the rows of X1 (m, d) and X2 (n, d); X2=None means X2 = X1 (symmetric,
    with the exact diagonal L‖x‖²/2). depth = L ≥ 1 (theory §9; L = 1 is ntk_two_layer).

    Computed block-by-block of rows, in the dtype and on the device of X1, so the only memory beyond
    the (m, n) result (written into `out` if given) is O(block_rows · n). Rows must be nonzero (checked
    by the caller). norms2: the row norms of X2 (n,) when the caller keeps them (one pass over X2
    less: what a single test row costs). Returns (m, n).
    """
    depth = check_depth(depth)
    symmetric = X2 is None
    X2 = X1 if symmetric else X2
    if out is None:
        out = torch.empty((X1.shape[0], X2.shape[0]), dtype=X1.dtype, device=X1.device)
    norms1 = torch.linalg.vector_norm(X1, dim=1)
    if symmetric:
        norms2 = norms1
    elif norms2 is None:
        norms2 = torch.linalg.vector_norm(X2, dim=1)
    workspace = torch.empty((min(block_rows, X1.shape[0]), X2.shape[0]), dtype=X1.dtype, device=X1.device)
    for start in range(0, X1.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        block = out[rows]
        torch.matmul(X1[rows], X2.T, out=block)  # Θ¹ = Σ¹ = x·x'
        supplement = _pi_minus_angle(block, norms1[rows], norms2, X1[rows], X2, out=workspace[:len(block)],
                                     skip_diagonal=start if symmetric else None)
        for _ in range(depth - 1):
            supplement = _next_layer(block, supplement, norms1[rows], norms2)
        block.mul_(supplement).div_(2 * math.pi)  # H_L = Θ^L (π − θ_L) / (2π)
    if symmetric:
        out.diagonal().copy_(norms1.square().mul_(depth / 2))
    return out


def ntk_two_layer(X1: torch.Tensor, X2: torch.Tensor | None = None, *, block_rows: int = DEFAULT_BLOCK_ROWS,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """NTK of the two-layer ReLU network (first layer trained), H(x, x') = (x·x') (π − θ) / (2π), between
    the rows of X1 (m, d) and X2 (n, d); X2=None means X2 = X1. ntk_relu with depth 1. Returns (m, n)."""
    return ntk_relu(X1, X2, depth=1, block_rows=block_rows, out=out)


def _pi_minus_angle(dots: torch.Tensor, norms1: torch.Tensor, norms2: torch.Tensor, X1: torch.Tensor,
                    X2: torch.Tensor, out: torch.Tensor, skip_diagonal: int | None) -> torch.Tensor:
    """π − θ for a block: dots (b, n) = x·x', norms1 (b,), norms2 (n,), rows X1 (b, d), X2 (n, d).

    arccos(−cos θ) where NEAR_ANTIPARALLEL < cos θ < NEAR_PARALLEL; elsewhere 2·atan2(‖u + u'‖, ‖u − u'‖),
    exact to rounding near 0 and π alike (‖u ± u'‖² = 2 ± 2u·u' from the GEMM would not be). Written into
    out (b, n). skip_diagonal=k: entries (r, k + r) are left approximate (the caller overwrites them).
    """
    minus_cos = torch.div(dots, torch.outer(norms1, -norms2, out=out), out=out)
    if skip_diagonal is not None:
        minus_cos.diagonal(offset=skip_diagonal).zero_()
    near = torch.nonzero(((minus_cos <= -NEAR_PARALLEL) | (minus_cos >= -NEAR_ANTIPARALLEL)).view(-1)).view(-1)
    supplement = minus_cos.arccos_()  # NaN where rounding gave |cos θ| > 1: all of them are in `near`
    flat = supplement.view(-1)
    n, d = X2.shape
    chunk = max(1, flat.numel() // (4 * d))  # pairs at a time: the gathered rows stay under one block
    for index in near.split(chunk):
        i, j = index // n, index % n  # unit rows only for these pairs: no n × d division per call
        u, v = X1[i] / norms1[i, None], X2[j] / norms2[j, None]
        difference = torch.linalg.vector_norm(u - v, dim=1)
        flat[index] = 2 * torch.atan2(torch.linalg.vector_norm(u.add_(v), dim=1), difference)
    return supplement


def _next_layer(theta_big: torch.Tensor, supplement: torch.Tensor, norms1: torch.Tensor,
                norms2: torch.Tensor) -> torch.Tensor:
    """One step of theory §9 on a block (b, n): Θ^l → Θ^{l+1} = Σ^{l+1} + Θ^l (π − θ_l)/π in place in
    theta_big, from supplement = π − θ_l; returns π − θ_{l+1} in supplement's memory.

    With ρ = cos θ, 1 − ρ_{l+1} = 2 sin²(θ/2) − (sin θ − θ cos θ)/π has a rounding error O(εθ) (sin θ and
    θ cos θ are both ≈ θ), so θ_{l+1} = 2·asin(√((1 − ρ_{l+1})/2)) ≈ √(2(1 − ρ_{l+1})) is good to O(ε), as
    θ_l was; arccos(ρ_{l+1}) would be good to O(√ε) only.
    """
    theta_big.mul_(supplement).div_(math.pi)  # Θ^l (π − θ_l)/π
    theta = supplement.neg_().add_(math.pi)
    excess = theta.cos().mul_(theta).sub_(theta.sin())  # θ cos θ − sin θ
    gap = theta.mul_(0.5).sin_().square_().mul_(2).add_(excess, alpha=1 / math.pi)  # 2 sin²(θ/2) + excess/π
    sigma = excess.copy_(gap).neg_().add_(1).mul_(norms1[:, None]).mul_(norms2[None, :])  # ‖x‖‖x'‖ ρ_{l+1}
    theta_big.add_(sigma)
    return gap.mul_(0.5).sqrt_().asin_().mul_(-2).add_(math.pi)  # π − 2·asin(√((1 − ρ_{l+1})/2))


def empirical_ntk(X1: torch.Tensor, X2: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Finite-width NTK of the first layer for weights W (width, d):
    K(x, x') = (x·x') · (1/width) Σ_r 1[w_r·x > 0] 1[w_r·x' > 0].  Returns (m, n)."""
    act1 = (X1 @ W.T > 0).to(X1.dtype)
    act2 = (X2 @ W.T > 0).to(X1.dtype)
    return (X1 @ X2.T) * (act1 @ act2.T) / W.shape[0]
