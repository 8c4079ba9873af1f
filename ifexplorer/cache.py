"""A memory budget for computed results, shared by every thread of a process (no torch, no Streamlit).

`ResultStore` keeps computed values by key and measures each in bytes (`nbytes`: the tensor storages and
array buffers reachable from it). When a new result would take the total over the budget, the least recently
used results are dropped first. A result in use is never dropped: whoever gets a result may *pin* it under an
owner name (the app uses the browser session), and pins last until `release(owner)` or until `is_alive(owner)`
turns false. Each key has its own in-flight record, so threads asking for different keys compute at the same
time, and threads asking for the same key compute it once: the later ones wait for the first (and may watch its
progress); if the first is cancelled (a BaseException that is not an Exception, e.g. Streamlit's rerun), one of
them computes it instead; if it fails with an Exception, they all see that exception.

A result may name a *parent* (a fitted model, for the arrays derived from it): dropping the parent drops its
children, a pinned child keeps its parent, and a child's bytes exclude the buffers its parent already holds
(the parent is measured again, first, because models grow caches in place).
"""
from __future__ import annotations

import os
import re
import threading
import types
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ifexplorer.memory import host_available_bytes

BUDGET_ENV = "IFEXPLORER_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.5  # of the memory available when the store is created

# --------------------------------------------------------------------------------------------- measuring
_SKIP = (str, int, float, complex, bool, type(None), type, types.ModuleType, types.FunctionType,
         types.BuiltinFunctionType, types.MethodType, weakref.ref, weakref.ProxyType, weakref.CallableProxyType)


def nbytes(obj: Any, seen: set | None = None, limit: int = 1_000_000) -> int:
    """Bytes of the tensor storages, array buffers and bytes objects reachable from `obj` through containers,
    attributes and slots, each buffer counted once (a view counts its whole base buffer; weak references,
    functions, modules, classes and result stores, whose entries are measured on their own, are not followed).
    `seen`: buffer addresses already counted (updated in place), so that a result can be measured without what
    another one holds. The walk stops after `limit` objects (Python objects themselves are not counted: results
    here are arrays)."""
    seen = set() if seen is None else seen
    visited: set[int] = set()
    stack, total = [obj], 0
    while stack and len(visited) < limit:
        o = stack.pop()
        if isinstance(o, (_SKIP, ResultStore)) or id(o) in visited:
            continue
        visited.add(id(o))
        buffer = _buffer(o)
        if buffer is not None:
            address, size = buffer
            if address not in seen:
                seen.add(address)
                total += size
            if isinstance(o, np.ndarray) and o.dtype == object:
                stack.extend(o.ravel().tolist())
            continue
        stack.extend(_children(o))
    return total


def _buffer(o) -> tuple[Hashable, int] | None:
    """(address, bytes) of the memory an array, tensor or bytes object keeps alive; None for anything else."""
    if isinstance(o, np.ndarray):
        while isinstance(o.base, np.ndarray):
            o = o.base
        return o.__array_interface__["data"][0] or ("array", id(o)), o.nbytes
    if type(o).__module__.split(".")[0] == "torch" and hasattr(o, "untyped_storage"):
        try:
            storage = o.untyped_storage()
            return storage.data_ptr() or ("tensor", id(o)), storage.nbytes()
        except (RuntimeError, NotImplementedError):  # sparse and other storage-less layouts
            return ("tensor", id(o)), o.element_size() * o.numel()
    if isinstance(o, (bytes, bytearray)):
        return ("bytes", id(o)), len(o)
    if isinstance(o, memoryview):
        return ("bytes", id(o)), o.nbytes
    return None


def _children(o) -> list:
    if isinstance(o, dict):
        return [*o.keys(), *o.values()]
    if isinstance(o, (list, tuple, set, frozenset, deque)):
        return list(o)
    out = list(vars(o).values()) if hasattr(o, "__dict__") else []
    for cls in type(o).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(o, name):
                out.append(getattr(o, name))
    return out


# ---------------------------------------------------------------------------------------------- the budget
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def parse_budget(text: str, available: int) -> int:
    """A budget in bytes from "8GB", "512 MiB", "2e9" (bytes) or a fraction of `available` bytes ("0.4";
    a number ≤ 1 without a unit is a fraction). Decimal units (kB, MB, GB, TB; the bare letters K, M, G, T) and
    binary ones (KiB, MiB, GiB, TiB). Raises ValueError naming $IFEXPLORER_MEMORY_BUDGET."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*([A-Za-z]*)\s*", str(text))
    unit = match[2].lower() if match else None
    if unit not in _UNITS:
        raise ValueError(f"{BUDGET_ENV}={text!r}: expected a size such as '8GB' or '512MiB', or a fraction of the "
                         "available memory such as '0.4'")
    value = float(match[1])
    if value <= 0:
        raise ValueError(f"{BUDGET_ENV}={text!r}: the budget must be positive")
    return int(value * available) if not unit and value <= 1 else int(value * _UNITS[unit])


def budget_from_env(environ=os.environ, available: int | None = None) -> tuple[int, str | None]:
    """(budget in bytes, problem): $IFEXPLORER_MEMORY_BUDGET if set and valid, else DEFAULT_FRACTION of the
    host's available memory; problem is the reason an invalid setting was ignored (else None)."""
    available = host_available_bytes() if available is None else available
    default = int(DEFAULT_FRACTION * available)
    text = environ.get(BUDGET_ENV, "").strip()
    if not text:
        return default, None
    try:
        return parse_budget(text, available), None
    except ValueError as exc:
        return default, f"{exc}; using {DEFAULT_FRACTION:.0%} of the available memory"


