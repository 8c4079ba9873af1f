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


@dataclass(frozen=True)
class TopInfluencesBatch:
    """top_influences for m test points at once: (m, k) arrays of training indices and influences,
    each row sorted by |I| (most helpful first; most harmful = most negative first). Where a test
    point has fewer than k helpful (I > 0) or harmful (I < 0) training points, the row is padded with
    index −1 and score NaN."""
    helpful: np.ndarray
    helpful_scores: np.ndarray
    harmful: np.ndarray
    harmful_scores: np.ndarray

    CSV_HEADER = ("test_index", "rank", "kind", "train_index", "score")

    @classmethod
    def empty(cls, m: int, k: int) -> TopInfluencesBatch:
        def index():
            return np.full((m, k), -1, dtype=np.int64)

        def score():
            return np.full((m, k), np.nan)

        return cls(index(), score(), index(), score())

    def fill(self, start: int, largest, smallest) -> None:
        """Write one block of rows from torch.topk results (values, indices) of the influence rows:
        largest (descending) and smallest (ascending); non-positive / non-negative ones are dropped."""
        for (values, indices), idx, sc, keep in ((largest, self.helpful, self.helpful_scores, np.greater),
                                                 (smallest, self.harmful, self.harmful_scores, np.less)):
            v, i = values.cpu().numpy(), indices.cpu().numpy()
            ok = keep(v, 0.0)
            rows = slice(start, start + v.shape[0])
            idx[rows, : v.shape[1]] = np.where(ok, i, -1)
            sc[rows, : v.shape[1]] = np.where(ok, v, np.nan)

    def __len__(self) -> int:
        return self.helpful.shape[0]

    def row(self, i: int) -> TopInfluences:
        """Test point i as a TopInfluences (padding removed)."""
        h, g = self.helpful[i] >= 0, self.harmful[i] >= 0
        return TopInfluences(self.helpful[i][h], self.helpful_scores[i][h],
                             self.harmful[i][g], self.harmful_scores[i][g])

    def to_csv(self, path_or_file) -> int:
        """Write one line per (test point, rank, kind): test_index, rank (1 = strongest), kind
        ("helpful" / "harmful"), train_index, score (exact influence). Padding is skipped. Returns the
        number of data lines. path_or_file: a path or an open text file."""
        import csv

        if not hasattr(path_or_file, "write"):
            with open(path_or_file, "w", newline="", encoding="utf-8") as fh:
                return self.to_csv(fh)
        writer = csv.writer(path_or_file)
        writer.writerow(self.CSV_HEADER)
        lines = 0
        for ti in range(len(self)):
            for kind, idx, sc in (("helpful", self.helpful[ti], self.helpful_scores[ti]),
                                  ("harmful", self.harmful[ti], self.harmful_scores[ti])):
                for rank in np.flatnonzero(idx >= 0).tolist():
                    writer.writerow((ti, rank + 1, kind, int(idx[rank]), repr(float(sc[rank]))))
                    lines += 1
        return lines
