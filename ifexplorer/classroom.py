"""The worked linear-regression example of docs/theory.md §8, for the Influence 101 page.

Least squares y = θ₁x + θ₀ on three points. Up-weighting point k by ε (loss Σ ℓ_i + ε ℓ_k,
ℓ_i = ½(y_i − θ·z_i)², z_i = (x_i, 1)) moves the fit along θ(ε); its tangent at ε = 0 is the
influence  dθ/dε = −Hess⁻¹∇ℓ_k = (ZᵀZ)⁻¹ z_k r_k,  r_k = y_k − θ·z_k.
"""
from __future__ import annotations

import numpy as np


def example_points() -> tuple[np.ndarray, np.ndarray]:
    """The three points of theory §8: x = (0, 1, 2), y = (0, 1.5, 2)."""
    return np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.5, 2.0])


def design_matrix(x) -> np.ndarray:
    """Z (n, 2) with rows (x_i, 1): slope first, intercept second."""
    x = np.asarray(x, dtype=np.float64)
    return np.column_stack([x, np.ones_like(x)])


def weighted_fit(x, y, weights) -> np.ndarray:
    """θ = (slope, intercept) minimising Σ w_i ½(y_i − θ₁x_i − θ₀)². Weights must keep ZᵀWZ invertible."""
    Z, w = design_matrix(x), np.asarray(weights, dtype=np.float64)
    if w.shape != (len(Z),):
        raise ValueError(f"weights must have one entry per point ({len(Z)}); got shape {w.shape}")
    gram = Z.T @ (w[:, None] * Z)
    if abs(np.linalg.det(gram)) < 1e-12:
        raise ValueError("these weights leave the fit undetermined (fewer than two points with weight ≠ 0)")
    return np.linalg.solve(gram, Z.T @ (w * np.asarray(y, dtype=np.float64)))


def parameter_influence(x, y) -> np.ndarray:
    """dθ/dε at ε = 0 for up-weighting each point: row k = (ZᵀZ)⁻¹ z_k r_k. Returns (n, 2)."""
    Z, y = design_matrix(x), np.asarray(y, dtype=np.float64)
    theta = weighted_fit(x, y, np.ones(len(Z)))
    residuals = y - Z @ theta
    return np.linalg.solve(Z.T @ Z, (Z * residuals[:, None]).T).T


def response_curve(x, y, point: int, epsilons) -> np.ndarray:
    """θ(ε) when point `point` gets weight 1 + ε, for each ε. Returns (len(epsilons), 2)."""
    n = len(np.asarray(x))
    if not 0 <= int(point) < n:
        raise ValueError(f"point must be in 0..{n - 1}; got {point}")
    return np.array([weighted_fit(x, y, np.ones(n) + eps * np.eye(n)[int(point)]) for eps in epsilons])
