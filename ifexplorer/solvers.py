"""Iterative inverse-Hessian-vector-product solvers on Hessian-vector products (the practitioner's
baselines of theory §5/§7). Both work on any tensor shape; `hvp(v, rows)` returns Hess·v, or its
mini-batch estimate when `rows` (a LongTensor of training indices) is given.

LiSSA (Agarwal, Bullins & Hazan 2017, as used by Koh & Liang 2017): the recursion
    h_0 = v,   h_j = v + h_{j−1} − (Hess_B + δI) h_{j−1} / s
converges, when s > λ_max(Hess_B + δI), to s·(Hess + δI)⁻¹ v in expectation; the estimate is h_depth / s,
averaged over `repeats` independent runs. δ = damping, s = scale, depth, batch_size are exposed.

Conjugate gradient solves (Hess + δI) x = v with full Hessian-vector products.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ._checks import check_int, check_nonnegative, check_positive

HVP = Callable[..., torch.Tensor]


class LissaDivergedError(ValueError):
    """The LiSSA recursion blew up: the scale is below the largest eigenvalue of a (mini-batch) Hessian."""


def lissa(hvp: HVP, v: torch.Tensor, *, n: int, damping: float = 0.01, scale: float = 25.0, depth: int = 1000,
          batch_size: int | None = 16, repeats: int = 1, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """Stochastic estimate of (Hess + damping·I)⁻¹ v. n: number of training points (to draw mini-batches
    of batch_size; None = full batch, deterministic). Raises LissaDivergedError (a ValueError) if the
    recursion blows up (scale too small for the curvature). Returns (estimate shaped like v, info)."""
    scale = check_positive(scale, "scale")
    damping = check_nonnegative(damping, "damping")
    depth, repeats = check_int(depth, "depth", min_val=1), check_int(repeats, "repeats", min_val=1)
    if batch_size is not None:
        batch_size = min(check_int(batch_size, "batch_size", min_val=1), n)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", min_val=0))
    vnorm = float(torch.linalg.vector_norm(v)) or 1.0
    total = torch.zeros_like(v)
    for _ in range(repeats):
        h = v.clone()
        for j in range(depth):
            rows = None if batch_size is None else torch.randperm(n, generator=gen)[:batch_size].to(v.device)
            h = v + h - (hvp(h, rows) + damping * h) / scale
            if j % 50 == 0 and not (float(torch.linalg.vector_norm(h)) < 1e8 * vnorm * scale):
                raise LissaDivergedError(
                    f"LiSSA diverged at depth {j}: scale = {scale:g} is below the largest eigenvalue of the "
                    "(mini-batch) Hessian plus damping; increase scale"
                )
        total += h / scale
    return total / repeats, {"depth": depth, "repeats": repeats, "scale": scale, "damping": damping,
                             "batch_size": batch_size}


def conjugate_gradient(hvp: HVP, v: torch.Tensor, *, damping: float = 0.0, max_iter: int = 100,
                       tol: float = 1e-10) -> tuple[torch.Tensor, dict]:
    """Solve (Hess + damping·I) x = v by conjugate gradient from x = 0; stops when
    ‖residual‖ ≤ tol·‖v‖ or after max_iter Hessian-vector products. Returns (x, info)."""
    damping = check_nonnegative(damping, "damping")
    max_iter = check_int(max_iter, "max_iter", min_val=1)
    tol = check_nonnegative(tol, "tol")
    x = torch.zeros_like(v)
    r = v.clone()
    p = r.clone()
    rs = float((r * r).sum())
    target = tol * tol * rs
    it = 0
    while it < max_iter and rs > target:
        Ap = hvp(p) + damping * p
        pAp = float((p * Ap).sum())
        if pAp <= 0:
            raise ValueError("conjugate gradient met a direction of non-positive curvature; add damping")
        step = rs / pAp
        x += step * p
        r -= step * Ap
        rs_new = float((r * r).sum())
        p = r + (rs_new / rs) * p
        rs = rs_new
        it += 1
    return x, {"iterations": it, "relative_residual": (rs / max(float((v * v).sum()), 1e-300)) ** 0.5,
               "damping": damping}

