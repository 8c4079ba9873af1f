"""Influence as training runs (docs/theory.md §6; the paper's Section 6, Figures 6 and 7).

Plain functions for the app: arrays in, small dataclasses of numpy arrays out, optional
progress(fraction, message). Times are gradient-flow times of L (theory §1, learning rate × steps);
float('inf') is the fully trained model. All of them share one cached eigendecomposition per model
(``NTKInfluence.spectral``), so a grid of 60 times costs 60 O(n²) passes, not 60 fits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int, check_time
from ..rational import phi_exact
from ..results import Progress, no_progress, top_influences


# ------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class TrainingCurves:
    """Per time (T,): mean ½‖f_t − y‖² and accuracy on the training and test sets. Accuracy is sign
    agreement f·y > 0 for one output and argmax agreement for C outputs (at t = 0, f ≡ 0: sign
    accuracy 0, argmax picks class 0)."""
    times: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray


@dataclass(frozen=True)
class PredictionPath:
    """f_t(x) of one test point over the times: predictions (T,) or (T, C); final = f_∞(x) (scalar or (C,))."""
    times: np.ndarray
    predictions: np.ndarray
    final: np.ndarray


@dataclass(frozen=True)
class TopkTracking:
    """For m test points over T times, the k most helpful / harmful training points (paper Figure 6).

    helpful, harmful: int (m, T, k) training indices sorted by |I|, padded with −1 where fewer than
    k points have I > 0 (resp. I < 0); helpful_scores, harmful_scores: (m, T, k), NaN-padded.
    helpful_turnover, harmful_turnover: int (m, T−1), how many members of the set at times[s+1] were
    not in it at times[s]; mean_turnover: (T−1,) helpful + harmful turnover averaged over test points.
    """
    times: np.ndarray
    k: int
    helpful: np.ndarray
    helpful_scores: np.ndarray
    harmful: np.ndarray
    harmful_scores: np.ndarray
    helpful_turnover: np.ndarray
    harmful_turnover: np.ndarray
    mean_turnover: np.ndarray


@dataclass(frozen=True)
class NoisyShare:
    """Share of flipped-label training points among the k most influential (largest |I|) for each test
    point, averaged over test points, per time (T,) (paper Figure 7), next to the test loss (T,).
    share_by_point (m, T); NaN where every influence is 0 (t = 0). base_rate: the share expected
    from a random choice of k points (the fraction of flipped labels)."""
    times: np.ndarray
    k: int
    share: np.ndarray
    share_by_point: np.ndarray
    test_loss: np.ndarray
    base_rate: float


@dataclass(frozen=True)
class MislabelDetection:
    """Ranking training points by self-influence at time t to find flipped labels.

    fractions (F,): the inspected top fractions of the ranking (0.05, 0.1, 0.2); found (F,): the
    fraction of all flipped labels among them (recall); random (F,): the same expected from a random
    ranking (= the fraction inspected); precision (F,): the share of inspected points that are flipped.
    auc: ROC AUC of the self-influence score (random ranking 0.5). scores: self-influence (n,)."""
    t: float
    fractions: np.ndarray
    found: np.ndarray
    random: np.ndarray
    precision: np.ndarray
    auc: float
    random_auc: float
    n_noisy: int
    scores: np.ndarray


# ----------------------------------------------------------------------------------- functions
def time_grid(model, n_points: int = 60, progress: Progress | None = None) -> np.ndarray:
    """Log-spaced times (n_points,) from 0.01/λ_max(A) (before the fastest mode has moved) to
    100/λ_min(A) (after the slowest has converged: e^{−100} of it is left). Triggers the cached
    eigendecomposition (progress is forwarded)."""
    n_points = check_int(n_points, "n_points", min_val=2)
    mu = model.spectral(progress).mu_np
    return np.geomspace(0.01 / mu[-1], 100.0 / mu[0], n_points)


def training_curves(model, X_test, y_test, times, progress: Progress | None = None) -> TrainingCurves:
    """Train and test loss (mean ½‖f_t − y‖²) and accuracy at each time; O(n² + mn) per time."""
    progress = progress or no_progress
    times = _check_times(times)
    sp = model.spectral(progress)
    Xt = model.check_inputs(X_test)
    yt = model.check_targets(y_test, Xt.shape[0])
    coef = _coefficients(sp, times)  # (n, T, C)
    n, T, C = coef.shape
    progress(0.5, "Predictions over the time grid")
    f_train = (sp.V @ ((sp.mu - sp.reg)[:, None, None] * coef).reshape(n, T * C)).reshape(n, T, C)
    f_test = (sp.projected_kernel(Xt, model.kernel_blocks) @ coef.reshape(n, T * C)).reshape(-1, T, C)
    progress(1.0, "Done")
    return TrainingCurves(times=times, train_loss=_loss(f_train, model.y_train_), test_loss=_loss(f_test, yt),
                          train_accuracy=_accuracy(f_train, model.y_train_), test_accuracy=_accuracy(f_test, yt))


def prediction_path(model, x, times, progress: Progress | None = None) -> PredictionPath:
    """f_t(x) of one test point x (d,) at each time."""
    times = _check_times(times)
    sp = model.spectral(progress)
    Xt = model.check_inputs(x)
    if Xt.shape[0] != 1:
        raise ValueError(f"prediction_path takes one test point; got {Xt.shape[0]}")
    coef = _coefficients(sp, times)
    n, T, C = coef.shape
    f = (sp.projected_kernel(Xt, model.kernel_blocks) @ coef.reshape(n, T * C)).reshape(T, C)
    return PredictionPath(times=times, predictions=model.to_output(f), final=np.asarray(model.predict(Xt)[0]))


def topk_tracking(model, X_test, y_test, times, k: int = 10, progress: Progress | None = None) -> TopkTracking:
    """The top-k helpful and harmful sets of each test point at each time and their turnover between
    neighbouring times (paper Figure 6). Exact influence at every time: O(n²) per test point per time."""
    k = _check_k(k, model)
    times = _check_times(times)
    helpful, hs, harmful, ms = [], [], [], []
    for infl in _influence_over_time(model, X_test, y_test, times, progress):
        tops = [top_influences(row, k) for row in infl]
        helpful.append(np.stack([_pad(tp.helpful, k, -1) for tp in tops]))
        hs.append(np.stack([_pad(tp.helpful_scores, k, np.nan) for tp in tops]))
        harmful.append(np.stack([_pad(tp.harmful, k, -1) for tp in tops]))
        ms.append(np.stack([_pad(tp.harmful_scores, k, np.nan) for tp in tops]))
    helpful, hs = np.stack(helpful, axis=1), np.stack(hs, axis=1)
    harmful, ms = np.stack(harmful, axis=1), np.stack(ms, axis=1)
    ht, mt = _turnover(helpful), _turnover(harmful)
    return TopkTracking(times=times, k=k, helpful=helpful, helpful_scores=hs, harmful=harmful, harmful_scores=ms,
                        helpful_turnover=ht, harmful_turnover=mt,
                        mean_turnover=(ht + mt).mean(axis=0).astype(np.float64))


def noisy_share(model, X_test, y_test, noisy_mask, times, k: int = 10,
                progress: Progress | None = None) -> NoisyShare:
    """Share of flipped-label points among each test point's k most influential (by |I|) training
    points, averaged over test points, per time; with the test loss (paper Figure 7)."""
    k = _check_k(k, model)
    noisy = _check_mask(noisy_mask, model)
    times = _check_times(times)
    by_point = []
    for infl in _influence_over_time(model, X_test, y_test, times, progress):
        mag = np.abs(infl)
        top = np.argpartition(-mag, k - 1, axis=1)[:, :k]
        share = noisy[top].mean(axis=1)
        share[mag.max(axis=1) == 0] = np.nan  # t = 0: no point has any influence
        by_point.append(share)
    by_point = np.stack(by_point, axis=1)
    with np.errstate(invalid="ignore"):
        share = np.array([np.nan if np.all(np.isnan(c)) else np.nanmean(c) for c in by_point.T])
    curves = training_curves(model, X_test, y_test, times)
    return NoisyShare(times=times, k=k, share=share, share_by_point=by_point, test_loss=curves.test_loss,
                      base_rate=float(noisy.mean()))


def mislabel_detection(model, noisy_mask, t, fractions=(0.05, 0.1, 0.2)) -> MislabelDetection:
    """Rank training points by self-influence at time t (largest first) and report how many flipped
    labels the top 5/10/20% contain, the ROC AUC, and the random-ranking baseline."""
    noisy = _check_mask(noisy_mask, model)
    if noisy.all() or not noisy.any():
        raise ValueError(f"noisy_mask must flag some but not all training points; it flags {int(noisy.sum())} "
                         f"of {len(noisy)}")
    fractions = np.asarray(fractions, dtype=np.float64).ravel()
    if fractions.size == 0 or np.any(~(fractions > 0)) or np.any(fractions > 1):
        raise ValueError(f"fractions must lie in (0, 1]; got {fractions.tolist()}")
    scores = model.at_time(t).self_influence()
    order = np.argsort(-scores, kind="stable")
    n = len(scores)
    counts = np.maximum(1, np.round(fractions * n).astype(int))
    hits = np.array([noisy[order[:c]].sum() for c in counts], dtype=np.float64)
    return MislabelDetection(t=check_time(t), fractions=fractions, found=hits / noisy.sum(), random=counts / n,
                             precision=hits / counts, auc=float(_roc_auc(noisy, scores)), random_auc=0.5,
                             n_noisy=int(noisy.sum()), scores=scores)


# ---------------------------------------------------------------------------------- internals
def _check_times(times) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(times, dtype=object if isinstance(times, (list, tuple)) else None))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"times must be a non-empty 1-D list of times; got shape {arr.shape}")
    return np.array([check_time(t) for t in arr], dtype=np.float64)


def _check_k(k, model) -> int:
    return check_int(k, "k", min_val=1, max_val=model.n_train_)


def _check_mask(mask, model) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.shape != (model.n_train_,):
        raise ValueError(f"noisy_mask must have one entry per training point, shape ({model.n_train_},); "
                         f"got {arr.shape}")
    if arr.dtype != bool and not np.all(np.isin(arr, (0, 1))):
        raise ValueError("noisy_mask must be boolean (True = flipped label)")
    return arr.astype(bool)


def _coefficients(sp, times: np.ndarray) -> torch.Tensor:
    """φ_t(μ) ∘ ŷ for every time: (n, T, C)."""
    phi = np.stack([phi_exact(sp.mu_np, float(t)) for t in times], axis=1)
    return sp.coefficients(phi)


def _loss(f: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Mean over points of ½‖f − y‖²: f (N, T, C), y (N, C) -> (T,)."""
    return (0.5 * (f - y[:, None, :]).square().sum(dim=2).mean(dim=0)).cpu().numpy()


