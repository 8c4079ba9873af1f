"""The paper's findings, measured with the package on real data (not a speed benchmark).

Prints markdown tables (the README's "What the studies show"):
  1. IHVP error against λ (Figure 2, Theorem 3) on MNIST 7 vs 9;
  2. IHVP error against density (Figure 3, Theorem 4): MNIST with the estimated density, and the
     simulated mixture with its true density;
  3. complexity of influence-ordered groups (Figure 5);
  4. label noise over training time (Figure 7) and mislabel detection by self-influence.

    python benchmarks/findings.py            # about a minute on 2 CPU cores
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from ifexplorer import NTKInfluence, load_dataset
from ifexplorer.density import log_density
from ifexplorer.experiments.complexity import group_complexity
from ifexplorer.experiments.ihvp import error_vs_density, error_vs_reg
from ifexplorer.experiments.training_time import mislabel_detection, noisy_share, time_grid

REGS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]


def ihvp_against_reg(data) -> None:
    r = error_vs_reg(data.X_train, data.y_train, REGS, data.X_test[:50], data.y_test[:50])
    print("\n### 1. IHVP error against λ (MNIST 7 vs 9, n = 800; Figure 2)\n")
    print("| λ | mean 1 − λQ_ii | median | Theorem 3 lower | upper | median \\|I_ihvp − I\\|/\\|I\\| (50 test × 800) |")
    print("|---|---|---|---|---|---|")
    for j, lam in enumerate(r.regs):
        print(f"| {lam:g} | {r.mean_error[j]:.3f} | {r.median_error[j]:.3f} | {r.lower_bound[j]:.3f} | "
              f"{r.upper_bound[j]:.3f} | {r.influence_error[j]:.3f} |")


def ihvp_against_density(data, mixture, regs=(1e-3, 1e-1)) -> None:
    print("\n### 2. IHVP error against density (Figure 3, Theorem 4)\n")
    print("| data | density | λ | Spearman ρ(log-density, error) | mean error, sparsest 10 % | densest 10 % |")
    print("|---|---|---|---|---|---|")
    for name, ds, dens, kind in (
            ("MNIST 7 vs 9, n = 800", data, log_density(data.X_train), "leave-one-out KDE, 10 PCA dims"),
            ("mixture, 4 vMF components, weights 0.4/0.3/0.2/0.1, d = 3, n = 800", mixture,
             np.log(mixture.density_train), "true")):
        for reg in regs:
            error = NTKInfluence(reg=reg).fit(ds.X_train, ds.y_train).ihvp_error()
            r = error_vs_density(error, dens, n_bins=10)
            print(f"| {name} | {kind} | {reg:g} | {r.spearman:+.3f} | {r.bin_mean_error[0]:.3f} | "
                  f"{r.bin_mean_error[-1]:.3f} |")


def complexity_of_groups(data, reg: float) -> None:
    model = NTKInfluence(reg=reg).fit(data.X_train, data.y_train)
    scores = model.influence(data.X_test, data.y_test).sum(axis=0)
    g = group_complexity(model, scores, n_groups=10)
    print(f"\n### 3. Complexity of influence-ordered groups (MNIST 7 vs 9, λ = {reg:g}; Figure 5)\n")
    print("| group (most harmful → most helpful) | " + " | ".join(str(k + 1) for k in range(len(g.complexity))) + " |")
    print("|---|" + "---|" * len(g.complexity))
    print("| mean influence on the test set | " + " | ".join(f"{s:+.2g}" for s in g.mean_score) + " |")
    print("| complexity C_G | " + " | ".join(f"{c:.3g}" for c in g.complexity) + " |")


def label_noise(noisy, reg: float, k: int = 10) -> None:
    model = NTKInfluence(reg=reg).fit(noisy.X_train, noisy.y_train)
    times = time_grid(model, n_points=40)
    times = times if np.isinf(times[-1]) else np.append(times, np.inf)
    share = noisy_share(model, noisy.X_test, noisy.y_test, noisy.noisy_train, times, k=k)
    best = int(np.nanargmin(share.test_loss))
    print(f"\n### 4. Label noise over training time (MNIST 7 vs 9, 10 % of 800 labels flipped, λ = {reg:g}; Figure 7)\n")
    print(f"| t | test loss | share of flipped labels among each test point's {k} most influential |")
    print("|---|---|---|")
    for j in sorted({1, len(times) // 4, len(times) // 2, best, 3 * len(times) // 4, len(times) - 2, len(times) - 1}):
        mark = " (lowest test loss)" if j == best else ""
        print(f"| {times[j]:.3g}{mark} | {share.test_loss[j]:.4f} | {share.share[j]:.3f} |")
    print(f"\nrandom choice: {share.base_rate:.3f}\n")
    print("| self-influence at t | flipped labels found in top 5 % | top 10 % | top 20 % | ROC AUC |")
    print("|---|---|---|---|---|")
    for t, label in ((times[best], f"{times[best]:.3g} (lowest test loss)"), (np.inf, "∞")):
        m = mislabel_detection(model, noisy.noisy_train, t)
        print(f"| {label} | {m.found[0]:.2f} | {m.found[1]:.2f} | {m.found[2]:.2f} | {m.auc:.3f} |")
    print("| random ranking | 0.05 | 0.10 | 0.20 | 0.500 |")


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    start = time.perf_counter()
    data = load_dataset("mnist")
    mixture = load_dataset("mixture", n_train=800, n_test=100, dim=3, weights=[0.4, 0.3, 0.2, 0.1])
    noisy = load_dataset("mnist", label_noise=0.1)
    ihvp_against_reg(data)
    ihvp_against_density(data, mixture)
    complexity_of_groups(data, reg=1e-3)
    label_noise(noisy, reg=1e-3)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
