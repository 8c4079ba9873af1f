"""The fitted experiments shared by every page and every browser session, under one memory budget.

Every cached result lives in one process-wide `ifexplorer.cache.ResultStore` (a `st.cache_resource`): the fitted
`Experiment` of each `ExperimentConfig` (its dataset and model, with the caches the model grows, such as its
eigendecomposition) and the arrays derived from it (`Experiment.memo`: predictions, influence matrices, studies),
each measured in bytes. When a new result would exceed the budget ($IFEXPLORER_MEMORY_BUDGET, default half the
memory available at start, see `ifexplorer.cache.budget_from_env`) the least recently used results are dropped,
never one in use: a session pins what its script gets, and `start_run` (called by the sidebar at the top of every
full rerun) releases the pins of its previous run; a closed session's pins lapse.

Each result has its own in-flight record: sessions never wait for each other's unrelated results, and sessions
asking for the same result compute it once (the later ones watch "another session is computing …").

Refitting settings (λ, noise, seed, sizes, dataset): a fit first waits `SETTLE_SECONDS` while touching the page,
so that a newer rerun request (the user is still pressing arrow keys on the λ slider, or sets the sizes after the
dataset) cancels this run before any work; a fit interrupted later is abandoned by its progress callback, which
lets Streamlit's RerunException/StopException through, and is never stored.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException  # stop / rerun requests
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from ifexplorer import NTKInfluence
from ifexplorer.cache import BUDGET_ENV, ResultStore, budget_from_env
from ifexplorer.device import InsufficientMemoryError, format_bytes
from ifexplorer.ui.text import md_escape
from ifexplorer.ui.widgets import fmt

FIT_COUNT = 0  # number of heavy fits run in this process (tests read it)
_COUNT_LOCK = threading.Lock()
SETTLE_SECONDS = 0.5  # a fit waits this long for newer settings before it starts


@dataclass(frozen=True)
class ExperimentConfig:
    """Small hashable key of everything that changes the fitted model. An upload is keyed by the sha256 of its
    bytes (`source`); its file name is for display and for choosing the reader (.zip / .npz), not part of the key."""
    dataset: str = "mnist"
    classes: Any = (7, 9)           # tuple of ints, "all" or None
    n_train: int = 800
    n_test: int = 200
    reg: float = 1e-3
    label_noise: float = 0.0
    seed: int = 0
    source: str | None = None       # sha256 of uploaded bytes, or a folder path under the data root
    filename: str | None = field(default=None, compare=False)  # name of the uploaded archive (zip / npz)
    resize: int | None = None       # own images: the largest side in px after resizing (None = keep the size)
    depth: int = 1                  # L of the depth-L ReLU NTK (theory §9); 1 = the two-layer network of §1


@functools.lru_cache(maxsize=1024)
def describe(config: ExperimentConfig) -> str:
    """A short plain-text name of a setting (escape it before markdown). Uploads are named by their hash, folders
    relative to the data root: the names are shown to every session."""
    from ifexplorer.ui.dataset_menu import data_root

    if config.dataset == "upload":
        what = f"upload {str(config.source)[:8]}"
    elif config.dataset == "folder":
        what = f"folder {_relative(config.source, data_root())}"
    elif config.classes is None:
        what = config.dataset
    elif config.classes == "all":
        what = f"{config.dataset}, all classes"
    else:
        what = f"{config.dataset} " + " vs ".join(map(str, config.classes))
    size = f"n = {config.n_train}" if config.n_train else "default split"
    noise = f", noise {config.label_noise:g}" if config.label_noise else ""
    seed = f", seed {config.seed}" if config.seed else ""
    depth = f", depth {config.depth}" if config.depth != 1 else ""
    return f"{what} ({size}, λ = {config.reg:g}{depth}{noise}{seed})"


def _relative(path, root) -> str:
    """path relative to root (posix), or its last component when it lies outside root."""
    from pathlib import Path

    try:
        return Path(path).resolve().relative_to(root).as_posix() or "."
    except ValueError:
        return Path(str(path)).name


class Experiment:
    """A dataset and its fitted NTKInfluence, with lazily memoised derived arrays (kept in the shared store)."""

    def __init__(self, config: ExperimentConfig, data, model: NTKInfluence, fit_seconds: float,
                 store: ResultStore | None = None):
        self.config, self.data, self._model, self.fit_seconds = config, data, model, fit_seconds
        self.store = _store() if store is None else store  # where its derived results are kept

    @property
    def key(self) -> tuple:
        return ("experiment", self.config)

    @property
    def n_train(self) -> int:
        """The fitted model's training points (0 without a fitted model): sets how many threads work on it."""
        return getattr(self._model, "n_train_", 0)

    @property
    def model(self) -> NTKInfluence:
        """The fitted model; reading it caps the calling thread's torch threads (every rerun and fragment rerun
        runs in a thread of its own, and pages compute with the model directly)."""
        configure_threads(self.n_train)
        return self._model

    def memo(self, key, compute: Callable[[], Any], label: str | None = None):
        """compute() once per key for every session (a derived result of this experiment, in the budget)."""
        what = label or f"{_key_label(key)} for {describe(self.config)}"
        return _get(self.store, ("memo", self.config, key), _threaded(compute, self.n_train), parent=self.key,
                    label=what)

    def peek(self, key):
        """The memoised result for key, or None when it has not been computed (or was dropped)."""
        return self.store.peek(("memo", self.config, key))

    # -------------------------------------------------------------- predictions and labels
    def class_of(self, outputs) -> np.ndarray:
        """Class index into data.class_names for model outputs (m,) or (m, C)."""
        outputs = np.asarray(outputs)
        return (outputs > 0).astype(int) if outputs.ndim == 1 else outputs.argmax(axis=1)

    def test_outputs(self) -> np.ndarray:
        return self.memo("test_outputs", lambda: self.model.predict(self.data.X_test))

    def train_outputs(self) -> np.ndarray:
        return self.memo("train_outputs", lambda: self.model.train_predictions())

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
        """"#12 · 7 · +0.031"; a flipped label: "⚠ #12 · 7 (is 9) · +0.031" (shown label, true class). Plain
        text with the user's class names as they are: ui.show_image / image_row escape captions once."""
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
        return self.memo("influence", lambda: self.model.influence(self.data.X_test, self.data.y_test),
                         label="the influence matrix")

    def ihvp_matrix(self) -> np.ndarray:
        return self.memo("ihvp", lambda: self.model.ihvp_influence(self.data.X_test, self.data.y_test),
                         label="the IHVP influence matrix")

    def self_influence(self) -> np.ndarray:
        return self.memo("self_influence", lambda: self.model.self_influence(), label="the self-influence")

    def spectrum(self) -> tuple[float, float]:
        return self.memo("spectrum", lambda: self.model.kernel_spectrum(), label="the kernel spectrum")

    def data_memo(self, key, compute: Callable[[], Any]):
        """Like memo, but shared by every λ on the same data (for results that do not depend on λ)."""
        return shared(("data", replace(self.config, reg=0.0), key), compute)


