"""The fitted experiment shared by every page and every browser session.

One `Experiment` per `ExperimentConfig` lives in a `st.cache_resource` store (a dict). On a miss the
dataset is loaded and `NTKInfluence.fit` runs once, under a per-config lock, with visible progress
(`st.status` + `st.progress` fed by the package's progress callbacks); concurrent sessions asking for
the same config wait on the lock and then reuse the result. Derived arrays (predictions, the
influence matrix, self-influence …) are memoised on the Experiment, also under a lock.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException  # stop / rerun requests

from ifexplorer import NTKInfluence
from ifexplorer.ui.widgets import fmt

FIT_COUNT = 0  # number of heavy fits run in this process (tests read it)
_COUNT_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExperimentConfig:
    """Small hashable key of everything that changes the fitted model."""
    dataset: str = "mnist"
    classes: Any = (7, 9)           # tuple of ints, "all" or None
    n_train: int = 800
    n_test: int = 200
    reg: float = 1e-3
    label_noise: float = 0.0
    seed: int = 0
    source: str | None = None       # sha256 of uploaded bytes, or a folder path under the data root
    filename: str | None = None     # name of the uploaded archive (zip / npz)
    resize: int | None = None       # own images: the largest side in px after resizing (None = keep the size)


class Experiment:
    """A dataset and its fitted NTKInfluence, with lazily memoised derived arrays."""

    def __init__(self, config: ExperimentConfig, data, model: NTKInfluence, fit_seconds: float):
        self.config, self.data, self.model, self.fit_seconds = config, data, model, fit_seconds
        self._memo: dict = {}
        self._lock = threading.RLock()

    def memo(self, key, compute: Callable[[], Any]):
        """compute() once per key, thread-safe."""
        with self._lock:
            if key not in self._memo:
                configure_threads()
                self._memo[key] = compute()
            return self._memo[key]

    def peek(self, key):
        """The memoised result for key, or None when it has not been computed."""
        return self._memo.get(key)

    # -------------------------------------------------------------- predictions and labels
    def class_of(self, outputs) -> np.ndarray:
        """Class index into data.class_names for model outputs (m,) or (m, C)."""
        outputs = np.asarray(outputs)
        return (outputs > 0).astype(int) if outputs.ndim == 1 else outputs.argmax(axis=1)

    def test_outputs(self) -> np.ndarray:
        return self.memo("test_outputs", lambda: self.model.predict(self.data.X_test))

    def train_outputs(self) -> np.ndarray:
        return self.memo("train_outputs", self.model.train_predictions)

    def test_pred_class(self) -> np.ndarray:
        return self.class_of(self.test_outputs())

    def test_true_class(self) -> np.ndarray:
        return self.class_of(self.data.y_test)

    def train_class(self) -> np.ndarray:
        """Observed (possibly flipped) class index of each training point."""
        return self.memo("train_class", lambda: self.class_of(self.data.y_train))

    def accuracy(self) -> tuple[float, float]:
        """(train accuracy against the observed labels, test accuracy)."""
        train = float(np.mean(self.class_of(self.train_outputs()) == self.train_class()))
        return train, float(np.mean(self.test_pred_class() == self.test_true_class()))

    def class_name(self, index: int) -> str:
        return str(self.data.class_names[int(index)])

    def train_caption(self, j: int, score: float | None = None) -> str:
        """"#12 · 7 · +0.031"; a flipped label: "⚠ #12 · 7 (is 9) · +0.031" (shown label, true class)."""
        shown = self.class_name(self.train_class()[j])
        tail = "" if score is None else f" · {fmt(score)}"
        if self.noisy_mask()[j]:
            return f"⚠ #{j} · {shown} (is {self.class_name(self.data.true_labels_train[j])}){tail}"
        return f"#{j} · {shown}{tail}"

    def noisy_mask(self) -> np.ndarray:
        mask = getattr(self.data, "noisy_train", None)
        n = len(self.data.X_train)
        return np.zeros(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)

    # ---------------------------------------------------------------------- influences
    def influence_matrix(self) -> np.ndarray:
        """Exact influence of every training point on every test point (m, n); > 0 = helpful."""
        return self.memo("influence", lambda: self.model.influence(self.data.X_test, self.data.y_test))

    def ihvp_matrix(self) -> np.ndarray:
        return self.memo("ihvp", lambda: self.model.ihvp_influence(self.data.X_test, self.data.y_test))

    def self_influence(self) -> np.ndarray:
        return self.memo("self_influence", self.model.self_influence)

    def spectrum(self) -> tuple[float, float]:
        return self.memo("spectrum", self.model.kernel_spectrum)

    def data_memo(self, key, compute: Callable[[], Any]):
        """Like memo, but shared by every λ on the same data (for results that do not depend on λ)."""
        return shared(("data", replace(self.config, reg=0.0), key), compute)


# ------------------------------------------------------------------------------- the store
@st.cache_resource(show_spinner=False)
def _store() -> dict:
    """Process-wide: {config: Experiment} plus the locks guarding misses."""
    return {"experiments": {}, "locks": {}, "guard": threading.Lock()}


def _lock_for(store: dict, key) -> threading.Lock:
    with store["guard"]:
        return store["locks"].setdefault(key, threading.Lock())


THREADS_ENV = "IFEXPLORER_APP_THREADS"


def configure_threads() -> int:
    """Cap torch's intra-op threads for the calling thread: half the CPU cores, at least 1, or
    $IFEXPLORER_APP_THREADS. The server shares its cores with the browser and other processes; with every
    core requested, LAPACK's many small parallel regions wait on descheduled threads — measured on the 2-core
    CI box under load: eigh(800×800) 12 s with 2 threads against 0.1 s with 1, the gallery's arrays 0.9 s
    against 0.1 s. OpenMP keeps this setting per thread and Streamlit runs every rerun in a new thread, so it
    is called wherever a rerun (or a fragment rerun) may compute. Returns the thread count in use."""
    import torch

    wanted = os.environ.get(THREADS_ENV, "")
    n = int(wanted) if wanted.isdigit() and int(wanted) > 0 else max(1, (os.cpu_count() or 1) // 2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def get_experiment(config: ExperimentConfig, upload: bytes | None = None) -> Experiment:
    """The fitted experiment for `config`, computing it (once for all sessions) on a miss.
    `upload` carries the archive bytes when config.source is their sha256."""
    configure_threads()
    store = _store()
    found = store["experiments"].get(config)
    if found is not None:
        return found
    lock = _lock_for(store, config)
    if not lock.acquire(blocking=False):
        with st.spinner("Another session is computing this model; waiting for it…"):
            lock.acquire()
    try:
        found = store["experiments"].get(config)
        if found is None:
            found = _compute(config, upload)
            store["experiments"][config] = found
        return found
    finally:
        lock.release()


def _compute(config: ExperimentConfig, upload: bytes | None) -> Experiment:
    global FIT_COUNT
    from ifexplorer.ui.dataset_menu import load

    size = f"n = {config.n_train}" if config.n_train else "default split"
    with st.status(f"Preparing {config.dataset} ({size}, λ = {config.reg:g})…", expanded=True) as status:
        try:
            bar = st.progress(0.0, text="Loading data")
            start = time.perf_counter()
            data = load(config, upload)
            bar.progress(0.1, text="Data loaded")

            def progress(fraction: float, message: str) -> None:
                bar.progress(min(1.0, 0.1 + 0.9 * float(fraction)), text=message)

            model = NTKInfluence(reg=config.reg).fit(data.X_train, data.y_train, progress=progress)
        except Exception:  # the page shows the message; the box must not stay at "Loading data"
            status.update(label=f"Could not prepare {config.dataset}", state="error", expanded=False)
            raise
        seconds = time.perf_counter() - start
        with _COUNT_LOCK:
            FIT_COUNT += 1
        print(f"ifexplorer-ui: fit #{FIT_COUNT} {config} in {seconds:.2f} s", file=sys.stderr, flush=True)
        status.update(label=f"Model ready ({seconds:.1f} s)", state="complete", expanded=False)
    return Experiment(config, data, model, seconds)


def shared(key, compute: Callable[[], Any]):
    """compute() once per key for the whole process (all sessions), under a per-key lock."""
    store = _store()
    memo = store.setdefault("shared", {})
    if key in memo:
        return memo[key]
    with _lock_for(store, key):
        if key not in memo:
            memo[key] = compute()
        return memo[key]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fit_count() -> int:
    return FIT_COUNT


def with_progress(exp: Experiment, key, label: str, compute: Callable[..., Any], *, stoppable: bool = False):
    """exp.memo(key, ...) that shows st.status + st.progress while computing on a miss.
    compute(progress) receives a progress(fraction, message) callback.

    stoppable: compute(progress, should_stop) instead, for long studies that can end early keeping what
    they finished. When the user stops the app or touches a widget, Streamlit raises its control-flow
    exception from the next progress update; should_stop() then turns True, compute returns its partial
    result, which is memoised under key, and the exception is re-raised so Streamlit goes on (a rerun
    finds the partial result)."""
    if key in exp._memo:
        return exp._memo[key]
    with exp._lock:
        if key in exp._memo:
            return exp._memo[key]
        configure_threads()
        with st.status(label, expanded=True) as status:
            bar = st.progress(0.0, text=label)
            halted: list[BaseException] = []

            def progress(fraction: float, message: str) -> None:
                if halted:
                    return
                try:
                    bar.progress(min(1.0, max(0.0, float(fraction))), text=message)
                except ScriptControlException as exc:  # a stop / rerun request: finish the current step first
                    if not stoppable:
                        raise
                    halted.append(exc)

            result = compute(progress, lambda: bool(halted)) if stoppable else compute(progress)
            exp._memo[key] = result
            if halted:
                raise halted[0]
            status.update(label=f"{label} — done", state="complete", expanded=False)
        return result


def forget(exp: Experiment, key) -> None:
    """Drop a memoised result (e.g. a study that was stopped early) so the next request recomputes it."""
    with exp._lock:
        exp._memo.pop(key, None)
