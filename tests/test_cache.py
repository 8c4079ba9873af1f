"""ifexplorer.cache: byte accounting, the budget setting, LRU eviction, pins, and per-key computation with threads."""
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ifexplorer import NTKInfluence
from ifexplorer.cache import BUDGET_ENV, ResultStore, budget_from_env, nbytes, parse_budget

KB = 1000


def _array(n_bytes: int) -> np.ndarray:
    return np.zeros(n_bytes, dtype=np.uint8)


# ------------------------------------------------------------------------------------------------ nbytes
@dataclass
class _Holder:
    a: object
    b: object = None


class _Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y


def test_nbytes_counts_each_buffer_once_through_containers_attributes_and_slots():
    a = np.ones((100, 10))          # 8,000 bytes
    t = torch.ones(50, dtype=torch.float64)  # 400 bytes
    assert nbytes(a) == 8000 and nbytes(t) == 400
    assert nbytes([a, a[::2], a.T, {"k": a[3]}]) == 8000  # views keep (and count) their base once
    assert nbytes((t, t[10:], t.view(5, 10))) == 400
    shared = torch.zeros(25, dtype=torch.float64)
    assert nbytes([shared, shared.numpy()]) == 200  # numpy over the tensor's memory
    holder = _Holder(_Slotted(a, [t, b"x" * 30]), {"y": np.zeros(3, dtype=np.int32)})
    assert nbytes(holder) == 8000 + 400 + 30 + 12
    assert nbytes(_Holder(weakref.ref(holder), lambda: a)) == 0  # weak references and functions are not followed
    store = ResultStore(10**6)
    store.get("a", lambda: a)
    assert nbytes(_Holder(store)) == 0  # a store's results are its own entries
    cycle = [a]
    cycle.append(cycle)
    assert nbytes(cycle) == 8000


def test_nbytes_with_seen_leaves_out_what_was_counted_elsewhere():
    a, b = np.ones(1000), np.ones(10)
    seen = set()
    assert nbytes(a, seen) == 8000
    assert nbytes([a[:5], b], seen) == 80  # the view of a was counted already


def test_nbytes_of_a_model_is_its_tensors_and_grows_by_its_eigendecomposition():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), np.sign(rng.normal(size=60))
    model = NTKInfluence(reg=0.1, device="cpu").fit(X, y)
    tensors = [v for v in vars(model).values() if isinstance(v, torch.Tensor)]
    reference = sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}.values())
    assert 60 * 60 * 8 <= reference < 2 * 60 * 60 * 8  # W, the one n × n array a fit keeps (H is not kept)
    assert nbytes(model) == reference
    mu, V = model.eigendecomposition()
    assert nbytes(model) == reference + mu.untyped_storage().nbytes() + V.untyped_storage().nbytes()


# ------------------------------------------------------------------------------------------------ budget
@pytest.mark.parametrize("text, expected", [("8GB", 8 * 10**9), ("512MiB", 512 * 2**20), (" 1.5 g ", 1.5e9),
                                            ("2e9", 2e9), ("3000", 3000), ("0.4", 400), ("1", 1000), (".25", 250)])
def test_budgets_are_sizes_or_fractions_of_the_available_memory(text, expected):
    assert parse_budget(text, available=1000) == int(expected)


@pytest.mark.parametrize("text", ["lots", "8 parsecs", "-1GB", "0", "GB", "1.2.3"])
def test_a_bad_budget_names_the_setting_and_what_it_expects(text):
    with pytest.raises(ValueError, match=BUDGET_ENV):
        parse_budget(text, available=1000)


def test_the_default_budget_is_half_the_available_memory_and_a_bad_setting_falls_back_to_it():
    assert budget_from_env({}, available=10_000) == (5000, None)
    assert budget_from_env({BUDGET_ENV: "2kB"}, available=10_000) == (2000, None)
    budget, problem = budget_from_env({BUDGET_ENV: "much"}, available=10_000)
    assert budget == 5000 and BUDGET_ENV in problem and "'much'" in problem


# ------------------------------------------------------------------------------------------------ eviction
def test_least_recently_used_results_are_dropped_first():
    told = []
    store = ResultStore(3 * KB, on_evict=told.append)
    for key in "abc":
        store.get(key, lambda: _array(KB), label=f"result {key}")
    store.get("a", lambda: pytest.fail("a is stored"))  # a is now the most recently used
    store.get("d", lambda: _array(KB))
    assert store.stored_keys() == ["c", "a", "d"]
    store.get("e", lambda: _array(2 * KB))
    assert store.stored_keys() == ["d", "e"]
    assert [(e.key, e.label, e.nbytes) for e in store.evictions()] == [("b", "result b", KB), ("c", "result c", KB),
                                                                       ("a", "result a", KB)]
    assert store.usage().used == 3 * KB == nbytes([store.peek("d"), store.peek("e")])
    assert [e.key for e in store.evictions(after=2)] == ["a"] and store.evicted == 3 and told == store.evictions()


def test_pinned_results_survive_until_released_and_a_closed_owners_pins_lapse():
    alive = {"s1": True, "s2": True}
    store = ResultStore(2 * KB, is_alive=alive.get)
    store.get("mine", lambda: _array(KB), owner="s1")
    store.get("theirs", lambda: _array(KB), owner="s2")
    store.get("new", lambda: _array(KB))  # over budget, and both older results are in use
    assert store.stored_keys() == ["mine", "theirs", "new"] and store.usage().pinned == 2 * KB
    store.get("newer", lambda: _array(KB))
    assert "new" not in store.stored_keys() and {"mine", "theirs"} <= set(store.stored_keys())
    store.release("s1")  # releasing makes room at once
    assert "mine" not in store.stored_keys() and store.usage().used <= 2 * KB
    alive["s2"] = False
    store.get("last", lambda: _array(2 * KB))
    assert store.stored_keys() == ["last"]


