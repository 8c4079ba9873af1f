"""The linear datamodeling score (LDS) in the NTK regime, exact at full size (docs/theory.md §11).

Draw M random subsets S_1 … S_M of ⌊αn⌋ training points. The model retrained on S_j is kernel ridge
regression on S_j, f_{S_j}(x) = k_{S_j}(x)ᵀ(H[S_j, S_j] + λI)⁻¹ y_{S_j} (one Cholesky solve per subset).
A method's per-point effects Δ_i f(x) (removal: f⁻ⁱ(x) − f(x)) predict it additively,
g_{S_j}(x) = f(x) + Σ_{i ∉ S_j} Δ_i f(x). The LDS of test point x is Spearman's ρ over j between f_{S_j}(x)
and g_{S_j}(x); the score is its mean over test points.

With C > 1 outputs every quantity is reduced to one number per test point first: the output of the true
class (output="true_class") or the margin f_true − max_{c ≠ true} f_c (output="margin"). With one output
both use f itself (flipping the sign of a test point's outputs leaves its ρ unchanged).

Spearman's ρ is unchanged by adding a constant to, or multiplying by a positive constant, every
prediction of one test point: a common positive rescaling of the effects leaves LDS unchanged, so the
IHVP effects (λQ_ii × exact, §5) differ from the exact ones in LDS only through the variation of λQ_ii.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from .._checks import check_float, check_int
from ..influence import NTKInfluence
from ..results import Progress, no_progress

OUTPUTS = ("true_class", "margin")


@dataclass(frozen=True)
class LdsResult:
    """Per test point (m,) Spearman ρ over the M subsets (NaN where the actual or the predicted outputs are
    all equal), their mean over the defined points, the subsets (M, ⌊αn⌋) as sorted training indices, the
    actual retrained outputs f_{S_j}(x) (m, M) and the additive predictions g_{S_j}(x) (m, M), reduced to
    one number per test point as `output` says."""
    lds: np.ndarray
    mean: float
    subsets: np.ndarray
    actual: np.ndarray
    predicted: np.ndarray
    output: str


def lds(model: NTKInfluence, X_test, y_test, effects, *, n_subsets: int = 100, alpha: float = 0.5, seed: int = 0,
        output: str = "true_class", progress: Progress | None = None) -> LdsResult:
    """LDS of `effects` (m, n), Δ_i f(x) for test point x and removed training point i in the reduced
    output (see exact_loo_effects, ihvp_effects), for a fitted NTKInfluence. X_test (m, d), y_test (m,) or
    (m, C) (for C > 1 one-hot: the true class is the largest entry). n_subsets M ≥ 2, alpha in (0, 1),
    seed ≥ 0 fixes the subsets; progress(fraction, message) is called after each subset."""
    return lds_many(model, X_test, y_test, {"effects": effects}, n_subsets=n_subsets, alpha=alpha, seed=seed,
                    output=output, progress=progress)["effects"]


def lds_many(model: NTKInfluence, X_test, y_test, effects: dict, *, n_subsets: int = 100, alpha: float = 0.5,
             seed: int = 0, output: str = "true_class", progress: Progress | None = None) -> dict[str, LdsResult]:
    """lds for several methods at once, {name: effects (m, n)} -> {name: LdsResult}: the same subsets and
    one set of refits for all of them (the refits are most of the work)."""
    progress = progress or no_progress
    n_subsets = check_int(n_subsets, "n_subsets", min_val=2)
    alpha = check_float(alpha, "alpha", min_val=0, max_val=1, include_boundaries="neither")
    seed = check_int(seed, "seed", min_val=0)
    Xt = model.check_inputs(X_test)
    true = _true_class(model, y_test, Xt.shape[0], output)
    n, m = model.n_train_, Xt.shape[0]
    effects = {name: _check_effects(value, m, n, name) for name, value in effects.items()}
    size = int(np.floor(alpha * n))
    if size < 1:
        raise ValueError(f"alpha · n must be at least 1 so that each subset keeps a point; got alpha = {alpha:g}, "
                         f"n = {n}")
    rng = np.random.default_rng(seed)
    subsets = np.stack([np.sort(rng.choice(n, size=size, replace=False)) for _ in range(n_subsets)])

    K = torch.cat(list(model.kernel_blocks(Xt)))  # (m, n)
    actual = np.empty((m, n_subsets))
    for j, S in enumerate(subsets):
        actual[:, j] = _reduce(model.to_output(_subset_predictions(model, K, S)), true, output)
        progress((j + 1) / n_subsets, f"Refit on subset {j + 1} of {n_subsets}")
    removed = np.ones((n, n_subsets))
    removed[subsets.T, np.arange(n_subsets)] = 0.0  # column j: 1 for i ∉ S_j
    f = _reduce(model.predict(Xt), true, output)
    results = {}
    for name, value in effects.items():
        predicted = f[:, None] + value @ removed
        scores = spearman_rows(actual, predicted)
        defined = scores[~np.isnan(scores)]
        results[name] = LdsResult(lds=scores, mean=float(defined.mean()) if defined.size else float("nan"),
                                  subsets=subsets, actual=actual, predicted=predicted, output=output)
    return results


def exact_loo_effects(model: NTKInfluence, X_test, y_test, output: str = "true_class") -> np.ndarray:
    """Exact leave-one-out effects Δ_i f(x) = r(f⁻ⁱ(x)) − r(f(x)) in the reduced output r. (m, n)."""
    return _effects(model, X_test, y_test, output, scale=None)


def ihvp_effects(model: NTKInfluence, X_test, y_test, output: str = "true_class") -> np.ndarray:
    """Koh & Liang's IHVP effects r(f(x) + λQ_ii (f⁻ⁱ(x) − f(x))) − r(f(x)) (theory §5: the IHVP output change
    is λQ_ii times the exact one); for output="true_class" this is λQ_ii times exact_loo_effects. (m, n)."""
    return _effects(model, X_test, y_test, output, scale=1.0 - model.ihvp_error())


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's ρ between the rows of a and b (m, M): Pearson's r of the ranks (ties get their average
    rank, as in scipy.stats.spearmanr). NaN for a row whose a or b is constant. (m,)."""
    ra, rb = (rankdata(v, axis=1) for v in (a, b))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.sum(ra * ra, axis=1) * np.sum(rb * rb, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(ra * rb, axis=1) / denom, np.nan)


