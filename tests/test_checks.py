"""The shared input checks (ifexplorer._checks) and their one message style:
"<name> must be <what>; got <repr>"."""
import math
import re

import numpy as np
import pytest
import torch

from ifexplorer import DataError, NTKInfluence, load_dataset, top_influences
from ifexplorer._checks import (
    check_float,
    check_fraction,
    check_indices,
    check_int,
    check_nonnegative,
    check_positive,
    check_time,
    check_tolerances,
)
from ifexplorer.density import log_density

STYLE = re.compile(r"^\S.* must (be|not) .+; got .+$")


def _message(fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as err:
        fn(*args, **kwargs)
    text = str(err.value)
    assert STYLE.match(text), text
    return text


# ------------------------------------------------------------------------------------ integers
@pytest.mark.parametrize("value", [0, 7, np.int64(7), np.int32(3), np.uint8(2), torch.tensor(4), np.array(5)])
def test_check_int_accepts_python_numpy_and_0d_integers(value):
    out = check_int(value, "n", min_val=0)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [500.0, np.float64(3.0), 2.5, True, np.bool_(False), "3", None, [3], 3 + 0j,
                                   torch.tensor(2.0), np.array([1])])
def test_check_int_refuses_bool_floats_even_integral_ones_and_non_numbers(value):
    text = _message(check_int, value, "max_steps", min_val=1)
    assert text.startswith("max_steps must be an integer ≥ 1; got ")


def test_check_int_bounds_and_none():
    assert _message(check_int, 0, "k", min_val=1, max_val=5) == "k must be an integer in [1, 5]; got 0"
    assert _message(check_int, 6, "k", min_val=1, max_val=5) == "k must be an integer in [1, 5]; got 6"
    assert _message(check_int, 11, "k", max_val=10) == "k must be an integer ≤ 10; got 11"
    assert check_int(1, "k", min_val=1, max_val=1) == 1
    assert check_int(None, "chunk_size", min_val=1, allow_none=True) is None
    assert _message(check_int, 0, "chunk_size", min_val=1, allow_none=True) == \
        "chunk_size must be an integer ≥ 1 or None; got 0"
    assert _message(check_int, None, "n", min_val=1) == "n must be an integer ≥ 1; got None"


def test_the_error_class_can_be_the_callers():
    with pytest.raises(DataError, match="seed must be an integer ≥ 0; got -1"):
        check_int(-1, "seed", min_val=0, error=DataError)
    with pytest.raises(DataError, match=r"label_noise must be a fraction in \[0, 1\); got 1.0"):
        check_fraction(1.0, "label_noise", error=DataError)
    with pytest.raises(DataError, match="indices"):
        check_indices([5], 3, error=DataError)


# ------------------------------------------------------------------------------------ reals
@pytest.mark.parametrize("value", [0.25, 1, np.float32(0.5), np.int64(2), np.array(0.75), torch.tensor(0.5)])
def test_check_float_accepts_any_real_number(value):
    out = check_float(value, "x")
    assert out == pytest.approx(float(value)) and type(out) is float


@pytest.mark.parametrize("value", [True, np.bool_(True), "0.5", None, [0.5], 1j, float("nan"), float("inf"),
                                   -float("inf"), np.array([0.5]), torch.tensor([0.5])])
def test_check_float_refuses_bool_text_arrays_and_non_finite(value):
    assert _message(check_float, value, "x").startswith("x must be a finite number; got ")


def test_check_float_boundaries_as_in_scikit_learn():
    assert check_float(0, "x", min_val=0, max_val=1) == 0.0 and check_float(1, "x", min_val=0, max_val=1) == 1.0
    assert _message(check_float, 0, "x", min_val=0, max_val=1, include_boundaries="right") == \
        "x must be a finite number in (0, 1]; got 0"
    assert _message(check_float, 1, "x", min_val=0, max_val=1, include_boundaries="left") == \
        "x must be a finite number in [0, 1); got 1"
    assert _message(check_float, 1.5, "x", min_val=0.5, max_val=1.5, include_boundaries="neither") == \
        "x must be a finite number in (0.5, 1.5); got 1.5"
    assert _message(check_float, -0.1, "x", min_val=0) == "x must be a finite number ≥ 0; got -0.1"
    assert _message(check_float, 3, "x", max_val=2, include_boundaries="neither") == \
        "x must be a finite number < 2; got 3"
    assert _message(check_float, 3, "x", max_val=2, what="small") == "x must be small; got 3"
    with pytest.raises(ValueError, match="include_boundaries"):
        check_float(1, "x", min_val=0, include_boundaries="open")


@pytest.mark.parametrize("value", [True, False, 0, 0.0, -1e-300, -2, float("nan"), float("inf"), "1", None])
def test_check_positive_refuses(value):
    assert _message(check_positive, value, "reg (λ)") == f"reg (λ) must be a positive number; got {value!r}"


def test_check_positive_accepts_tiny_and_numpy_values():
    assert check_positive(1e-300, "reg") == 1e-300 and check_positive(np.float32(2), "reg") == 2.0


def test_ntk_influence_refuses_a_bool_regularisation():
    with pytest.raises(ValueError, match=r"^reg \(λ\) must be a positive number; got True$"):
        NTKInfluence(reg=True).fit(np.eye(3) + 0.1, np.ones(3))