def _key_label(key) -> str:
    return str(key[0] if isinstance(key, tuple) and key else key).replace("_", " ")


# ------------------------------------------------------------------------------- the store
@st.cache_resource(show_spinner=False)
def _store() -> ResultStore:
    """Process-wide: every cached result of every session, under the memory budget."""
    budget, problem = budget_from_env()
    store = ResultStore(budget, is_alive=_session_alive, on_evict=_log_eviction)
    store.problem = problem  # an invalid $IFEXPLORER_MEMORY_BUDGET, said in the sidebar
    return store


def _log_eviction(eviction) -> None:
    if eviction.key[0] == "experiment":
        print(f"ifexplorer-ui: dropped {eviction.label} ({format_bytes(eviction.nbytes)}) to make room",
              file=sys.stderr, flush=True)


IDLE_ENV = "IFEXPLORER_PIN_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 900.0  # a session that has asked the store for nothing this long no longer pins its results
_LAST_SEEN: dict = {}  # session id -> time.monotonic() of its latest request to the store


def idle_seconds() -> float:
    """How long an idle session keeps its results pinned: $IFEXPLORER_PIN_IDLE_SECONDS, else 900 s."""
    try:
        return max(0.0, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_SECONDS)))
    except ValueError:
        return DEFAULT_IDLE_SECONDS


