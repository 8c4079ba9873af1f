"""Complexity of influence-ordered groups (the paper's eq. 19 and Figure 5).

For a group G of training points, C_G = yᵀQy − y₋Gᵀ(H₋G + λI)⁻¹y₋G, the RKHS-norm increment the
group contributes. By the block-inverse (Schur complement) identity C_G = α_Gᵀ (Q_GG)⁻¹ α_G,
summed over outputs; for a single point this is α_i²/Q_ii.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int
from ..influence import NTKInfluence
from ..linalg import inverse_block


@dataclass(frozen=True)
class GroupComplexity:
    """Groups 0 … G−1 from most harmful to most helpful (by the given scores).
    members: list of index arrays; complexity: (G,) C_G; mean_score: (G,) mean influence per group."""
    members: list
    complexity: np.ndarray
    mean_score: np.ndarray


def group_complexity(model: NTKInfluence, scores, n_groups: int = 10) -> GroupComplexity:
    """Sort training points by `scores` (n,) (e.g. influence summed over the test set), split them
    into n_groups of near-equal size, and compute each group's exact complexity C_G."""
    model.check_fitted()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.shape != (model.n_train_,):
        raise ValueError(f"scores must have one entry per training point ({model.n_train_}); got {scores.shape}")
    n_groups = check_int(n_groups, "n_groups", min_val=1, max_val=model.n_train_)
    members = np.array_split(np.argsort(scores, kind="stable"), n_groups)
    comp = np.array([_complexity_of(model, idx) for idx in members])
    return GroupComplexity(members=members, complexity=comp,
                           mean_score=np.array([scores[idx].mean() for idx in members]))


def _complexity_of(model: NTKInfluence, idx: np.ndarray) -> float:
    index = torch.as_tensor(idx, device=model.device_)
    q_block = inverse_block(model.inverse_factor_, index)  # Q_GG (g, g) = W_Gᵀ W_G
    alpha_g = model.alpha_[index]  # (g, C)
    return float((alpha_g * torch.linalg.solve(q_block, alpha_g)).sum())
