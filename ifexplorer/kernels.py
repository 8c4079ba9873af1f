"""The NTK of the two-layer ReLU network (first layer trained), MATH.md §2.

    H(x, x') = (x·x') (π − θ) / (2π),   θ = arccos(x·x' / (‖x‖‖x'‖)).

It does not depend on the initial scale κ. The diagonal is exactly ‖x‖²/2.
"""
from __future__ import annotations

import math

import torch

# Rows of the output computed at once: bounds the temporaries (a few block × n buffers).
DEFAULT_BLOCK_ROWS = 1024


def ntk_two_layer(X1: torch.Tensor, X2: torch.Tensor | None = None, *, block_rows: int = DEFAULT_BLOCK_ROWS,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """NTK matrix between the rows of X1 (m, d) and X2 (n, d); X2=None means X2 = X1 (symmetric).

    Computed block-by-block of rows, in the dtype and on the device of X1, so the only memory beyond
    the (m, n) result is O(block_rows · n). Rows must be nonzero (checked by the caller).
    Returns (m, n).
    """
    symmetric = X2 is None
    X2 = X1 if symmetric else X2
    m, n = X1.shape[0], X2.shape[0]
    if out is None:
        out = torch.empty((m, n), dtype=X1.dtype, device=X1.device)
    norms1 = torch.linalg.vector_norm(X1, dim=1)
    norms2 = norms1 if symmetric else torch.linalg.vector_norm(X2, dim=1)
    for start in range(0, m, block_rows):
        stop = min(start + block_rows, m)
        dots = out[start:stop]
        torch.matmul(X1[start:stop], X2.T, out=dots)
        # One temporary per block: cos θ, then θ, then π − θ, in place; H = dot · (π − θ) / (2π).
        angle = dots / (norms1[start:stop, None] * norms2[None, :])
        angle.clamp_(-1.0, 1.0).arccos_().neg_().add_(math.pi)
        dots.mul_(angle).div_(2 * math.pi)
    if symmetric:
        out.diagonal().copy_(norms1.square() / 2)
    return out


def empirical_ntk(X1: torch.Tensor, X2: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Finite-width NTK of the first layer for weights W (width, d):
    K(x, x') = (x·x') · (1/width) Σ_r 1[w_r·x > 0] 1[w_r·x' > 0].  Returns (m, n)."""
    act1 = (X1 @ W.T > 0).to(X1.dtype)
    act2 = (X2 @ W.T > 0).to(X1.dtype)
    return (X1 @ X2.T) * (act1 @ act2.T) / W.shape[0]