def _seen(owner) -> None:
    if owner is not None:
        _LAST_SEEN[owner] = time.monotonic()


def _session_alive(session_id) -> bool:
    """False once a browser session has closed or has been idle (no request to the store) for idle_seconds(): its
    pins then lapse, so a tab left open in a classroom does not hold gigabytes for ever (coming back refits what was
    dropped). Without a server (AppTest) only the idle rule applies."""
    from streamlit.runtime import Runtime

    last = _LAST_SEEN.get(session_id)
    if last is not None and time.monotonic() - last > idle_seconds():
        return False
    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


def _owner() -> str | None:
    """The browser session running this thread (it pins what it gets), or None outside a script run."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def start_run() -> None:
    """Release the pins the calling session took in its previous run (call at the top of every full rerun)."""
    owner = _owner()
    _seen(owner)
    if owner is not None:
        _store().release(owner)


def _get(store: ResultStore, key, compute: Callable[[], Any], *, parent=None, label: str, reserve: int = 0):
    """store.get for the calling session, showing "another session is computing …" while it waits."""
    _seen(_owner())  # fragment reruns count as activity too
    with _waiting_notice(label) as waiting:
        return store.get(key, compute, owner=_owner(), parent=parent, label=label, reserve=reserve,
                            waiting=waiting)


@contextlib.contextmanager
def _waiting_notice(label: str):
    """A `waiting` callback for ResultStore.get: a progress bar mirroring the other session's progress; removed
    when the wait ends. Each update is a point where this session's own rerun request interrupts its wait."""
    shown: list = []

    def waiting(_label: str, fraction: float, message: str) -> None:
        text = f"Another session is computing {md_escape(label)}; waiting for it… {md_escape(message)}".rstrip()
        value = min(1.0, max(0.0, fraction))
        if shown:
            shown[0].progress(value, text=text)
        else:
            shown.append(st.progress(value, text=text))

    try:
        yield waiting
    finally:
        if shown:
            shown[0].empty()


THREADS_ENV = "IFEXPLORER_APP_THREADS"


LARGE_N = 4000  # from this many training points on, the heavy work runs on every core


