"""Input-space density of each training point, for the IHVP-error-vs-density study (docs/theory.md §5).

A Gaussian kernel density estimate on PCA-reduced features (scikit-learn's PCA), evaluated
leave-one-out — each point's density comes from the *other* points, so an isolated point is not
propped up by its own kernel bump (scikit-learn's KernelDensity has no leave-one-out mode). The
bandwidth h is chosen by likelihood cross-validation: the h on a log grid that maximises the mean
leave-one-out log-density, which is exactly the quantity returned.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from ._checks import as_matrix, check_float, check_int

ROW_BLOCK = 256  # rows of the pairwise-distance matrix held at once: memory O(ROW_BLOCK · n), cache-sized
BANDWIDTH_GRID = np.geomspace(0.02, 2.0, 30)  # candidate h, in units of the median pairwise distance
EXP_FLOOR = 50.0  # e^−50 ≈ 2e-22: terms below it are negligible in a sum whose largest term is 1


def log_density(X, n_components: int = 10, bandwidth="cv", seed: int = 0, progress=None) -> np.ndarray:
    """Leave-one-out Gaussian KDE log-density at each row of X (n, d), in PCA space of
    min(n_components, n − 1, d) dimensions. bandwidth: "cv" (likelihood cross-validation), "scott",
    or a positive float (in PCA-space units). progress(fraction, message) hears each block of rows.
    Returns (n,) natural-log densities. Pairwise distances are computed a block of rows at a time
    (torch, all cores), never as one n × n array."""
    progress = progress or (lambda fraction, message: None)
    Z = reduce_features(X, n_components, seed)
    progress(0.05, f"PCA to {Z.shape[1]} dimensions done")
    h = choose_bandwidth(Z, bandwidth, progress)
    out = _loo_log_density_blocked(Z, np.array([h]))[:, 0]
    progress(1.0, "Density estimate done")
    return out


def reduce_features(X, n_components: int = 10, seed: int = 0) -> np.ndarray:
    """PCA projection of X (n, d) to (n, k), k = min(n_components, n − 1, d)."""
    n_components = check_int(n_components, "n_components", min_val=1)
    seed = check_int(seed, "seed", min_val=0)
    X = as_matrix(X, "X", torch.device("cpu"), torch.float64, nonzero_rows=False).numpy()
    if X.shape[0] < 3:
        raise ValueError(f"a density estimate needs at least 3 points; got {X.shape[0]}")
    k = min(n_components, X.shape[0] - 1, X.shape[1])
    return PCA(n_components=k, random_state=seed).fit_transform(X)


def choose_bandwidth(Z: np.ndarray, bandwidth="cv", progress=None) -> float:
    """The kernel width h: a positive float as given, Scott's rule, or the likelihood-CV maximiser over
    BANDWIDTH_GRID × the median pairwise distance (one pass over the distances for the whole grid)."""
    if isinstance(bandwidth, str):
        n, k = Z.shape
        if bandwidth == "scott":
            h = float(np.mean(Z.std(axis=0)) * n ** (-1.0 / (k + 4)))
            if not h > 0:
                raise ValueError("every point is the same (after PCA); a density cannot be estimated")
            return h
        if bandwidth == "cv":
            pairs = _upper_pairs(Z)
            pairs = pairs[pairs > 0]  # duplicated points would pull the median scale to 0
            if pairs.size == 0:
                raise ValueError("every point is the same (after PCA); a density cannot be estimated")
            grid = np.sqrt(np.median(pairs)) * BANDWIDTH_GRID
            del pairs
            scores = _loo_log_density_blocked(Z, grid, progress).mean(axis=0)
            return float(grid[int(np.argmax(scores))])
    return check_float(bandwidth, "bandwidth", min_val=0, include_boundaries="neither",
                       what="'cv', 'scott' or a positive number")


def _distance_blocks(Z: np.ndarray):
    """Yield (rows, squared distances (b, n) as a torch tensor, ‖z_i‖² + ‖z_j‖² − 2 z_i·z_j clipped at
    0) over blocks of ROW_BLOCK rows."""
    import torch

    Zt = torch.from_numpy(np.ascontiguousarray(Z))
    sq = (Zt * Zt).sum(dim=1)
    for start in range(0, Zt.shape[0], ROW_BLOCK):
        stop = min(start + ROW_BLOCK, Zt.shape[0])
        d = (sq[start:stop, None] + sq[None, :]) - 2 * (Zt[start:stop] @ Zt.T)
        yield slice(start, stop), d.clamp_min_(0.0)


def _upper_pairs(Z: np.ndarray) -> np.ndarray:
    """The squared distances of all pairs i < j (n(n−1)/2,), gathered block by block."""
    n = Z.shape[0]
    parts = []
    for rows, d in _distance_blocks(Z):
        cols = np.arange(n)
        keep = cols[None, :] > np.arange(rows.start, rows.stop)[:, None]
        parts.append(d.numpy()[keep])
    return np.concatenate(parts)


def _loo_log_density_blocked(Z: np.ndarray, grid: np.ndarray, progress=None) -> np.ndarray:
    """log[(1/(n−1)) Σ_{j≠i} N(z_i; z_j, h²I_k)] for every i and every h in grid (H,): (n, H).

    Per row, with m_i = min_{j≠i} d_ij: log Σ_{j≠i} e^(−d_ij/2h²) = −m_i/2h² + log Σ_{j≠i} e^(−(d_ij − m_i)/2h²),
    whose largest term is 1. Exponents below −EXP_FLOOR are raised to it: each such term is < 2e-22 of
    the sum instead of a denormal (denormals make exp ~20× slower), a relative change below n · 2e-22.
    numpy's exp: on a shared CPU it runs several times faster than torch's multi-threaded one."""
    n, k = Z.shape
    out = np.empty((n, len(grid)))
    buf = None
    for rows, d in _distance_blocks(Z):
        d = d.numpy()
        b = rows.stop - rows.start
        d[np.arange(b), np.arange(rows.start, rows.stop)] = np.inf  # j ≠ i
        shift = d.min(axis=1)
        d -= shift[:, None]
        buf = np.empty_like(d) if buf is None or buf.shape != d.shape else buf
        for j, h in enumerate(grid):
            c = -1.0 / (2 * h * h)
            np.multiply(d, c, out=buf)
            np.maximum(buf, -EXP_FLOOR, out=buf)
            np.exp(buf, out=buf)
            out[rows, j] = np.log(buf.sum(axis=1)) + c * shift
        if progress is not None:
            progress(0.05 + 0.9 * rows.stop / n, f"Density: {rows.stop} of {n} points")
    return out - np.log(n - 1) - 0.5 * k * np.log(2 * np.pi * grid * grid)[None, :]
