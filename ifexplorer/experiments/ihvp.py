"""How wrong is Koh & Liang's IHVP influence, and when (docs/theory.md §5; the paper's Figures 2 and 3).

The IHVP output change is λQ_ii times the exact one, so its relative error for point i is
e_i = 1 − λQ_ii, between λ_min/(λ+λ_min) and λ_max/(λ+λ_max) (Theorem 3), and
e_i = s_i²/(λ + s_i²) grows as i's neighbourhood thins (Theorem 4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from .._checks import check_int
from ..influence import NTKInfluence
from ..results import Progress, no_progress


@dataclass(frozen=True)
class ErrorVsReg:
    """Per λ (L,): mean and median of e_i = 1 − λQ_ii over training points, Theorem 3's bounds, and
    (when test points were given) the median relative error |I_ihvp − I| / |I| of the influences."""
    regs: np.ndarray
    mean_error: np.ndarray
    median_error: np.ndarray
    lower_bound: np.ndarray
    upper_bound: np.ndarray
    influence_error: np.ndarray


@dataclass(frozen=True)
class ErrorVsDensity:
    """Error rate against log-density: quantile bins (n_bins,) and the rank correlation."""
    bin_centers: np.ndarray
    bin_mean_error: np.ndarray
    bin_counts: np.ndarray
    spearman: float
    p_value: float


def error_vs_reg(X_train, y_train, regs, X_test=None, y_test=None, device="auto",
                 progress: Progress | None = None) -> ErrorVsReg:
    """IHVP error rate for every λ in regs. One eigendecomposition of H gives every diag(Q(λ)) in
    O(n²): Q_ii(λ) = Σ_k V_ik² / (h_k + λ). With X_test/y_test, each λ is also fitted to measure the
    influence error directly."""
    progress = progress or no_progress
    regs = np.asarray(regs, dtype=np.float64).ravel()
    if regs.size == 0 or not np.all(np.isfinite(regs)) or np.any(regs <= 0):
        raise ValueError(f"regs must be a non-empty list of positive numbers; got {regs.tolist()}")
    base = NTKInfluence(reg=float(regs[0]), device=device).fit(X_train, y_train)
    progress(0.1, "Eigendecomposition of the kernel")
    h, V = torch.linalg.eigh(base.kernel_train_)
    h = h.clamp_min(0.0)
    v_sq = V.square()
    mean_e, median_e, infl_e = [], [], []
    for j, lam in enumerate(regs):
        e = (1.0 - lam * (v_sq @ (1.0 / (h + lam)))).cpu().numpy()
        mean_e.append(e.mean())
        median_e.append(np.median(e))
        if X_test is None:
            infl_e.append(np.nan)
        else:
            model = base if j == 0 else NTKInfluence(reg=float(lam), device=device).fit(X_train, y_train)
            infl_e.append(_influence_error(model, X_test, y_test))
        progress(0.1 + 0.9 * (j + 1) / len(regs), f"λ = {lam:.3g}")
    lo, hi = float(h[0]), float(h[-1])
    return ErrorVsReg(regs=regs, mean_error=np.array(mean_e), median_error=np.array(median_e),
                      lower_bound=lo / (regs + lo), upper_bound=hi / (regs + hi), influence_error=np.array(infl_e))


def _influence_error(model: NTKInfluence, X_test, y_test) -> float:
    """Median over (test, train) pairs of |I_ihvp − I| / |I|, pairs with I ≠ 0."""
    exact, ihvp = model.influence(X_test, y_test), model.ihvp_influence(X_test, y_test)
    mask = exact != 0
    return float(np.median(np.abs(ihvp[mask] - exact[mask]) / np.abs(exact[mask])))


def error_vs_density(error, log_density, n_bins: int = 10) -> ErrorVsDensity:
    """Bin training points by log-density quantiles; mean error per bin and Spearman's ρ over points."""
    error = np.asarray(error, dtype=np.float64).ravel()
    log_density = np.asarray(log_density, dtype=np.float64).ravel()
    if error.shape != log_density.shape:
        raise ValueError(f"error {error.shape} and log_density {log_density.shape} must have the same length")
    if not np.all(np.isfinite(log_density)):
        raise ValueError("log_density contains NaN or inf")
    n_bins = min(check_int(n_bins, "n_bins", min_val=1), len(error))
    edges = np.quantile(log_density, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, log_density, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    sums = np.bincount(which, weights=error, minlength=n_bins)
    centers = np.bincount(which, weights=log_density, minlength=n_bins)
    keep = counts > 0
    rho, p = spearmanr(log_density, error)
    return ErrorVsDensity(bin_centers=centers[keep] / counts[keep], bin_mean_error=sums[keep] / counts[keep],
                          bin_counts=counts[keep], spearman=float(rho), p_value=float(p))
