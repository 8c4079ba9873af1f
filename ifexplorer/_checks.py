"""Input checks in the spirit of scikit-learn's check_array and check_scalar: every message names the
argument, says what was expected and shows what arrived ("<name> must be <what>; got <repr>")."""
from __future__ import annotations

import math
import numbers
import operator
import reprlib

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


# ------------------------------------------------------------------------------------- scalars
# Every message reads "<name> must be <what>; got <repr>". Integer settings (counts, widths, iterations,
# seeds) take Python or numpy integers only: bool and floats such as 500.0 are refused alike.
# Real settings take any real number (int, float, numpy, 0-d array or tensor) but not bool or strings.
# `error` lets a caller raise its own ValueError subclass (the data loaders raise DataError).


def as_vector(a, name: str) -> np.ndarray:
    """A non-empty float64 array, flattened to 1-D (a curve's or a scatter's values; NaN allowed)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    return a


def check_int(value, name: str, *, min_val: int | None = None, max_val: int | None = None,
              allow_none: bool = False, error: type[ValueError] = ValueError) -> int | None:
    """An integer in [min_val, max_val] (a missing bound is open) as a Python int; None passes
    through when allow_none."""
    if value is None and allow_none:
        return None
    what = "an integer" + _interval(min_val, max_val, "both") + (" or None" if allow_none else "")
    try:
        v = None if _is_bool(value) else operator.index(value)
    except TypeError:
        v = None
    if v is None or (min_val is not None and v < min_val) or (max_val is not None and v > max_val):
        raise error(f"{name} must be {what}; got {_shown(value)}")
    return v


def check_depth(value) -> int:
    """The depth L of a ReLU network: an integer ≥ 1 (not a bool, not a float such as 2.0)."""
    return check_int(value, "depth", min_val=1)


def check_float(value, name: str, *, min_val: float | None = None, max_val: float | None = None,
                include_boundaries: str = "both", what: str | None = None,
                error: type[ValueError] = ValueError) -> float:
    """A finite real number within the bounds as a float. include_boundaries: "both", "left" (min_val
    only), "right" (max_val only) or "neither", as in scikit-learn's check_scalar. what: the expectation
    in the message (default: "a finite number" and the interval)."""
    if include_boundaries not in ("both", "left", "right", "neither"):
        raise ValueError(f"include_boundaries must be 'both', 'left', 'right' or 'neither'; got {include_boundaries!r}")
    lo_in, hi_in = include_boundaries in ("both", "left"), include_boundaries in ("both", "right")
    v = _real(value)
    ok = v is not None and math.isfinite(v)
    if ok and min_val is not None:
        ok = v >= min_val if lo_in else v > min_val
    if ok and max_val is not None:
        ok = v <= max_val if hi_in else v < max_val
    if not ok:
        what = what or "a finite number" + _interval(min_val, max_val, include_boundaries)
        raise error(f"{name} must be {what}; got {_shown(value)}")
    return v


def check_positive(value, name: str, *, error: type[ValueError] = ValueError) -> float:
    """A finite number > 0 (λ, κ, a step size, a scale)."""
    return check_float(value, name, min_val=0, include_boundaries="neither", what="a positive number", error=error)


def check_fraction(value, name: str, *, include_one: bool = False, error: type[ValueError] = ValueError) -> float:
    """A probability or share in [0, 1) — or [0, 1] with include_one."""
    return check_float(value, name, min_val=0, max_val=1, include_boundaries="both" if include_one else "left",
                       what=f"a fraction in [0, 1{']' if include_one else ')'}", error=error)


def check_nonnegative(value, name: str) -> float:
    """A finite number ≥ 0 (a tolerance, a damping)."""
    return check_float(value, name, min_val=0)


def check_tolerances(rtol, atol) -> tuple[float, float]:
    """Stopping tolerances: each finite and ≥ 0, not both 0 (the test could never pass)."""
    rtol, atol = check_nonnegative(rtol, "rtol"), check_nonnegative(atol, "atol")
    if rtol == atol == 0:
        raise ValueError(f"rtol and atol must not both be 0; got rtol={rtol!r}, atol={atol!r}")
    return rtol, atol


def check_time(t) -> float:
    """A training time t ∈ [0, ∞] as a float (inf = the fully trained model)."""
    if isinstance(t, (np.ndarray, torch.Tensor)) and t.ndim > 0:
        raise ValueError(f"t must be a single non-negative number; got {_shown(t)}")
    value = _real(t)
    if value is None:
        raise ValueError(f"t must be a non-negative number (float('inf') for the fully trained model); got {_shown(t)}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"t must be ≥ 0 (0 = untrained, float('inf') = fully trained); got {_shown(t)}")
    return value


def check_indices(indices, n: int, name: str = "indices", *, unique: bool = False,
                  error: type[ValueError] = ValueError) -> np.ndarray:
    """A non-empty 1-D array of integer indices into n items, all in [0, n) (and distinct when unique),
    as int64 (m,)."""
    try:
        idx = np.asarray(indices)
    except ValueError:  # ragged
        idx = np.asarray(None)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise error(f"{name} must be a non-empty 1-D array of integers; got {_shown(indices)}")
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise error(f"{name} must be integers in [0, {n}); got {int(bad[0])}")
    if unique:
        values, counts = np.unique(idx, return_counts=True)
        if (counts > 1).any():
            raise error(f"{name} must be unique; got {int(values[np.argmax(counts > 1)])} more than once")
    return idx.astype(np.int64)


def _is_bool(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype == np.bool_
    if isinstance(value, torch.Tensor):
        return value.dtype == torch.bool
    return isinstance(value, (bool, np.bool_))


def _real(value) -> float | None:
    """value as a float when it is one real number (not bool or text), else None."""
    if _is_bool(value) or isinstance(value, (str, bytes)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.number) \
            and not np.iscomplexobj(value):
        return float(value)
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.dtype.is_complex:
        return float(value)
    return None


def _interval(min_val, max_val, include_boundaries: str) -> str:
    """The bounds as text: ' ≥ 1', ' < 2', ' in [0, 1)', or '' when there are none."""
    lo_in, hi_in = include_boundaries in ("both", "left"), include_boundaries in ("both", "right")
    lo, hi = (f"{v:g}" if isinstance(v, float) else v for v in (min_val, max_val))
    if min_val is None and max_val is None:
        return ""
    if max_val is None:
        return f" {'≥' if lo_in else '>'} {lo}"
    if min_val is None:
        return f" {'≤' if hi_in else '<'} {hi}"
    return f" in {'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = 6


def _shown(value) -> str:
    """A short repr for the "got …" part of a message (long strings, lists and arrays are cut)."""
    return _REPR.repr(value)


# ------------------------------------------------------------------------------------ internals
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