def _accuracy(f: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    if y.shape[1] == 1:
        right = (f[:, :, 0] * y[:, None, 0]) > 0
    else:
        right = f.argmax(dim=2) == y.argmax(dim=1)[:, None]
    return right.to(torch.float64).mean(dim=0).cpu().numpy()


def _influence_over_time(model, X_test, y_test, times: np.ndarray, progress):
    """Yield I_t (m, n) for each of the checked times (T,); Vᵀk(X_test) is computed once (cached)."""
    progress = progress or no_progress
    model.spectral(progress)
    for s, t in enumerate(times):
        yield model.at_time(t).influence(X_test, y_test)
        progress((s + 1) / len(times), f"Influence at t = {t:.3g} ({s + 1}/{len(times)})")


def _pad(a: np.ndarray, k: int, fill) -> np.ndarray:
    out = np.full(k, fill, dtype=np.float64 if isinstance(fill, float) else np.int64)
    out[: len(a)] = a
    return out


def _turnover(sets: np.ndarray) -> np.ndarray:
    """sets (m, T, k) with −1 padding -> (m, T−1): members at s+1 that were not members at s."""
    m, T, _ = sets.shape
    out = np.zeros((m, max(T - 1, 0)), dtype=np.int64)
    for r in range(m):
        for s in range(T - 1):
            new, old = sets[r, s + 1], sets[r, s]
            out[r, s] = np.setdiff1d(new[new >= 0], old[old >= 0]).size
    return out


def _roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of `scores` for the boolean labels `positive` (imported lazily: scikit-learn's metrics
    module costs ~1 s to import, which a page's first visit would otherwise pay)."""
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(positive, scores)
