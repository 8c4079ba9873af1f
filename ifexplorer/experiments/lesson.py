"""Curated examples for the guided lesson, chosen by rule from a fitted model (deterministic: same data, same pick).

    i = misclassified_example(model.predict(ds.X_test), ds.labels_test, of_class=0)   # "a misclassified 7"
    j = flipped_example(model.self_influence(), ds.noisy_train)                      # the loudest flipped label
"""
from __future__ import annotations

import numpy as np

from .browse import score_test_points


def misclassified_example(outputs, labels, of_class: int) -> int | None:
    """The test index of true class of_class that the model gets wrong with the largest loss ½‖f − y‖² (the lowest
    index among ties), or None when every test image of that class is right. outputs (m,) or (m, C); labels (m,)."""
    scores = score_test_points(outputs, np.asarray(labels))
    wrong = np.flatnonzero((scores.labels == of_class) & ~scores.correct)
    if not wrong.size:
        return None
    return int(wrong[np.argmax(scores.loss[wrong])])  # argmax keeps the first of equal losses


def flipped_example(self_influence, noisy) -> int | None:
    """The flipped training point of largest self-influence (lowest index among ties), or None without flips."""
    si, noisy = np.asarray(self_influence, dtype=np.float64), np.asarray(noisy, dtype=bool)
    if si.shape != noisy.shape:
        raise ValueError(f"self_influence {si.shape} and noisy {noisy.shape} must have the same shape")
    flipped = np.flatnonzero(noisy)
    return None if not flipped.size else int(flipped[np.argmax(si[flipped])])


def share_flipped_among_top(self_influence, noisy, k: int) -> float:
    """Fraction of flipped labels among the k training points of largest self-influence (ties: lower index first)."""
    order = np.argsort(-np.asarray(self_influence, dtype=np.float64), kind="stable")[:k]
    return float(np.mean(np.asarray(noisy, dtype=bool)[order]))
