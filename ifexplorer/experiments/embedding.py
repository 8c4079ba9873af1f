"""The training-set map: every training point placed in 2-D (PCA, or t-SNE for neighbourhoods), cached on disk.

    xy = embed(ds.X_train)                              # PCA: instant
    xy = embed(ds.X_train, "tsne", progress=callback)   # t-SNE: seconds to a minute the first time, then cached

t-SNE follows standard practice: the data is first reduced to PCA_DIMS principal components, the map starts
from the PCA layout (init="pca"), perplexity = min(30, (n − 1)/3), and the seed fixes everything. It runs on
openTSNE (FFT-accelerated gradients, real progress) when that optional package is installed, else on
scikit-learn's Barnes–Hut TSNE (progress only at the start and the end). The two give different (equally
valid) maps; the backend is part of the cache key.

The disk cache is joblib.Memory in $IFEXPLORER_CACHE_DIR (default ~/.cache/ifexplorer), keyed by a hash of the
data and the settings; an unwritable cache directory just means no cache.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..results import Progress, no_progress

METHODS = ("pca", "tsne")
PCA_DIMS = 50  # t-SNE runs on this many principal components (when the data has more)
MIN_TSNE_POINTS = 5


def embed(X, method: str = "pca", seed: int = 0, progress: Progress | None = None, cache: bool = True,
          backend: str = "auto") -> np.ndarray:
    """2-D coordinates (n, 2) float64 of the rows of X (n, d).

    method: "pca" (the two leading principal components) or "tsne". seed: int ≥ 0.
    progress(fraction, message) is called as the work goes on (once, with 1.0, on a cache hit).
    cache: read and write the disk cache. backend (t-SNE only): "auto" (openTSNE if installed, else
    scikit-learn), "opentsne" or "sklearn".
    """
    X = _check_data(X)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0; got {seed!r}")
    progress = progress or no_progress
    backend = _tsne_backend(backend) if method == "tsne" else "sklearn"
    if method == "tsne" and X.shape[0] < MIN_TSNE_POINTS:
        raise ValueError(f"t-SNE needs at least {MIN_TSNE_POINTS} points; got {X.shape[0]} (use method='pca')")
    memory = _memory() if cache else None
    if memory is None:
        return _compute(X, method, int(seed), backend, progress)
    from joblib import hash as data_hash

    cached = memory.cache(_cached_compute, ignore=["X", "progress"])  # keyed by the hash: X is hashed once
    args = (data_hash(X), X, method, int(seed), backend, progress)
    if cached.check_call_in_cache(*args):
        progress(1.0, "Map loaded from the cache")
    return cached(*args)


def cache_dir() -> Path:
    """$IFEXPLORER_CACHE_DIR, else ~/.cache/ifexplorer."""
    return Path(os.environ.get("IFEXPLORER_CACHE_DIR") or Path.home() / ".cache" / "ifexplorer")


def tsne_perplexity(n: int) -> float:
    """min(30, (n − 1)/3): scikit-learn's default, lowered so that 3 × perplexity neighbours exist."""
    return min(30.0, (n - 1) / 3.0)


# ------------------------------------------------------------------------------------ internals
def _check_data(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(f"X must be (n, d) with n ≥ 2 points; got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf")
    return np.ascontiguousarray(X)


def _tsne_backend(backend: str) -> str:
    if backend not in ("auto", "opentsne", "sklearn"):
        raise ValueError(f"backend must be 'auto', 'opentsne' or 'sklearn'; got {backend!r}")
    if backend == "sklearn":
        return backend
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        if backend == "opentsne":
            raise ValueError("backend='opentsne' needs the optional package openTSNE (pip install openTSNE)") from None
        return "sklearn"
    return "opentsne"


def _memory():
    """joblib.Memory in cache_dir(), or None when the directory cannot be made."""
    from joblib import Memory

    location = cache_dir()
    try:
        location.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return Memory(location=str(location), verbose=0)


def _cached_compute(key: str, X: np.ndarray, method: str, seed: int, backend: str, progress: Progress) -> np.ndarray:
    """_compute, cached by joblib under key = the hash of X (X itself is not hashed again)."""
    return _compute(X, method, seed, backend, progress)


def _compute(X: np.ndarray, method: str, seed: int, backend: str, progress: Progress) -> np.ndarray:
    from sklearn.decomposition import PCA

    if method == "pca":
        progress(0.0, "PCA")
        xy = _pad_columns(PCA(n_components=min(2, *X.shape), random_state=seed).fit_transform(X), 2)
        progress(1.0, "Done")
        return xy
    dims = min(PCA_DIMS, *X.shape)
    progress(0.0, f"PCA to {dims} dimensions")
    Z = PCA(n_components=dims, random_state=seed).fit_transform(X) if X.shape[1] > PCA_DIMS else X
    runner = _opentsne if backend == "opentsne" else _sklearn_tsne
    xy = runner(Z, seed, lambda f, msg: progress(0.05 + 0.95 * f, msg))
    progress(1.0, "Done")
    return np.ascontiguousarray(xy, dtype=np.float64)


def _pad_columns(a: np.ndarray, k: int) -> np.ndarray:
    """(n, j) -> (n, k) with zero columns appended (PCA of 1-D data)."""
    return np.hstack([a, np.zeros((a.shape[0], k - a.shape[1]))]) if a.shape[1] < k else a


def _sklearn_tsne(Z: np.ndarray, seed: int, progress: Progress) -> np.ndarray:
    from sklearn.manifold import TSNE

    progress(0.0, f"t-SNE of {Z.shape[0]:,} points (scikit-learn; no progress until it is done)")
    return TSNE(n_components=2, perplexity=tsne_perplexity(Z.shape[0]), init="pca", random_state=seed,
                n_jobs=-1).fit_transform(_pad_columns(Z, 2))


def _opentsne(Z: np.ndarray, seed: int, progress: Progress) -> np.ndarray:
    import openTSNE

    exaggerated, final, every = 250, 500, 25  # openTSNE's default phases; progress every 25 iterations
    done = [0]

    def step(iteration, error, embedding):  # called every `every` iterations within each of the two phases
        done[0] += every
        progress(min(done[0] / (exaggerated + final), 1.0),
                 f"t-SNE iteration {done[0]} of {exaggerated + final} (KL divergence {error:.3f})")

    tsne = openTSNE.TSNE(n_components=2, perplexity=tsne_perplexity(Z.shape[0]), initialization="pca",
                         early_exaggeration_iter=exaggerated, n_iter=final, callbacks=[step],
                         callbacks_every_iters=every, random_state=seed, n_jobs=-1)
    return np.asarray(tsne.fit(_pad_columns(Z, 2)))
