"""Is influence fragile in depth? The NTK part (docs/theory.md §9, §5, §11; Basu, Pope & Feizi 2021).

For the depth-L ReLU NTK H_L and each λ: the IHVP error e_i = 1 − λQ_ii over training points (mean and
median), Theorem 3's bounds λ_min/(λ+λ_min) ≤ e_i ≤ λ_max/(λ+λ_max) from H_L's spectrum, and — when test
points are given — the LDS (§11) of the exact leave-one-out effects and of the IHVP effects, on the same
subsets. Everything is exact kernel algebra: no network is trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_depth, check_positive
from ..influence import NTKInfluence
from ..results import Progress, no_progress
from .lds import exact_loo_effects, ihvp_effects, lds_many


@dataclass(frozen=True)
class IhvpErrorVsDepth:
    """Rows are depths (D,), columns λ (R,): mean_error, median_error of e_i = 1 − λQ_ii; lower_bound,
    upper_bound (Theorem 3); lds_exact, lds_ihvp (mean LDS over test points; NaN without test points).
    eigenvalue_min, eigenvalue_max (D,): the extreme eigenvalues of H_L."""
    depths: np.ndarray
    regs: np.ndarray
    mean_error: np.ndarray
    median_error: np.ndarray
    lower_bound: np.ndarray
    upper_bound: np.ndarray
    eigenvalue_min: np.ndarray
    eigenvalue_max: np.ndarray
    lds_exact: np.ndarray
    lds_ihvp: np.ndarray


def ihvp_error_vs_depth(X_train, y_train, depths=(1, 2, 3, 4), regs=(1e-3, 1e-2, 1e-1, 1.0), X_test=None,
                        y_test=None, *, n_subsets: int = 50, alpha: float = 0.5, seed: int = 0,
                        output: str = "true_class", device: str = "auto",
                        progress: Progress | None = None) -> IhvpErrorVsDepth:
    """The table depth × λ for X_train (n, d), y_train (n,) or (n, C); with X_test (m, d) and y_test also
    the LDS of exact and IHVP effects (n_subsets, alpha, seed, output as in lds.lds; the same subsets for
    every cell)."""
    progress = progress or no_progress
    depths = np.array([check_depth(L) for L in _sequence(depths, "depths")], dtype=np.int64)
    regs = np.array([check_positive(lam, "regs") for lam in _sequence(regs, "regs")], dtype=np.float64)
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test (for the LDS columns) or neither")
    shape = (len(depths), len(regs))
    table = {key: np.full(shape, np.nan) for key in
             ("mean_error", "median_error", "lower_bound", "upper_bound", "lds_exact", "lds_ihvp")}
    eig_min, eig_max = np.empty(len(depths)), np.empty(len(depths))
    for a, depth in enumerate(depths):
        for b, lam in enumerate(regs):
            model = NTKInfluence(reg=float(lam), depth=int(depth), device=device).fit(X_train, y_train)
            e = model.ihvp_error()
            bounds = model.ihvp_error_bounds()
            cell = {"mean_error": e.mean(), "median_error": np.median(e), "lower_bound": bounds.lower,
                    "upper_bound": bounds.upper}
            if X_test is not None:
                effects = {key: fn(model, X_test, y_test, output=output)
                           for key, fn in (("lds_exact", exact_loo_effects), ("lds_ihvp", ihvp_effects))}
                scores = lds_many(model, X_test, y_test, effects, n_subsets=n_subsets, alpha=alpha, seed=seed,
                                  output=output)
                cell.update((key, result.mean) for key, result in scores.items())
            for key, value in cell.items():
                table[key][a, b] = value
            eig_min[a], eig_max[a] = bounds.eigenvalue_min, bounds.eigenvalue_max
            progress((a * len(regs) + b + 1) / (len(depths) * len(regs)), f"depth {depth}, λ = {lam:g}")
    return IhvpErrorVsDepth(depths=depths, regs=regs, eigenvalue_min=eig_min, eigenvalue_max=eig_max, **table)


def _sequence(values, name: str) -> list:
    """A non-empty list of settings from a scalar or a 1-D sequence."""
    items = list(np.atleast_1d(np.asarray(values, dtype=object)).ravel())
    if not items:
        raise ValueError(f"{name} must be a non-empty list; got {values!r}")
    return items