def test_check_fraction_half_open_and_closed():
    assert check_fraction(0, "p") == 0.0 and check_fraction(0.999, "p") == 0.999
    assert _message(check_fraction, 1, "p") == "p must be a fraction in [0, 1); got 1"
    assert check_fraction(1, "share", include_one=True) == 1.0
    assert _message(check_fraction, -0.01, "share", include_one=True) == "share must be a fraction in [0, 1]; got -0.01"
    assert _message(check_fraction, True, "p") == "p must be a fraction in [0, 1); got True"


def test_tolerances():
    assert check_nonnegative(0, "tol") == 0.0
    assert _message(check_nonnegative, -1e-9, "damping") == "damping must be a finite number ≥ 0; got -1e-09"
    assert check_tolerances(0, 1e-12) == (0.0, 1e-12) and check_tolerances(1e-8, 0) == (1e-8, 0.0)
    assert _message(check_tolerances, float("nan"), 1e-12) == "rtol must be a finite number ≥ 0; got nan"
    assert _message(check_tolerances, 1e-8, "x") == "atol must be a finite number ≥ 0; got 'x'"
    assert _message(check_tolerances, 0, 0.0) == "rtol and atol must not both be 0; got rtol=0.0, atol=0.0"


# ------------------------------------------------------------------------------------ times
def test_check_time():
    assert check_time(0) == 0.0 and check_time(np.float32(2.5)) == 2.5 and math.isinf(check_time(math.inf))
    assert check_time(torch.tensor(3.0)) == 3.0 and check_time(np.array(1.5)) == 1.5
    for bad in (-1.0, float("nan"), -math.inf):
        assert _message(check_time, bad).startswith("t must be ≥ 0")
    for bad in ("1.0", None, True, 1j, [1.0]):
        assert _message(check_time, bad).startswith("t must be a non-negative number")
    assert _message(check_time, np.array([1.0, 2.0])).startswith("t must be a single non-negative number")


def test_check_time_is_the_one_dynamics_uses():
    from ifexplorer import dynamics

    assert dynamics.check_time is check_time


# ------------------------------------------------------------------------------------ indices
def test_check_indices():
    out = check_indices([3, 0, 2], 4)
    assert out.dtype == np.int64 and out.tolist() == [3, 0, 2]
    assert check_indices(np.array([1, 1], dtype=np.int32), 2).tolist() == [1, 1]  # repeats allowed unless unique
    assert _message(check_indices, [0, 4], 4) == "indices must be integers in [0, 4); got 4"
    assert _message(check_indices, [-1], 4, "rows") == "rows must be integers in [0, 4); got -1"
    assert _message(check_indices, [2, 1, 2], 4, unique=True) == "indices must be unique; got 2 more than once"
    for bad in ([], [1.0], [True, False], [[0, 1]], "01", [[0], [1, 2]]):
        assert _message(check_indices, bad, 4).startswith("indices must be a non-empty 1-D array of integers; got ")


def test_long_values_are_shown_cut():
    text = _message(check_indices, list(range(10_000)) + [0.5], 10)
    assert len(text) < 150 and "..." in text
    assert len(_message(check_int, "x" * 1000, "n")) < 120


# ------------------------------------------------------------------------------------ callers
@pytest.mark.parametrize("kwargs, message", [
    (dict(n_train=20.0), "n_train must be an integer ≥ 1 or None; got 20.0"),
    (dict(n_test=True), "n_test must be an integer ≥ 1 or None; got True"),
    (dict(seed=1.0), "seed must be an integer ≥ 0; got 1.0"),
    (dict(label_noise=True), "label_noise must be a fraction in [0, 1); got True"),
    (dict(label_noise="0.1"), "label_noise must be a fraction in [0, 1); got '0.1'"),
])
def test_dataset_sizes_seed_and_noise_use_the_shared_checks(kwargs, message):
    with pytest.raises(DataError) as err:
        load_dataset("iris", **kwargs)
    assert str(err.value) == message


def test_mixture_options_use_the_shared_checks():
    with pytest.raises(DataError, match="mixture: n_components must be an integer ≥ 1; got 4.0"):
        load_dataset("mixture", n_components=4.0)
    with pytest.raises(DataError, match="mixture: n_train must be an integer ≥ 2; got 1"):
        load_dataset("mixture", n_train=1)


def test_top_influences_and_density_counts_are_integers():
    with pytest.raises(ValueError, match="k must be an integer ≥ 1; got 3.0"):
        top_influences(np.arange(5.0), 3.0)
    assert top_influences(np.arange(-2.0, 3.0), np.int64(1)).helpful.tolist() == [4]
    X = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(ValueError, match="n_components must be an integer ≥ 1; got 2.0"):
        log_density(X, n_components=2.0)
    with pytest.raises(ValueError, match="bandwidth must be 'cv', 'scott' or a positive number; got 'silverman'"):
        log_density(X, bandwidth="silverman")
    with pytest.raises(ValueError, match="bandwidth must be 'cv', 'scott' or a positive number; got True"):
        log_density(X, bandwidth=True)
