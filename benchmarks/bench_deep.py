"""Benchmark: leave-one-out retraining of a deep ReLU network (ifexplorer.deep_network, theory §9) on the CPU,
one at a time against B retrains batched in one set of tensors.

    python benchmarks/bench_deep.py                       # depth 4, width 1024, n = 200 real MNIST 7 vs 9
    python benchmarks/bench_deep.py --full                # also run every batch size to convergence (slow)

Data: real MNIST 7 vs 9 (`load_dataset("mnist", classes=(7, 9), n_train=200)`, ±1 labels, unit-norm rows),
λ = 0.1, antisymmetric init (two copies of width/2 units), float64, Nesterov with the step from the
curvature and the trainer's stopping rule (gradient tolerance or kink-limited).

Sections (every time a median over --repeats):
1. one gradient of the training loss for B networks: the engine's batched matmuls (span coordinates for
   W¹) against torch.func.vmap(torch.func.grad(loss)) over stacked full weights — the choice the engine made;
2. seconds per Nesterov step for B = 1 and each --batches, at 1 and at the default number of intra-op
   threads (on a loaded machine one thread can win: the threads wait for each other);
3. one full retrain (the training from θ(0), which is what a leave-one-out retrain repeats): steps, seconds;
4. retrains per second = B / (s/step(B) × steps of one retrain), batched against one at a time
   (--full: measured by running retrain_loo for each B instead of estimated).
The load average is printed at the start and the end: other jobs on the same cores slow every number.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from ifexplorer import deep_network as D
from ifexplorer import load_dataset
from ifexplorer.device import device_label


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def gradient_section(net, X, y, reg, batches, repeats):
    """Seconds per network-gradient: engine (batched matmuls) vs vmap over the autograd gradient."""
    prob = D._Problem(net, X, net.params0)
    n = X.shape[0]

    def engine(B):
        Dz = prob.zeros(B)
        mask = torch.ones((B, n), dtype=X.dtype)
        f, cache = prob.forward(Dz)
        prob.gradient(Dz, cache, (f - y) * mask[..., None], reg)

    def loss(params, mask):
        f = net.function(params, X)
        off = sum(((p - p0) ** 2).sum() for p, p0 in zip(params, net.params0))
        return 0.5 * (mask[:, None] * (f - y) ** 2).sum() + 0.5 * reg * off

    grad = torch.func.vmap(torch.func.grad(loss))

    def vmapped(B):
        stacked = tuple(p.expand(B, *p.shape).clone() for p in net.params0)
        grad(stacked, torch.ones((B, n), dtype=X.dtype))

    print(f"{'B':>4} {'engine s/net':>13} {'vmap s/net':>11} {'vmap/engine':>12}")
    for B in batches:
        engine(B), vmapped(B)  # warm-up
        te, tv = [], []
        for _ in range(repeats):  # interleaved, so that a change of load hits both alike
            te.append(_seconds(lambda B=B: engine(B)) / B)
            tv.append(_seconds(lambda B=B: vmapped(B)) / B)
        te, tv = statistics.median(te), statistics.median(tv)
        print(f"{B:>4} {te:>13.4f} {tv:>11.4f} {tv / te:>12.2f}", flush=True)


def step_seconds(prob, y, sched, B, steps):
    """Seconds per Nesterov step of B leave-one-out retrains (points 0 … B−1), over `steps` steps."""
    n = y.shape[0]
    mask = torch.ones((B, n), dtype=y.dtype)
    mask[torch.arange(B), torch.arange(B)] = 0
    E = torch.zeros((B, n, y.shape[1]), dtype=y.dtype)
    t = time.perf_counter()
    D._minimise_steps(prob, y, mask, E, sched, 1e-30, 1e-30, steps - 1, 3, (), None, None)
    return (time.perf_counter() - t) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--reg", type=float, default=0.1)
    p.add_argument("--batches", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--steps", type=int, default=6, help="Nesterov steps timed per batch size")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--full", action="store_true", help="run retrain_loo to convergence for every batch size")
    args = p.parse_args()

    default_threads = torch.get_num_threads()
    data = load_dataset("mnist", classes=(7, 9), n_train=args.n, n_test=10, seed=0)
    net = D.DeepReLU(args.width, data.X_train.shape[1], depth=args.depth, seed=0, device="cpu")
    X, y = net.inputs(data.X_train), net.targets(data.y_train, args.n)
    print(f"# {device_label('cpu')}, float64, real MNIST 7 vs 9, n = {args.n}, depth {args.depth}, width "
          f"{args.width} ({net.copies} copies of {net.copy_width}), {net.n_params} weights, λ = {args.reg}; "
          f"load average {_load()}")

    print("\n## 1. one gradient of the training loss, per network (1 thread)")
    torch.set_num_threads(1)
    gradient_section(net, X, y, args.reg, [1, 4], max(args.repeats, 5))

    print("\n## 2. seconds per Nesterov step")
    prob = D._Problem(net, X, net.params0)
    sched = D.make_schedule(prob.curvature(), args.reg)
    rows = {}
    print(f"{'B':>4} {'threads':>8} {'s/step':>9} {'s/step/net':>11}")
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for B in [1, *args.batches]:
            s = statistics.median(step_seconds(prob, y, sched, B, args.steps) for _ in range(args.repeats))
            rows[(B, threads)] = s
            print(f"{B:>4} {threads:>8} {s:>9.3f} {s / B:>11.4f}", flush=True)
    best_threads = min({t for _, t in rows}, key=lambda t: rows[(1, t)])
    torch.set_num_threads(best_threads)

    print(f"\n## 3. one full retrain from θ(0) ({best_threads} thread(s)); load average {_load()}")
    fit = D.train(net, X, y, args.reg)
    print(f"{fit.steps} steps ({fit.status}), {fit.seconds:.1f} s, {fit.seconds / fit.steps:.3f} s/step, "
          f"{100 * fit.flip_fraction:.1f}% activations flipped")

    print(f"\n## 4. retrains per second ({best_threads} thread(s))")
    print(f"{'B':>4} {'retrains/s':>11} {'vs one at a time':>17} {'how':>10}")
    one = 1.0 / (rows[(1, best_threads)] * fit.steps)
    for B in [1, *args.batches]:
        if args.full:
            loo = D.retrain_loo(fit, list(range(B)), chunk_size=B)
            rate, how = B / loo.seconds, "measured"
        else:
            rate, how = B / (rows[(B, best_threads)] * fit.steps), "estimated"
        print(f"{B:>4} {rate:>11.5f} {rate / one:>17.2f} {how:>10}", flush=True)
    torch.set_num_threads(default_threads)
    print(f"# load average at the end {_load()}")


if __name__ == "__main__":
    main()