def test_children_go_with_their_parent_a_pinned_child_keeps_it_and_shared_buffers_count_once():
    store = ResultStore(10 * KB)
    base = _array(4 * KB)
    store.get("model", lambda: {"weights": base}, label="model")
    store.get("view", lambda: base[: KB], parent="model")  # the parent's buffer: no extra bytes
    store.get("derived", lambda: _array(KB), parent="model", owner="s")
    assert store.usage().used == 5 * KB
    store.get("big", lambda: _array(6 * KB))  # needs the model's room, but a child of it is pinned
    assert {"model", "view", "derived", "big"} <= set(store.stored_keys())
    store.release("s")  # the least recently used that frees memory goes first: the parent was touched last
    assert store.stored_keys() == ["view", "model", "big"] and store.usage().used == 10 * KB
    store.get("more", lambda: _array(KB))
    assert store.stored_keys() == ["big", "more"]
    assert [(e.key, e.nbytes) for e in store.evictions()] == [("derived", KB), ("model", 4 * KB)]


def test_a_result_that_grows_in_place_is_measured_again():
    store = ResultStore(5 * KB)
    model = _Holder(_array(KB))
    store.get("model", lambda: model)
    store.get("other", lambda: _array(2 * KB))
    model.b = _array(3 * KB)  # e.g. the model caches its eigendecomposition
    store.remeasure("model")
    assert store.usage().used == 4 * KB and store.stored_keys() == ["model"]


def test_a_reservation_makes_room_before_the_computation_starts():
    store = ResultStore(4 * KB)
    store.get("old", lambda: _array(2 * KB))
    seen = []
    store.get("fit", lambda: seen.append(store.stored_keys()) or _array(KB), reserve=3 * KB)
    assert seen == [[]] and store.stored_keys() == ["fit"] and store.usage().reserved == 0


def test_discard_drops_a_result_without_calling_it_an_eviction():
    store = ResultStore(4 * KB)
    store.get("x", lambda: _array(KB))
    store.discard("x")
    assert store.peek("x") is None and store.evicted == 0 and store.usage().used == 0


# ------------------------------------------------------------------------------------------------ threads
def _in_threads(n, target):
    results, errors = [None] * n, []

    def run(k):
        try:
            results[k] = target(k)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results, errors


def test_two_different_keys_compute_at_the_same_time():
    store = ResultStore(10**9)
    both = threading.Barrier(2, timeout=10)  # passes only while both computations run at once

    def compute():
        both.wait()
        return _array(10)

    results, errors = _in_threads(2, lambda k: store.get(f"key{k}", compute))
    assert not errors and all(r is not None for r in results)


def test_one_key_under_eight_concurrent_requests_is_computed_once_and_waiters_see_its_progress():
    store = ResultStore(10**9, poll=0.01)
    calls, seen = [], []
    start = threading.Barrier(8, timeout=10)

    def compute():
        calls.append(1)
        for step in range(5):
            store.report("key", step / 5, f"step {step}")
            time.sleep(0.05)
        return _array(10)

    def ask(k):
        start.wait()
        return store.get("key", compute, label="the result", waiting=lambda *progress: seen.append(progress))

    results, errors = _in_threads(8, ask)
    assert not errors and len(calls) == 1
    assert all(r is results[0] for r in results)
    assert seen and {label for label, _, _ in seen} == {"the result"} and any(m.startswith("step") for *_, m in seen)


class _Interrupted(BaseException):
    """Stands in for Streamlit's RerunException (a BaseException, not an Exception)."""


def test_a_cancelled_computation_is_not_stored_and_a_waiter_computes_it_instead():
    store = ResultStore(10**9, poll=0.01)
    started, calls = threading.Event(), []

    def first():
        started.set()
        time.sleep(0.2)
        raise _Interrupted()

    def second():
        calls.append(1)
        return "value"

    def ask(k):
        if k == 0:
            return store.get("key", first)
        started.wait(10)
        return store.get("key", second)

    results, errors = _in_threads(2, ask)
    assert [type(e) for e in errors] == [_Interrupted] and results[1] == "value" and calls == [1]
    assert store.peek("key") == "value"


def test_a_failure_reaches_every_waiter_and_is_not_stored():
    store = ResultStore(10**9)
    started, calls = threading.Event(), []

    def fail():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        raise ValueError("bad input")

    def ask(k):
        if k:
            started.wait(10)
        return store.get("key", fail)

    _, errors = _in_threads(4, ask)
    assert len(calls) == 1 and len(errors) == 4 and all(str(e) == "bad input" for e in errors)
    assert store.peek("key") is None and not store.computing("key")


def test_a_waiter_that_gives_up_leaves_the_computation_alone():
    store = ResultStore(10**9, poll=0.01)
    release, started = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "done"

    def impatient(*progress):
        raise _Interrupted()

    def ask(k):
        if k == 0:
            return store.get("key", slow)
        started.wait(10)
        try:
            store.get("key", pytest.fail, waiting=impatient)
        finally:
            release.set()

    results, errors = _in_threads(2, ask)
    assert results[0] == "done" and [type(e) for e in errors] == [_Interrupted] and store.peek("key") == "done"
