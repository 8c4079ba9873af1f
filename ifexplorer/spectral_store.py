"""The one-time eigendecomposition A = H + λI = V diag(μ) Vᵀ behind the training-time views:
computed in place, with progress and an estimated duration, and persisted on disk with joblib.Memory.

At n = 12,000 it takes about 25 n × n × n matrix products on a CPU (tens of minutes on two cores), so
it is worth keeping: a second model fitted on the same training inputs with the same λ, kernel and
dtype — in this process, after a restart, or in another process — loads it from the cache directory
instead (1.15 GB at n = 12,000: seconds).

Cache directory: the environment variable IFEXPLORER_CACHE_DIR, else ~/.cache/ifexplorer. Set it to
"off" (or "") to disable persistence. Entries are keyed by a BLAKE2 hash of the training inputs'
bytes, λ, the kernel's name and depth, and the dtype; models with a custom kernel callable are not
persisted (their kernel has no stable name). An entry is not written when the disk has less than
twice its size free.

Time estimate: EIGH_GEMM_RATIO[device] × the time of one n × n × n product, the latter from the
device's rate on a 1024³ product measured just before (so it reflects the current load). The ratio
is a calibrated constant (CPU: MKL's syevd on two cores took 7.4 GEMMs at n = 12,000 and 6.6 at 4,000
in benchmarks/bench_scale.py and bench_dynamics.py; 8 keeps the estimate on the safe side. GPU: cuSOLVER's
syevd on one H200 took 19.7 products at n = 20,000 and 11.5 at 40,000, counted at the 1024³ product's rate, which
is about half the large-n rate there (benchmarks/gpu_check.sh, 2026-12-04); 24 keeps it on the safe side: 12 s
for the measured 10 s, 121 s for the measured 58 s, where the first guess, 40, said 20 s and 201 s).
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .device import check_fits
from .results import Progress

CACHE_ENV = "IFEXPLORER_CACHE_DIR"
EIGH_GEMM_RATIO = {"cpu": 8.0, "cuda": 24.0}
TICK_SECONDS = 0.5
COMPUTATIONS = 0  # eigendecompositions computed (not loaded) in this process, for tests and benchmarks


def computations() -> int:
    """Eigendecompositions computed (not loaded from disk) in this process so far."""
    return COMPUTATIONS


def cache_dir() -> Path | None:
    """The persistence directory, or None when disabled (IFEXPLORER_CACHE_DIR=off or empty)."""
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return Path.home() / ".cache" / "ifexplorer"
    if value.strip().lower() in ("", "off", "none", "0"):
        return None
    return Path(value).expanduser()


def cache_key(model) -> str | None:
    """Hex digest naming the eigendecomposition of a fitted model, or None when it is not persistable."""
    if model.kernel is not None:
        return None
    h = hashlib.blake2b(digest_size=20)
    X = np.ascontiguousarray(model.X_train_.detach().to("cpu", torch.float64).numpy())
    h.update(repr((X.shape, float(model.reg_), "ntk_relu", int(getattr(model, "depth", 1) or 1),
                   str(model.dtype_))).encode())
    h.update(X.tobytes())
    return h.hexdigest()


def eigendecomposition(model, progress: Progress) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ (n,), V (n, n)) of A = H + λI for a fitted model: loaded from the disk cache when present,
    else computed (progress: the estimate first, then ticks) and stored."""
    n, dev = model.n_train_, model.device_
    key, where = cache_key(model), cache_dir()
    store = None if key is None or where is None else _store(where)
    cached = store is not None and store.check_call_in_cache(key, None)
    if cached:
        progress(0.0, f"Loading the {n}×{n} eigendecomposition from the cache ({where})")
    computed = {}

    def compute():
        global COMPUTATIONS
        COMPUTATIONS += 1
        itemsize = torch.finfo(model.dtype_).bits // 8
        # W is held; the decomposition overwrites one more n × n array (H computed anew), plus LAPACK's
        # workspace (measured 0.17 n² with MKL's syevd; cuSOLVER's is allowed for with one more n²).
        extra = 1.2 if dev.type == "cpu" else 2.0
        check_fits(int(extra * n * n * itemsize), dev,
                   f"The eigendecomposition for training-time queries on {n} training points")
        seconds = estimate_seconds(n, dev)
        progress(0.0, f"Eigendecomposition of the {n}×{n} kernel (once): about {_fmt_seconds(seconds)} "
                      f"(estimate: {EIGH_GEMM_RATIO[dev.type]:g} × one {n}³ matrix product at the rate measured now)")
        computed["eig"] = _with_ticks(lambda: _eigh_in_place(model), seconds, progress)
        return computed["eig"]

    if store is not None and (cached or _disk_has_room(where, n * (n + 1) * 8)):
        mu, V = store(key, compute)
        result = computed.get("eig") or _to_device(mu, V, dev, model.dtype_)
    else:
        result = compute()
    progress(1.0, "Done")
    return result