# ---------------------------------------------------------------------------------------------- the store
@dataclass(frozen=True)
class Eviction:
    """A result dropped to make room: its place in the order of drops (1, 2, …), key, label and bytes freed
    (its children included)."""
    number: int
    key: Any
    label: str
    nbytes: int


@dataclass(frozen=True)
class Usage:
    """Bytes: the budget, held by stored results, held by pinned results (in use), reserved for computations
    under way; entries: stored results."""
    budget: int
    used: int
    pinned: int
    reserved: int
    entries: int


class _Entry:
    __slots__ = ("value", "size", "label", "parent", "children", "pins", "addresses")

    def __init__(self, value, size: int, label: str, parent, addresses: set):
        self.value, self.size, self.label, self.parent, self.addresses = value, size, label, parent, addresses
        self.children: set = set()
        self.pins: set = set()


class _Flight:
    """A result being computed. Waiters block on `done`; `progress` is the computer's last (fraction, message)."""

    def __init__(self, label: str, reserve: int):
        self.label, self.reserve = label, reserve
        self.done = threading.Event()
        self.progress: tuple[float, str] = (0.0, "")
        self.value: Any = None
        self.error: Exception | None = None
        self.cancelled = False


Waiting = Callable[[str, float, str], None]  # (label, fraction, message), called while waiting for another thread


