"""Slow, obviously-correct references: explicit inverses and brute-force refits in numpy float64."""
import numpy as np


def ntk_reference(X1, X2):
    """MATH §2 entry by entry with numpy."""
    dots = X1 @ X2.T
    norms = np.linalg.norm(X1, axis=1)[:, None] * np.linalg.norm(X2, axis=1)[None, :]
    theta = np.arccos(np.clip(dots / norms, -1, 1))
    return dots * (np.pi - theta) / (2 * np.pi)


def krr_fit(H, y, lam):
    return np.linalg.solve(H + lam * np.eye(len(H)), y)


def brute_force_loo(H, K, y, lam):
    """f^{-i}(x) for every i by refitting without i: (m, n[, C])."""
    n = len(H)
    out = []
    for i in range(n):
        keep = np.arange(n) != i
        alpha = krr_fit(H[np.ix_(keep, keep)], y[keep], lam)
        out.append(K[:, keep] @ alpha)
    return np.stack(out, axis=1)


def sq_loss(f, y):
    d = (f - y).reshape(*f.shape[:2], -1) if f.ndim > 1 else f - y
    return 0.5 * np.sum(np.atleast_3d(d) ** 2, axis=-1) if f.ndim > 1 else 0.5 * d ** 2


def random_unit_rows(rng, n, d):
    X = rng.normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)
