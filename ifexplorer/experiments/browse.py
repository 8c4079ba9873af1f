"""Ranking, filtering and paging the test images for a test-image browser (pure numpy).

    scores = score_test_points(model.predict(ds.X_test), ds.labels_test)
    order = select_test_points(scores, sort="margin", misclassified=True)     # most wrong first
    shown = page(order, page_size=50, page_index=0)

Targets follow theory §1: one output f for two classes (class 1 is y = +1, class 0 is y = −1), one-hot y for C > 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SORT_KEYS = ("loss", "margin", "confidence", "index")
# default direction per key: the interesting images first (largest loss, most wrong, least confident)
_DESCENDING = {"loss": True, "margin": False, "confidence": False, "index": False}


@dataclass(frozen=True)
class TestPointScores:
    """Per test point (m,) each.

    loss:       ½‖f − y‖².
    margin:     signed distance to the decision boundary in output units: y·f for one output, f_true − max_other
                for C outputs; > 0 = right.
    confidence: |f| for one output, max_c f_c for C outputs (no softmax: the outputs are regression values).
    predicted:  predicted class index (f > 0 → 1 for one output, argmax for C).
    labels:     the true class index.
    correct:    margin > 0 for one output (f = 0 is wrong for both classes), predicted == label for C.
    """
    __test__ = False  # not a pytest test class, despite its name

    loss: np.ndarray
    margin: np.ndarray
    confidence: np.ndarray
    predicted: np.ndarray
    labels: np.ndarray
    correct: np.ndarray

    def __len__(self) -> int:
        return int(self.loss.shape[0])


def score_test_points(predictions, labels) -> TestPointScores:
    """Scores of the predictions f (m,) (two classes) or (m, C) against true class indices labels (m,)."""
    f = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels)
    if f.ndim not in (1, 2) or f.shape[0] == 0:
        raise ValueError(f"predictions must be (m,) or (m, C) with m ≥ 1; got shape {f.shape}")
    n_classes = 2 if f.ndim == 1 else f.shape[1]
    if labels.shape != (f.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices of shape ({f.shape[0]},); got {labels.dtype} "
                         f"{labels.shape}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be class indices in 0..{n_classes - 1}; got values in "
                         f"{labels.min()}..{labels.max()}")
    if f.ndim == 1:
        y = np.where(labels == 1, 1.0, -1.0)
        margin = y * f
        return TestPointScores(loss=0.5 * (f - y) ** 2, margin=margin, confidence=np.abs(f),
                               predicted=(f > 0).astype(np.int64), labels=labels, correct=margin > 0)
    rows = np.arange(f.shape[0])
    y = np.eye(n_classes)[labels]
    others = f.copy()
    others[rows, labels] = -np.inf
    predicted = f.argmax(axis=1)
    return TestPointScores(loss=0.5 * np.sum((f - y) ** 2, axis=1), margin=f[rows, labels] - others.max(axis=1),
                           confidence=f.max(axis=1), predicted=predicted, labels=labels, correct=predicted == labels)


def select_test_points(scores: TestPointScores, sort: str = "loss", descending: bool | None = None, *,
                       classes=None, misclassified: bool = False, least_confident: int | None = None) -> np.ndarray:
    """Test indices (int) after the filters, in sort order.

    Filters, in this order: classes (an iterable of true class indices, or None for all); misclassified (only
    the wrong ones); least_confident = k keeps the k lowest-confidence points among what is left.
    sort: one of SORT_KEYS; descending None = the key's default (loss: largest first; margin: most wrong first;
    confidence: least confident first; index: ascending). Ties keep index order.
    """
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {SORT_KEYS}; got {sort!r}")
    keep = np.arange(len(scores))
    if classes is not None:
        keep = keep[np.isin(scores.labels[keep], np.asarray(list(classes), dtype=np.int64))]
    if misclassified:
        keep = keep[~scores.correct[keep]]
    if least_confident is not None:
        k = _positive_int(least_confident, "least_confident")
        keep = np.sort(keep[np.argsort(scores.confidence[keep], kind="stable")[:k]])
    values = keep.astype(np.float64) if sort == "index" else getattr(scores, sort)[keep]
    if _DESCENDING[sort] if descending is None else descending:
        values = -values
    return keep[np.argsort(values, kind="stable")]


def page_count(count: int, page_size: int) -> int:
    """Pages of page_size needed for count items (0 for none)."""
    return -(-int(count) // _positive_int(page_size, "page_size"))


def page(indices, page_size: int, page_index: int) -> np.ndarray:
    """The page_index-th (from 0) slice of page_size indices; an empty array for page 0 of nothing."""
    indices = np.asarray(indices)
    pages = page_count(len(indices), page_size)
    if isinstance(page_index, bool) or not isinstance(page_index, (int, np.integer)) or not (
            0 <= page_index < max(pages, 1)):
        raise ValueError(f"page_index must be an integer in 0..{max(pages, 1) - 1}; got {page_index!r}")
    start = int(page_index) * int(page_size)
    return indices[start:start + int(page_size)]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1; got {value!r}")
    return int(value)
