"""Time of the n × n NTK matrix (symmetric case, float64), median of 3.

    python benchmarks/bench_kernel.py                  # n = 4000, 8000, depth 1, on the CPU
    python benchmarks/bench_kernel.py --depth 1 3 --device cuda
    python benchmarks/bench_kernel.py --threads 1      # steadier on a shared, busy machine

Data: real MNIST digits (then |N(0, 1)| rows) in d = 784, unit norm, with 5% of the rows replaced by
exact duplicates and 5% by near-duplicates (angles 1e-9 … 1e-3) of other rows: the entries whose
angle the kernel recomputes from the vectors.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from common import median_seconds, unit_rows

from ifexplorer import kernels


def with_duplicates(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """X with 5% of rows exact copies and 5% near copies (random angle 1e-9 … 1e-3) of other rows."""
    rng = np.random.default_rng(seed)
    n = len(X)
    k = n // 20
    X = X.copy()
    X[n - k:] = X[:k]
    src = X[k:2 * k]
    noise = rng.normal(size=src.shape)
    noise -= np.sum(noise * src, axis=1, keepdims=True) * src
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    angle = 10.0 ** rng.uniform(-9, -3, size=(k, 1))
    X[n - 2 * k:n - k] = np.cos(angle) * src + np.sin(angle) * noise
    return X


def kernel_fn(depth: int):
    if depth == 1:
        return kernels.ntk_two_layer
    return lambda X: kernels.ntk_relu(X, depth=depth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4000, 8000])
    parser.add_argument("--depth", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for n in args.n:
        X = torch.as_tensor(with_duplicates(unit_rows(n)), device=device)
        for depth in args.depth:
            fn = kernel_fn(depth)
            fn(X[:64])  # warm-up
            seconds = median_seconds(lambda fn=fn, X=X: fn(X), 3, device)
            print(f"n = {n:5d}  depth {depth}  {seconds:7.3f} s", flush=True)


if __name__ == "__main__":
    main()
