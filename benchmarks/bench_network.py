"""Benchmark: leave-one-out retraining of the real two-layer ReLU network (theory §7), batched against
one at a time, and the time for 100 leave-one-out retrains.

    python benchmarks/bench_network.py                              # n = 100, width 512, CPU
    python benchmarks/bench_network.py --n 200 --width 4096 --batches 1 8 32 --n-loo 100 --device cuda

Data: real MNIST 7 vs 9 (ifexplorer.data, ±1 labels, unit-norm rows), λ = 0.1, κ = 1, antisymmetric init,
Nesterov with the step from the curvature; every retrain starts from the same W(0) and runs to the trainer's
stopping rule (gradient tolerance or kink-limited, see ifexplorer.network). Columns:

    batch        networks trained together in one tensor (1 = one at a time)
    s/batch      median wall-clock seconds of one batched job (over --repeats jobs, different points)
    retrains/s   batch / (s/batch)
    steps        median gradient steps per retrain
Then: seconds for --n-loo leave-one-out retrains with the fastest batch size, and the load average (other
jobs on the same cores slow every number down).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from ifexplorer import network as N
from ifexplorer.data import load_dataset
from ifexplorer.device import device_label


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--reg", type=float, default=0.1)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-loo", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default=None, choices=[None, "float32", "float64"])
    args = p.parse_args()

    data = load_dataset("mnist", classes=(7, 9), n_train=args.n, n_test=10, seed=0)
    net = N.TwoLayerReLU(args.width, data.X_train.shape[1], device=args.device, dtype=args.dtype)
    fit = N.train(net, data.X_train, data.y_train, args.reg)
    sync = torch.cuda.synchronize if net.device.type == "cuda" else (lambda: None)
    print(f"# {device_label(net.device)}, {str(net.dtype).replace('torch.', '')}, n = {args.n}, width = {args.width}, "
          f"λ = {args.reg}; full training: {fit.steps} steps, {fit.seconds:.2f} s, "
          f"{100 * fit.flip_fraction:.1f}% activations flipped; load average {os.getloadavg()[0]:.2f}")
    print(f"{'batch':>6} {'s/batch':>9} {'retrains/s':>11} {'steps':>6}")
    rates = {}
    start = 0
    for b in args.batches:
        times, steps = [], []
        for _ in range(args.repeats):
            idx = [(start + k) % args.n for k in range(b)]
            start += b
            sync()
            t = time.perf_counter()
            loo = N.retrain_loo(fit, idx, chunk_size=b)
            sync()
            times.append(time.perf_counter() - t)
            steps.extend(loo.steps.tolist())
        med = statistics.median(times)
        rates[b] = b / med
        print(f"{b:>6} {med:>9.3f} {b / med:>11.3f} {statistics.median(steps):>6.0f}", flush=True)
    best = max(rates, key=rates.get)
    sync()
    t = time.perf_counter()
    loo = N.retrain_loo(fit, [k % args.n for k in range(args.n_loo)], chunk_size=best)
    sync()
    total = time.perf_counter() - t
    print(f"# {args.n_loo} leave-one-out retrains in batches of {best}: {total:.1f} s "
          f"({total / args.n_loo:.3f} s each); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
