"""Input checks in the spirit of scikit-learn's check_array: say what was expected and what arrived."""
from __future__ import annotations

import numpy as np
import torch


def as_matrix(X, name: str, device: torch.device, dtype: torch.dtype, *, nonzero_rows: bool = True) -> torch.Tensor:
    """Return X as a finite 2-D tensor (m, d) on device; a single 1-D sample becomes (1, d)."""
    arr = _to_numpy_or_tensor(X, name)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got an array with shape {tuple(arr.shape)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(arr.shape)}")
    t = torch.as_tensor(arr).to(device=device, dtype=dtype)
    _check_finite(t, name)
    if nonzero_rows:
        norms = torch.linalg.vector_norm(t, dim=1)
        zero = torch.nonzero(norms == 0).flatten()
        if len(zero):
            raise ValueError(
                f"{name} has {len(zero)} all-zero row(s) (first: row {int(zero[0])}); the NTK angle is "
                "undefined for a zero input — drop or perturb them"
            )
    return t


def as_targets(y, n: int, name: str, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, bool]:
    """Return y as (n, C) tensor and whether it was 1-D; y may be (n,) or (n, C)."""
    arr = _to_numpy_or_tensor(y, name)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be (n,) or (n, C); got shape {tuple(arr.shape)}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the inputs have {n}; they must match")
    squeeze = arr.ndim == 1
    t = torch.as_tensor(arr).to(device=device, dtype=dtype)
    if squeeze:
        t = t.reshape(-1, 1)
    _check_finite(t, name)
    return t, squeeze


def check_positive(value, name: str) -> float:
    """A finite, strictly positive float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number; got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return v


def check_depth(value) -> int:
    """An integer ≥ 1 (not a bool, not a float such as 2.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"depth must be an integer ≥ 1; got {value!r}")
    return int(value)


def _to_numpy_or_tensor(X, name):
    if isinstance(X, torch.Tensor):
        return X.detach()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric; got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real; got complex dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)  # also mends negative strides (X[::-1]) for torch


def _check_finite(t: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        rows = torch.nonzero(bad.reshape(t.shape[0], -1).any(dim=1)).flatten()
        raise ValueError(f"{name} contains NaN or inf in {len(rows)} row(s) (first: row {int(rows[0])})")