def configure_threads(n_train: int = 0) -> int:
    """Set torch's intra-op threads for the calling thread: half the CPU cores (at least 1), every core for
    work on a model of n_train ≥ LARGE_N points, or $IFEXPLORER_APP_THREADS. The server shares its cores with
    the browser and other processes; with every core requested, LAPACK's many small parallel regions wait on
    descheduled threads — measured on the 2-core CI box under load: eigh(800×800) 12 s with 2 threads against
    0.1 s with 1, the gallery's arrays 0.9 s against 0.1 s. At full size the regions are long and one thread
    is half the speed: the fit at n = 12,000 took 22 s with 1 thread against 11 s with 2, the eigendecomposition
    about twice as long. OpenMP keeps this setting per thread and Streamlit runs every rerun in a new thread,
    so the store calls it wherever it computes (and `Experiment.model` on every read). Returns the thread count
    in use."""
    import torch

    wanted = os.environ.get(THREADS_ENV, "")
    cores = os.cpu_count() or 1
    if wanted.isdigit() and int(wanted) > 0:
        n = int(wanted)
    else:
        n = cores if n_train >= LARGE_N else max(1, cores // 2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _threaded(compute: Callable[[], Any], n_train: int = 0) -> Callable[[], Any]:
    def run():
        configure_threads(n_train)
        return compute()
    return run


def get_experiment(config: ExperimentConfig, upload: bytes | None = None) -> Experiment:
    """The fitted experiment for `config`, computing it (once for all sessions) on a miss.
    `upload` carries the archive bytes when config.source is their sha256."""
    configure_threads()
    key = ("experiment", config)
    store = _store()
    if store.peek(key) is None:
        _check_fits_budget(config)
    before = store.usage().used, store.evicted
    exp = _get(store, key, lambda: _compute(config, upload, key, store), label=describe(config),
               reserve=_fit_reserve(config))
    store.remeasure(key)  # the model grows caches in place (eigendecomposition, time views)
    if (store.usage().used, store.evicted) != before:
        _refresh_memory_caption()
    return exp


def largest_setting(dim: int) -> int:
    """The largest training set of `dim` features that can be fitted here: its fit's peak fits 0.9 × the device's
    free memory (fit's own check) and the fitted experiment (_stored_bytes) fits the server's result budget."""
    import math

    # 8 (n² + 2 n d) ≤ budget  ⇔  (n + d)² ≤ d² + ⌊budget / 8⌋, in integers
    by_budget = max(0, math.isqrt(dim * dim + _store().budget // 8) - dim)
    return min(NTKInfluence(reg=1.0).largest_fit_size(dim), by_budget)


def _stored_bytes(n: int, dim: int) -> int:
    """Bytes a fitted experiment holds in the store: W (n × n; the fit keeps no other n × n array) and the n × d
    features twice (data, model)."""
    return 8 * (n * n + 2 * n * dim)


def _check_fits_budget(config: ExperimentConfig) -> None:
    """Refuse a setting whose fitted experiment exceeds the server's result budget, with the size that would fit
    (own data: the size is known only after loading; fit checks the device memory itself)."""
    if not config.n_train:
        return
    need, budget = _stored_bytes(config.n_train, 784), _store().budget
    if need > budget:
        raise InsufficientMemoryError(
            f"{config.n_train:,} training points need about {format_bytes(need)} once fitted, more than this server's "
            f"memory budget for results ({format_bytes(budget)}, ${BUDGET_ENV}); choose at most "
            f"{largest_setting(784):,} training points")


def _fit_reserve(config: ExperimentConfig) -> int:
    """Bytes the fitted experiment will hold, set aside while it fits: the n×n factor W and the n×d features
    twice (data and model), d = 784 assumed; own data (size unknown): nothing."""
    return _stored_bytes(config.n_train, 784)


def _compute(config: ExperimentConfig, upload: bytes | None, key, store: ResultStore) -> Experiment:
    global FIT_COUNT
    size = f"n = {config.n_train}" if config.n_train else "default split"
    depth = f", depth {config.depth}" if config.depth != 1 else ""
    slot = st.empty()  # the status box goes once the model is ready (it would otherwise stay on the page)
    with slot:
        status = st.status(f"Preparing {config.dataset} ({size}, λ = {config.reg:g}{depth})…", expanded=True)
    bar = status.progress(0.0, text="Waiting for the settings to settle")
    _settle(bar)
    try:
        bar.progress(0.0, text="Loading data")
        start = time.perf_counter()
        data = _load(config, upload)
        bar.progress(0.1, text="Data loaded")
        configure_threads(len(data.X_train))

        def progress(fraction: float, message: str) -> None:
            value = min(1.0, 0.1 + 0.9 * float(fraction))
            store.report(key, value, message)
            bar.progress(value, text=message)  # raises Streamlit's rerun / stop request: the fit is abandoned

        model = NTKInfluence(reg=config.reg, depth=config.depth).fit(data.X_train, data.y_train, progress=progress)
    except Exception:  # the page shows the message; the box must not stay at "Loading data"
        status.update(label=f"Could not prepare {config.dataset}", state="error", expanded=False)
        raise
    seconds = time.perf_counter() - start
    with _COUNT_LOCK:
        FIT_COUNT += 1
    print(f"ifexplorer-ui: fit #{FIT_COUNT} {config} in {seconds:.2f} s", file=sys.stderr, flush=True)
    status.update(label=f"Model ready ({seconds:.1f} s)", state="complete", expanded=False)
    slot.empty()
    return Experiment(config, data, model, seconds, store)


def _load(config: ExperimentConfig, upload: bytes | None):
    """dataset_menu.load, with the data root taken out of error messages (no absolute server path is shown)."""
    from ifexplorer.ui.dataset_menu import data_root, load

    try:
        return load(config, upload)
    except ValueError as exc:  # includes ifexplorer.data.DataError
        root = str(data_root())
        if config.dataset != "folder" or root not in str(exc):
            raise
        message = str(exc).replace(root + os.sep, "").replace(root, "the data root")
        try:
            hidden = type(exc)(message)
        except TypeError:
            hidden = ValueError(message)
        raise hidden from None


def _settle(bar, seconds: float = SETTLE_SECONDS, step: float = 0.05) -> None:
    """Wait `seconds`, updating `bar` every `step`: each update is a point where a newer rerun request (the
    user is still changing settings) raises Streamlit's RerunException and cancels this run before it fits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(step)
        bar.progress(0.0, text="Waiting for the settings to settle")


def shared(key, compute: Callable[[], Any]):
    """compute() once per key for the whole process (all sessions), in the budget."""
    return _get(_store(), key, _threaded(compute), label=_key_label(key[-1] if isinstance(key, tuple) else key))


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
    halted: list[BaseException] = []
    store_key = ("memo", exp.config, key)

    def run():
        configure_threads(exp.n_train)
        slot = st.empty()  # emptied when done: a finished status box must not stay on the page
        with slot:
            status = st.status(label, expanded=True)
        bar = status.progress(0.0, text=label)

        def progress(fraction: float, message: str) -> None:
            exp.store.report(store_key, fraction, message)
            if halted:
                return
            try:
                bar.progress(min(1.0, max(0.0, float(fraction))), text=message)
            except ScriptControlException as exc:  # a stop / rerun request: finish the current step first
                if not stoppable:
                    raise
                halted.append(exc)

        try:
            result = compute(progress, lambda: bool(halted)) if stoppable else compute(progress)
        except Exception:
            status.update(state="error", expanded=False)
            raise
        if not halted:  # after a stop request any Streamlit call raises again: leave the box as it is
            status.update(label=f"{label} — done", state="complete", expanded=False)
            slot.empty()
        return result

    result = exp.memo(key, run, label=label[:1].lower() + label[1:])
    if halted:
        raise halted[0]
    return result


def forget(exp: Experiment, key) -> None:
    """Drop a memoised result (e.g. a study that was stopped early) so the next request recomputes it."""
    exp.store.discard(("memo", exp.config, key))


# ----------------------------------------------------------------------------- the sidebar's memory caption
_SEEN_KEY = "_ifexplorer_drops_seen"
_CAPTION_SLOTS: dict = {}  # session id -> the sidebar placeholder of its latest full run


def memory_caption() -> str:
    """One line for the sidebar: the shared budget and its use, and the earlier settings dropped to make room
    since this session opened."""
    store = _store()
    use = store.usage()
    seen = st.session_state.setdefault(_SEEN_KEY, store.evicted)
    settings = sum(1 for k in store.stored_keys() if k[0] == "experiment")
    text = (f"Memory for results (all sessions): **{format_bytes(use.used)}** of the "
            f"**{format_bytes(use.budget)}** budget, {settings} setting{'s' * (settings != 1)} kept.")
    dropped = [e for e in store.evictions(seen) if e.key[0] == "experiment"]
    if dropped:
        names = "; ".join(md_escape(e.label) for e in dropped[-2:])
        more = f" and {len(dropped) - 2} more" if len(dropped) > 2 else ""
        text += (f" To make room, {len(dropped)} earlier setting{'s were' if len(dropped) > 1 else ' was'} dropped "
                 f"({names}{more}); choosing one again refits it.")
    if use.used + use.reserved > use.budget:
        text += " Over budget: what open sessions are using cannot be dropped."
    if store.problem:
        text += f" ({md_escape(store.problem)})"
    return text


def show_memory_caption(slot) -> None:
    """Draw memory_caption() into `slot` (an st.empty in the sidebar) and redraw it there after a fit in this run."""
    owner = _owner()
    if owner is not None:
        for sid in [s for s in _CAPTION_SLOTS if s != owner and not _session_alive(s)]:
            _CAPTION_SLOTS.pop(sid, None)
        _CAPTION_SLOTS[owner] = slot
    slot.caption(memory_caption())


def _refresh_memory_caption() -> None:
    ctx = get_script_run_ctx(suppress_warning=True)
    slot = _CAPTION_SLOTS.get(_owner())
    if slot is not None and ctx is not None and not ctx.fragment_ids_this_run:
        slot.caption(memory_caption())
