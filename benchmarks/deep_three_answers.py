"""Leave-one-out retraining, PBRF and the IHVP on real deep ReLU networks (theory §9–§10), by depth.

    python benchmarks/deep_three_answers.py                      # n = 100, width 256, depths 1–4, 8 points
    python benchmarks/deep_three_answers.py --n 200 --width 1024 --depths 2 4 --points 16

Data: real MNIST 7 vs 9 (±1 labels, unit-norm rows), λ = --reg, antisymmetric init, float64. For each depth
`deep_network.examine` trains once, then for --points training points (seeded random) and --tests test points
computes the change of the test loss under: leave-one-out retraining from θ(0) (loo), PBRF from θ_s (pbrf), the
Gauss–Newton IHVP (ihvp_gn) and the true-Hessian IHVP (ihvp_hessian). Printed per depth: the activation flip
rate of training, and for pairs of answers the relative difference ‖a − b‖/‖b‖ and Pearson r pooled over
(point, test point) pairs.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ifexplorer import deep_network as D
from ifexplorer import load_dataset

PAIRS = (("pbrf", "loo"), ("ihvp_gn", "pbrf"), ("ihvp_gn", "loo"), ("ihvp_hessian", "pbrf"),
         ("ihvp_hessian", "ihvp_gn"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--reg", type=float, default=0.1)
    p.add_argument("--points", type=int, default=8)
    p.add_argument("--tests", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data = load_dataset("mnist", classes=(7, 9), n_train=args.n, n_test=args.tests, seed=args.seed)
    idx = np.sort(np.random.default_rng(args.seed).choice(args.n, size=args.points, replace=False))
    print(f"# real MNIST 7 vs 9, n = {args.n}, width {args.width}, λ = {args.reg}, {args.points} points × "
          f"{args.tests} test points; load average {os.getloadavg()[0]:.1f}")
    head = " ".join(f"{a}~{b:<8}" for a, b in PAIRS)
    print(f"{'depth':>5} {'flips':>6} {'train steps':>11} {'s':>6}  rel. difference / Pearson: {head}")
    for depth in args.depths:
        t = time.perf_counter()
        out = D.examine(data.X_train, data.y_train, data.X_test, data.y_test, depth=depth, width=args.width,
                        reg=args.reg, indices=idx, seed=args.seed,
                        methods=("loo", "pbrf", "ihvp_gn", "ihvp_hessian"))
        ch = out["changes"]
        cells = []
        for a, b in PAIRS:
            rel = np.linalg.norm(ch[a] - ch[b]) / np.linalg.norm(ch[b])
            r = np.corrcoef(ch[a].ravel(), ch[b].ravel())[0, 1]
            cells.append(f"{rel:.3f}/{r:.3f}")
        print(f"{depth:>5} {100 * out['flip_fraction']:>5.1f}% {out['train']['steps']:>11} "
              f"{time.perf_counter() - t:>6.0f}  " + "  ".join(f"{c:>17}" for c in cells), flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