def estimate_seconds(n: int, device: torch.device) -> float:
    """Predicted eigendecomposition time: EIGH_GEMM_RATIO × (2n³ / the device's measured GEMM rate)."""
    return EIGH_GEMM_RATIO[device.type] * 2.0 * n ** 3 / gemm_rate(device)


_RATES: dict = {}  # device -> (time measured, rate): recent_gemm_rate's memo


def recent_gemm_rate(device: torch.device, max_age: float = 300.0) -> float:
    """gemm_rate(device), measured at most once every max_age seconds (an estimate shown on every page rerun
    must not cost a 1024³ product each time)."""
    now = time.monotonic()
    measured = _RATES.get(str(device))
    if measured is None or now - measured[0] > max_age:
        measured = _RATES[str(device)] = (now, gemm_rate(device))
    return measured[1]


def gemm_rate(device: torch.device, size: int = 1024) -> float:
    """float64 flop/s of one size³ matrix product on the device, now (best of three)."""
    a = torch.randn(size, size, dtype=torch.float64, device=device)
    best = math.inf
    for _ in range(3):
        _sync(device)
        start = time.perf_counter()
        a @ a
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best


# ----------------------------------------------------------------------------------- internals
def _cached_eigh(key: str, compute):
    """joblib.Memory's unit: only `key` is hashed; compute() returns (μ, V) tensors."""
    mu, V = compute()
    return mu.cpu().numpy(), V.cpu().numpy()


def _store(where: Path):
    from joblib import Memory

    return Memory(str(where), verbose=0).cache(_cached_eigh, ignore=["compute"])


def _eigh_in_place(model) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.linalg.eigh into A = H + λI (H computed anew: the fit keeps only W): with out= a column-major
    view LAPACK works in that buffer."""
    A = model.kernel_train_
    A.diagonal().add_(model.reg_)
    V = A.mT  # A is symmetric: its column-major view is the same matrix
    mu = torch.empty(A.shape[0], dtype=A.dtype, device=A.device)
    torch.linalg.eigh(V, out=(mu, V))
    return mu, V


def _with_ticks(fn, seconds: float, progress: Progress):
    """Run fn() in a worker thread (torch's linear algebra releases the GIL) while this thread reports
    progress every TICK_SECONDS: elapsed / estimated, capped at 0.95 until fn returns."""
    result: dict = {}

    def work():
        try:
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="ifexplorer-eigh", daemon=True)
    start = time.perf_counter()
    worker.start()
    while True:
        worker.join(TICK_SECONDS)
        if not worker.is_alive():
            break
        elapsed = time.perf_counter() - start
        progress(min(0.95, elapsed / max(seconds, 1e-9)),
                 f"Eigendecomposition: {_fmt_seconds(elapsed)} of about {_fmt_seconds(seconds)}")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _to_device(mu, V, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(mu).to(device=device, dtype=dtype), torch.as_tensor(V).to(device=device, dtype=dtype))


def _disk_has_room(where: Path, nbytes: int) -> bool:
    try:
        where.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(where).free > 2 * nbytes
    except OSError:
        return False


def _fmt_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