# ------------------------------------------------------------------------------------ internals
def _subset_predictions(model: NTKInfluence, K: torch.Tensor, S: np.ndarray) -> torch.Tensor:
    """Kernel ridge regression on the training points S, evaluated at the test rows of K (m, n): (m, C)."""
    idx = torch.as_tensor(S, device=K.device)
    A = model.kernel_train_[idx[:, None], idx]  # a copy
    A.diagonal().add_(model.reg_)
    L, info = torch.linalg.cholesky_ex(A)
    if int(info) != 0:
        raise ValueError(f"H[S, S] + λI is not numerically positive definite at λ = {model.reg_:g}; increase λ")
    return K[:, idx] @ torch.cholesky_solve(model.y_train_[idx], L)


def _effects(model: NTKInfluence, X_test, y_test, output: str, scale) -> np.ndarray:
    Xt = model.check_inputs(X_test)
    true = _true_class(model, y_test, Xt.shape[0], output)
    f = model.predict(Xt).reshape(Xt.shape[0], 1, -1)  # (m, 1, C)
    loo = model.loo_predictions(Xt).reshape(Xt.shape[0], model.n_train_, -1)  # (m, n, C)
    changed = loo if scale is None else f + (loo - f) * scale[None, :, None]
    return _reduce(changed, true[:, None], output) - _reduce(f, true[:, None], output)


def _true_class(model: NTKInfluence, y_test, m: int, output: str) -> np.ndarray:
    """The true class index per test point (m,) (0 with one output), after checking output and y_test."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; got {output!r}")
    yt = model.check_targets(y_test, m)
    return torch.argmax(yt, dim=1).cpu().numpy()


def _reduce(values: np.ndarray, true: np.ndarray, output: str) -> np.ndarray:
    """Outputs (..., C) (or (...) for one output) -> the true class's output or the margin (...);
    `true` broadcasts against the leading axes."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == true.ndim:  # one output, already squeezed
        return values
    if values.shape[-1] == 1:
        return values[..., 0]
    own = np.take_along_axis(values, true[..., None], axis=-1)[..., 0]
    if output == "true_class":
        return own
    others = values.copy()
    np.put_along_axis(others, true[..., None], -np.inf, axis=-1)
    return own - others.max(axis=-1)


def _check_effects(effects, m: int, n: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(effects, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array of shape (m, n) = ({m}, {n}); could not read it") from None
    if arr.shape != (m, n):
        raise ValueError(f"{name} must have shape (m test points, n training points) = ({m}, {n}); "
                         f"got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr
