"""IHVP error and LDS against depth for the depth-L ReLU NTK on real MNIST 7 vs 9 (theory §5, §9, §11).

    python benchmarks/fragility_ntk.py                       # n = 800 train, 200 test, M = 50 subsets
    python benchmarks/fragility_ntk.py --n-train 300 --subsets 100 --depths 1 2 4 8

Prints, per depth L and λ: the mean IHVP error 1 − λQ_ii over training points, Theorem 3's bounds from the
spectrum of H_L, and the LDS (α = 0.5, true-class output) of exact leave-one-out and of IHVP effects,
computed on the same subsets by exact kernel ridge refits. No network is trained.
"""
from __future__ import annotations

import argparse
import time

from ifexplorer import load_dataset
from ifexplorer.experiments.fragility import ihvp_error_vs_depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--regs", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1, 1.0])
    parser.add_argument("--subsets", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    ds = load_dataset("mnist", n_train=args.n_train, n_test=args.n_test, seed=0)
    start = time.perf_counter()
    t = ihvp_error_vs_depth(ds.X_train, ds.y_train, args.depths, args.regs, ds.X_test, ds.y_test,
                            n_subsets=args.subsets, device=args.device)
    seconds = time.perf_counter() - start
    print(f"MNIST 7 vs 9, n = {len(ds.X_train)} train, {len(ds.X_test)} test, M = {args.subsets} subsets "
          f"of {len(ds.X_train) // 2}; {seconds:.1f} s")
    print("| L | λ | mean 1−λQ_ii | median | Thm 3 lower | Thm 3 upper | LDS exact | LDS IHVP |")
    print("|---|---|---|---|---|---|---|---|")
    for a, depth in enumerate(t.depths):
        for b, lam in enumerate(t.regs):
            print(f"| {depth} | {lam:g} | {t.mean_error[a, b]:.4f} | {t.median_error[a, b]:.4f} | "
                  f"{t.lower_bound[a, b]:.2e} | {t.upper_bound[a, b]:.4f} | {t.lds_exact[a, b]:.3f} | "
                  f"{t.lds_ihvp[a, b]:.3f} |")
    for a, depth in enumerate(t.depths):
        print(f"L = {depth}: λ_min(H) = {t.eigenvalue_min[a]:.3e}, λ_max(H) = {t.eigenvalue_max[a]:.1f}")


if __name__ == "__main__":
    main()
