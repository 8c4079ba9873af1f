"""Time to fit + the full m × n exact influence matrix, against the n³ GEMM floor and brute force.

    python benchmarks/bench_influence.py                 # n = 1000, 2000, 4000; m = 1000
    python benchmarks/bench_influence.py --sizes 20000   # on a GPU

Each size runs in its own subprocess so the peak-memory column is that size's own.
Data: real MNIST digits (784 features), 10 classes one-hot (C = 10), λ = 1e-3.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import gemm_seconds, median_seconds, peak_rss_bytes, unit_rows  # noqa: E402

from ifexplorer import NTKInfluence, device_label, resolve_device  # noqa: E402

REG = 1e-3


def measure(n: int, m: int, brute_refits: int, device: str) -> dict:
    dev = resolve_device(device)
    X = unit_rows(n + m)
    rng = np.random.default_rng(0)
    Y = np.eye(10)[rng.integers(0, 10, n + m)]
    Xtr, Ytr, Xte, Yte = X[:n], Y[:n], X[n:], Y[n:]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def fit_and_influence():
        NTKInfluence(reg=REG, device=device).fit(Xtr, Ytr).influence(Xte, Yte)

    fit_and_influence()  # warm-up (threads, allocator)
    total = median_seconds(fit_and_influence, repeats=3, sync=dev)
    gemm = gemm_seconds(n, dev)
    brute = _brute_force_seconds_per_refit(Xtr, Ytr, Xte, brute_refits, dev) * n
    peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else peak_rss_bytes()
    return {"n": n, "m": m, "seconds": total, "gemm": gemm, "brute": brute, "peak_gb": peak / 1e9}


def _brute_force_seconds_per_refit(Xtr, Ytr, Xte, k, dev) -> float:
    """Refit without point i (kernel of the n−1 points, Cholesky, solve, predict m points), median of k."""
    from ifexplorer.kernels import ntk_two_layer

    Xt = torch.as_tensor(Xtr, device=dev)
    Yt = torch.as_tensor(Ytr, device=dev)
    Xq = torch.as_tensor(Xte, device=dev)

    def refit(i):
        keep = torch.arange(len(Xt), device=dev) != i
        A = ntk_two_layer(Xt[keep])
        A.diagonal().add_(REG)
        alpha = torch.cholesky_solve(Yt[keep], torch.linalg.cholesky(A))
        return ntk_two_layer(Xq, Xt[keep]) @ alpha

    times = [median_seconds(lambda i=i: refit(i), repeats=1, sync=dev) for i in range(k)]
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--m", type=int, default=1000)
    parser.add_argument("--brute-refits", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.m, args.brute_refits, args.device)))
        return
    print(f"device: {device_label(args.device)}; λ = {REG}; C = 10 outputs; medians of 3")
    print(f"{'n':>6} {'m':>5} {'fit+influence s':>16} {'n³ GEMM s':>10} {'ratio':>6} {'brute force s':>14} "
          f"{'speed-up':>9} {'peak GB':>8}")
    for n in args.sizes:
        command = [sys.executable, __file__, "--one", str(n), "--m", str(args.m), "--brute-refits",
                   str(args.brute_refits), "--device", args.device]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>6} {r['m']:>5} {r['seconds']:>16.3f} {r['gemm']:>10.3f} {r['seconds'] / r['gemm']:>6.2f} "
              f"{r['brute']:>14.1f} {r['brute'] / r['seconds']:>9.0f} {r['peak_gb']:>8.2f}")


if __name__ == "__main__":
    main()
