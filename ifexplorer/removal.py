"""The reverse view: what one training point does to the whole test set, and what removing it would change.

With q = Q e_i (one solve with the Cholesky factor, O(n²)) and, for every test x, d(x) = k(x)ᵀq / Q_ii (O(n)):

    f⁻ⁱ(x)  = f(x) − d(x) α_i                                  (exact retraining without point i)
    I(i, x) = d(x) (½ d(x) ‖α_i‖² − (f(x) − y_x)ᵀα_i)           (column i of the influence matrix)

so the whole test set costs O(m·n + n²) and the m × n influence matrix is never formed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .linalg import inverse_columns
from .results import top_influences


@dataclass(frozen=True)
class RemovalEffect:
    """Training point `index` seen from the test set. Scores in squared-loss units, > 0 = i helps that test point.

    influence:                   (m,) I(i, x) for every test point: column i of model.influence(X_test, y_test).
    helps, helps_scores:         the k test points i helps most (indices into the test set, largest I first).
    hurts, hurts_scores:         the k test points i hurts most (most negative I first).
    predictions_before / _after: (m,) or (m, C): f(X_test) and f⁻ⁱ(X_test), the model retrained without i.
    loss_before / _after:        mean ½‖f − y‖² over the test set (loss_after − loss_before = mean influence).
    accuracy_before / _after:    fraction of test points right: f·y > 0 for one output, argmax for C outputs.
    became_correct / _wrong:     test indices that removing i would fix / break.
    """

    index: int
    influence: np.ndarray
    helps: np.ndarray
    helps_scores: np.ndarray
    hurts: np.ndarray
    hurts_scores: np.ndarray
    predictions_before: np.ndarray
    predictions_after: np.ndarray
    loss_before: float
    loss_after: float
    accuracy_before: float
    accuracy_after: float
    became_correct: np.ndarray
    became_wrong: np.ndarray


def removal_effect(model, i, X_test, y_test, k: int = 10) -> RemovalEffect:
    """RemovalEffect of training point i (0 ≤ i < n) on the test set X_test (m, d), y_test (m,) or (m, C), for a
    fitted NTKInfluence `model`; k = how many most-helped and most-hurt test points to list."""
    Xt = model.check_inputs(X_test)
    yt = model.check_targets(y_test, Xt.shape[0])
    i = _check_index(i, model.n_train_)
    q = inverse_columns(model.inverse_factor_, [i])  # Q e_i (n, 1), Q = (H + λI)⁻¹ = WᵀW
    alpha_i = model.alpha_[i]  # (C,)
    f = torch.empty_like(yt)
    d = torch.empty((Xt.shape[0], 1), dtype=model.dtype_, device=model.device_)
    start = 0
    for K in model.kernel_blocks(Xt):
        rows = slice(start, start + K.shape[0])
        f[rows], d[rows] = K @ model.alpha_, (K @ q) / model.q_diag_[i]
        start += K.shape[0]
    f_after = f - d * alpha_i
    influence = d[:, 0] * (0.5 * d[:, 0] * alpha_i.square().sum() - (f - yt) @ alpha_i)
    right_before, right_after = _correct(f, yt), _correct(f_after, yt)
    top = top_influences(influence.cpu().numpy(), k)
    return RemovalEffect(
        index=i, influence=influence.cpu().numpy(),
        helps=top.helpful, helps_scores=top.helpful_scores, hurts=top.harmful, hurts_scores=top.harmful_scores,
        predictions_before=model.to_output(f), predictions_after=model.to_output(f_after),
        loss_before=_mean_loss(f, yt), loss_after=_mean_loss(f_after, yt),
        accuracy_before=float(right_before.mean()), accuracy_after=float(right_after.mean()),
        became_correct=np.flatnonzero(~right_before & right_after),
        became_wrong=np.flatnonzero(right_before & ~right_after),
    )


def _check_index(i, n: int) -> int:
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < n:
        raise ValueError(f"training index i must be an integer in 0..{n - 1}; got {i!r}")
    return int(i)


def _correct(f: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(m,) bool: f·y > 0 for one output (±1 targets), argmax f = argmax y for C outputs."""
    right = (f[:, 0] * y[:, 0] > 0) if y.shape[1] == 1 else (f.argmax(dim=1) == y.argmax(dim=1))
    return right.cpu().numpy()


def _mean_loss(f: torch.Tensor, y: torch.Tensor) -> float:
    return float(0.5 * (f - y).square().sum(dim=1).mean())