class ResultStore:
    """Computed results under a byte budget: LRU eviction, pins, one computation per key at a time.

    budget: bytes. is_alive(owner): False once an owner's pins should no longer count (a closed session).
    on_evict(eviction): called (under the store's lock: keep it short) after each drop to make room.
    poll: seconds between calls of a waiter's `waiting` callback."""

    def __init__(self, budget: int, *, is_alive: Callable[[Hashable], bool] | None = None,
                 on_evict: Callable[[Eviction], None] | None = None, poll: float = 0.2):
        self.budget = int(budget)
        self.poll = poll
        self._is_alive = is_alive or (lambda owner: True)
        self._on_evict = on_evict or (lambda eviction: None)
        self._lock = threading.Lock()  # guards the dicts below; never held while computing or measuring
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()  # least recently used first
        self._flights: dict[Hashable, _Flight] = {}
        self._owned: dict[Hashable, set] = {}  # owner -> keys it pins
        self._used = 0
        self._evictions: deque[Eviction] = deque(maxlen=100)
        self._evicted = 0

    # ------------------------------------------------------------------------------------- asking
    def get(self, key: Hashable, compute: Callable[[], Any], *, owner: Hashable | None = None,
            parent: Hashable | None = None, label: str | None = None, reserve: int = 0,
            waiting: Waiting | None = None) -> Any:
        """The value for key; on a miss compute() runs in this thread, once for all threads asking meanwhile.
        owner: pins the result for that owner. parent: the key this result derives from (see the module notes).
        label: what to call it in eviction notes. reserve: bytes to set aside while computing (make room first).
        waiting(label, fraction, message): called every `poll` s while another thread computes this key; an
        exception it raises (e.g. Streamlit's rerun) ends the wait, leaving the other computation alone."""
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._touch(key, entry, owner)
                    return entry.value
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight(label or str(key), int(reserve))
                    self._make_room(0, protect={parent})
                    break
            self._wait(flight, waiting)
            if flight.error is not None:
                raise flight.error
            if not flight.cancelled:
                with self._lock:
                    entry = self._entries.get(key)
                    if entry is not None and entry.value is flight.value:
                        self._touch(key, entry, owner)
                return flight.value
        return self._compute(key, flight, compute, owner, parent)

    def peek(self, key: Hashable) -> Any:
        """The stored value for key, or None; neither touches nor pins it."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry.value

    def report(self, key: Hashable, fraction: float, message: str) -> None:
        """Progress of the computation of key, for the threads waiting for it (a no-op when none is under way)."""
        flight = self._flights.get(key)
        if flight is not None:
            flight.progress = (float(fraction), str(message))

    def computing(self, key: Hashable) -> bool:
        return key in self._flights

    # ----------------------------------------------------------------------------------- managing
    def remeasure(self, key: Hashable) -> None:
        """Measure key's value again (it grew caches in place), then drop others if the budget is exceeded."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return
        size, addresses = self._measure(entry.value, set())
        with self._lock:
            if self._entries.get(key) is entry:
                self._used += size - entry.size
                entry.size, entry.addresses = size, addresses
                self._make_room(0, protect={key})

    def release(self, owner: Hashable) -> None:
        """Unpin everything `owner` pinned, then drop results if the budget is exceeded."""
        with self._lock:
            self._unpin(owner)
            self._make_room(0, protect=set())

    def discard(self, key: Hashable) -> None:
        """Drop key (and its children) now, e.g. a study stopped early that should be computed again."""
        with self._lock:
            if key in self._entries:
                self._drop(key)

    def usage(self) -> Usage:
        with self._lock:
            pinned = sum(e.size for e in self._entries.values() if self._pinned(e))
            reserved = sum(f.reserve for f in self._flights.values())
            return Usage(self.budget, self._used, pinned, reserved, len(self._entries))

    @property
    def evicted(self) -> int:
        """How many results have been dropped to make room so far."""
        return self._evicted

    def evictions(self, after: int = 0) -> list[Eviction]:
        """The drops numbered above `after` (the last 100 at most), oldest first."""
        with self._lock:
            return [e for e in self._evictions if e.number > after]

    def stored_keys(self) -> list:
        """Stored keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    # ------------------------------------------------------------------------------------ internals
    def _compute(self, key, flight: _Flight, compute, owner, parent):
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._flights[key]
            if isinstance(exc, Exception):
                flight.error = exc
            else:
                flight.cancelled = True
            flight.done.set()
            raise
        if parent is not None:
            self.remeasure(parent)  # first: the parent may have grown while computing this child
        with self._lock:
            holder = self._entries.get(parent) if parent is not None else None
            exclude = set(holder.addresses) if holder is not None else set()
        size, addresses = self._measure(value, exclude)
        with self._lock:
            del self._flights[key]
            entry = _Entry(value, size, flight.label, parent if holder is not None else None, addresses)
            self._entries[key] = entry
            self._used += size
            if holder is not None:
                holder.children.add(key)
            self._touch(key, entry, owner)
            self._make_room(0, protect={key, parent})
        flight.value = value
        flight.done.set()
        return value

    def _wait(self, flight: _Flight, waiting: Waiting | None) -> None:
        if waiting is None:
            flight.done.wait()
            return
        while not flight.done.is_set():
            waiting(flight.label, *flight.progress)
            flight.done.wait(self.poll)

    @staticmethod
    def _measure(value, exclude: set) -> tuple[int, set]:
        """(bytes not in `exclude`, every buffer address reachable); retried if another thread changed the value's
        containers during the walk."""
        for _ in range(5):
            seen = set(exclude)
            try:
                size = nbytes(value, seen)
            except RuntimeError:  # "dictionary changed size during iteration"
                continue
            return size, seen
        return 0, set(exclude)

    def _touch(self, key, entry: _Entry, owner) -> None:
        self._entries.move_to_end(key)
        if entry.parent in self._entries:
            self._entries.move_to_end(entry.parent)
        if owner is not None:
            entry.pins.add(owner)
            self._owned.setdefault(owner, set()).add(key)

    def _unpin(self, owner) -> None:
        for key in self._owned.pop(owner, ()):
            entry = self._entries.get(key)
            if entry is not None:
                entry.pins.discard(owner)

    def _pinned(self, entry: _Entry) -> bool:
        """True while a live owner pins the entry or one of its children (pins of dead owners are released)."""
        for owner in list(entry.pins):
            if self._is_alive(owner):
                return True
            self._unpin(owner)
        return any(self._pinned(self._entries[k]) for k in entry.children if k in self._entries)

    def _footprint(self, entry: _Entry) -> int:
        """Bytes freed by dropping entry: its own and its children's."""
        return entry.size + sum(self._entries[k].size for k in entry.children if k in self._entries)

    def _make_room(self, need: int, protect: set) -> None:
        """Drop least recently used, unpinned results that free memory until used + reserved + need fits the
        budget (or nothing more can be dropped)."""
        reserved = sum(f.reserve for f in self._flights.values())
        while self._used + reserved + need > self.budget:
            victim = next((k for k, e in self._entries.items()
                           if k not in protect and self._footprint(e) > 0 and not self._pinned(e)), None)
            if victim is None:
                return
            label, freed = self._entries[victim].label, self._drop(victim)
            self._evicted += 1
            self._evictions.append(Eviction(self._evicted, victim, label, freed))
            self._on_evict(self._evictions[-1])

    def _drop(self, key) -> int:
        """Remove key and its children; returns the bytes freed."""
        entry = self._entries.pop(key)
        self._used -= entry.size
        freed = entry.size
        for child in list(entry.children):
            if child in self._entries:
                freed += self._drop(child)
        holder = self._entries.get(entry.parent)
        if holder is not None:
            holder.children.discard(key)
        for owner in entry.pins:
            self._owned.get(owner, set()).discard(key)
        return freed
