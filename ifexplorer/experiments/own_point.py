"""A new test point (the user's own image) explained like a test image: prediction, the training points that help and
hurt it most, and its place on the training-set map. Pure numpy / the engine; no Streamlit.

    answer = explain_new_point(model, features, n_classes=2)        # target = the predicted class
    xy = place_on_map(ds.X_train, embed(ds.X_train), features)      # (2,) on the same map

The influence of training point i on the new x needs a target y_x: the class the user says it is, or, when they
say nothing, the class the model predicts (then I(i, x) > 0 means i supports the model's own answer). Targets follow
theory §1: one output for two classes (class 1 is y = +1, class 0 is y = −1), one-hot y for C > 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.dataset import encode_targets
from ..results import TopInfluences, top_influences

NEIGHBOURS = 5  # a t-SNE map places a new point at the mean position of this many most similar training points


@dataclass(frozen=True)
class NewPointAnswer:
    """outputs: (C,) the model's outputs f(x) (one value for two classes); predicted: class index; target: the
    class whose loss the influence measures; influence: (n,) exact I(i, x) for every training point (> 0 = i
    helps x reach its target); top: the k most helpful and harmful of them."""
    outputs: np.ndarray
    predicted: int
    target: int
    influence: np.ndarray
    top: TopInfluences


def target_vector(target: int, n_classes: int) -> np.ndarray:
    """The training target of class index `target`: (1,) ±1 for two classes, (C,) one-hot for more."""
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < n_classes:
        raise ValueError(f"target must be a class index in 0..{n_classes - 1}; got {target!r}")
    encoded = encode_targets(np.array([int(target)]), n_classes)  # the dataset's own encoding
    return encoded if n_classes == 2 else encoded[0]


def predicted_class(outputs) -> int:
    """Class index of one point's outputs: f > 0 → 1 for one output, argmax for C."""
    outputs = np.atleast_1d(np.asarray(outputs, dtype=np.float64))
    return int(outputs[0] > 0) if outputs.size == 1 else int(np.argmax(outputs))


def explain_new_point(model, features, n_classes: int, target: int | None = None, k: int = 10) -> NewPointAnswer:
    """The answer for one new point features (d,) (preprocessed like the dataset, unit norm) of a fitted
    NTKInfluence with n_classes classes. target: the class index to explain, or None for the predicted class."""
    x = np.asarray(features, dtype=np.float64).reshape(1, -1)
    outputs = np.atleast_1d(np.asarray(model.predict(x))[0])
    predicted = predicted_class(outputs)
    target = predicted if target is None else target
    y = target_vector(target, n_classes).reshape(1, -1)
    influence = np.asarray(model.influence(x, y if n_classes > 2 else y[:, 0]))[0]
    return NewPointAnswer(outputs=outputs, predicted=predicted, target=int(target), influence=influence,
                          top=top_influences(influence, k))


def place_on_map(X_train, xy, x, method: str = "pca") -> np.ndarray:
    """Coordinates (2,) of a new point x (d,) on a map xy (n, 2) of the rows of X_train (n, d).

    "pca": exact. xy = (X − μ)V with V's columns the principal directions, and (X − μ)ᵀ xy_k = s_k² v_k, so
           v_k = (X − μ)ᵀ xy_k / ‖xy_k‖² and x lands at (x − μ)V — what PCA.transform(x) gives.
    "tsne": t-SNE has no map for new points; x lands at the mean position of its NEIGHBOURS most similar training
           points (largest xᵀx_i: the rows are unit norm, so cosine similarity).
    """
    X = np.asarray(X_train, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64).ravel()
    if X.ndim != 2 or xy.shape != (X.shape[0], 2) or x.shape != (X.shape[1],):
        raise ValueError(f"need X_train (n, d), xy (n, 2), x (d,); got {X.shape}, {xy.shape}, {x.shape}")
    if method == "pca":
        mean = X.mean(axis=0)
        norms = np.einsum("ij,ij->j", xy, xy)
        V = (X - mean).T @ xy / np.where(norms > 0, norms, 1.0)  # (d, 2); a zero column stays zero
        return (x - mean) @ V
    if method == "tsne":
        nearest = np.argsort(-(X @ x), kind="stable")[:NEIGHBOURS]
        return xy[nearest].mean(axis=0)
    raise ValueError(f"method must be 'pca' or 'tsne'; got {method!r}")
