"""Input-space density of each training point, for the IHVP-error-vs-density study (MATH.md §5).

A Gaussian kernel density estimate on PCA-reduced features (scikit-learn's PCA), evaluated
leave-one-out — each point's density comes from the *other* points, so an isolated point is not
propped up by its own kernel bump (scikit-learn's KernelDensity has no leave-one-out mode). The
bandwidth h is chosen by likelihood cross-validation: the h on a log grid that maximises the mean
leave-one-out log-density, which is exactly the quantity returned.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.decomposition import PCA

from ._checks import as_matrix, check_float, check_int


def log_density(X, n_components: int = 10, bandwidth="cv", seed: int = 0) -> np.ndarray:
    """Leave-one-out Gaussian KDE log-density at each row of X (n, d), in PCA space of
    min(n_components, n − 1, d) dimensions. bandwidth: "cv" (likelihood cross-validation), "scott",
    or a positive float (in PCA-space units). Returns (n,) natural-log densities."""
    Z = reduce_features(X, n_components, seed)
    sq_dist = _squared_distances(Z)
    h = choose_bandwidth(sq_dist, Z, bandwidth)
    return _loo_log_density(sq_dist, h, Z.shape[1])


def reduce_features(X, n_components: int = 10, seed: int = 0) -> np.ndarray:
    """PCA projection of X (n, d) to (n, k), k = min(n_components, n − 1, d)."""
    n_components = check_int(n_components, "n_components", min_val=1)
    seed = check_int(seed, "seed", min_val=0)
    X = as_matrix(X, "X", torch.device("cpu"), torch.float64, nonzero_rows=False).numpy()
    if X.shape[0] < 3:
        raise ValueError(f"a density estimate needs at least 3 points; got {X.shape[0]}")
    k = min(n_components, X.shape[0] - 1, X.shape[1])
    return PCA(n_components=k, random_state=seed).fit_transform(X)


def choose_bandwidth(sq_dist: np.ndarray, Z: np.ndarray, bandwidth="cv") -> float:
    """The kernel width h: a positive float as given, Scott's rule, or the likelihood-CV maximiser."""
    if isinstance(bandwidth, str):
        n, k = Z.shape
        if bandwidth == "scott":
            h = float(np.mean(Z.std(axis=0)) * n ** (-1.0 / (k + 4)))
            if not h > 0:
                raise ValueError("every point is the same (after PCA); a density cannot be estimated")
            return h
        if bandwidth == "cv":
            pairs = sq_dist[np.triu_indices(n, 1)]
            pairs = pairs[pairs > 0]  # duplicated points would pull the median scale to 0
            if pairs.size == 0:
                raise ValueError("every point is the same (after PCA); a density cannot be estimated")
            scale = np.sqrt(np.median(pairs))
            grid = scale * np.geomspace(0.02, 2.0, 30)
            scores = [np.mean(_loo_log_density(sq_dist, h, k)) for h in grid]
            return float(grid[int(np.argmax(scores))])
    return check_float(bandwidth, "bandwidth", min_val=0, include_boundaries="neither",
                       what="'cv', 'scott' or a positive number")


def _squared_distances(Z: np.ndarray) -> np.ndarray:
    sq = np.sum(Z * Z, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2 * Z @ Z.T, 0.0)


def _loo_log_density(sq_dist: np.ndarray, h: float, k: int) -> np.ndarray:
    """log[(1/(n−1)) Σ_{j≠i} N(z_i; z_j, h²I_k)] for every i."""
    n = sq_dist.shape[0]
    logits = -sq_dist / (2 * h * h)
    np.fill_diagonal(logits, -np.inf)
    return logsumexp(logits, axis=1) - np.log(n - 1) - 0.5 * k * np.log(2 * np.pi * h * h)
