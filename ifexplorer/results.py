"""Result types shared by the NTK model (influence.py) and its time views (dynamics.py)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._checks import check_int

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    pass


@dataclass(frozen=True)
class TopInfluences:
    """The k most helpful (largest I > 0) and most harmful (most negative I < 0) training points for
    one test point. Indices into the training set, scores in squared-loss units, sorted by |I|."""
    helpful: np.ndarray
    helpful_scores: np.ndarray
    harmful: np.ndarray
    harmful_scores: np.ndarray


@dataclass(frozen=True)
class ErrorBounds:
    """Theorem 3: λ_min/(λ+λ_min) ≤ 1 − λQ_ii ≤ λ_max/(λ+λ_max), from H's extreme eigenvalues."""
    lower: float
    upper: float
    eigenvalue_min: float
    eigenvalue_max: float


def top_influences(scores, k: int = 10) -> TopInfluences:
    """Split one test point's influence row (n,) into the k most helpful and k most harmful points."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    k = check_int(k, "k", min_val=1)
    order = np.argsort(-scores, kind="stable")
    helpful = order[:k]
    helpful = helpful[scores[helpful] > 0]
    harmful = order[::-1][:k]
    harmful = harmful[scores[harmful] < 0]
    return TopInfluences(helpful=helpful, helpful_scores=scores[helpful], harmful=harmful,
                         harmful_scores=scores[harmful])
