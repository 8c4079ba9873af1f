"""The paper's findings, measured with the package on real data (not a speed benchmark).

Prints markdown tables (the README's "What the studies show") of ifexplorer.experiments.findings, on
MNIST 7 vs 9 (n = 800) or, with --data fashion, the paper's size on Fashion-MNIST (5,000 / 1,000):
  1. IHVP error against λ (Figure 2, Theorem 3);
  2. IHVP error against density (Figure 3, Theorem 4): the real data with the estimated density, and the
     simulated mixture with its true density;
  3. complexity of influence-ordered groups (Figure 5);
  4. label noise over training time (Figure 7) and mislabel detection by self-influence.
tests/test_findings.py checks their trends.

    python benchmarks/findings.py                  # MNIST: about 30 s on 2 CPU cores
    python benchmarks/findings.py --data fashion   # Fashion-MNIST Shirt vs T-shirt/top, 5,000 / 1,000
"""
from __future__ import annotations

import argparse
import time

from ifexplorer.experiments import findings
from ifexplorer.experiments.ihvp import ErrorVsReg


def print_ihvp_against_reg(r: ErrorVsReg, name: str, n: int) -> None:
    print(f"\n### 1. IHVP error against λ ({name}; Figure 2)\n")
    print("| λ | mean 1 − λQ_ii | median | Theorem 3 lower | upper | median \\|I_ihvp − I\\|/\\|I\\| "
          f"({findings.IHVP_TEST_POINTS} test × {n:,}) |")
    print("|---|---|---|---|---|---|")
    for j, lam in enumerate(r.regs):
        print(f"| {lam:g} | {r.mean_error[j]:.3f} | {r.median_error[j]:.3f} | {r.lower_bound[j]:.3f} | "
              f"{r.upper_bound[j]:.3f} | {r.influence_error[j]:.3f} |")


def print_ihvp_against_density(rows: tuple[findings.DensityFinding, ...]) -> None:
    print("\n### 2. IHVP error against density (Figure 3, Theorem 4)\n")
    print("| data | density | λ | Spearman ρ(log-density, error) | mean error, sparsest 10 % | densest 10 % |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        r = row.result
        print(f"| {row.data} | {row.density} | {row.reg:g} | {r.spearman:+.3f} | {r.bin_mean_error[0]:.3f} | "
              f"{r.bin_mean_error[-1]:.3f} |")


def print_complexity_of_groups(finding: findings.GroupsFinding, name: str) -> None:
    g = finding.groups
    print(f"\n### 3. Complexity of influence-ordered groups ({name}, λ = {finding.reg:g}; Figure 5)\n")
    print("| group (most harmful → most helpful) | " + " | ".join(str(k + 1) for k in range(len(g.complexity))) + " |")
    print("|---|" + "---|" * len(g.complexity))
    print("| mean influence on the test set | " + " | ".join(f"{s:+.2g}" for s in g.mean_score) + " |")
    print("| complexity C_G | " + " | ".join(f"{c:.3g}" for c in g.complexity) + " |")


def print_label_noise(finding: findings.NoiseFinding, name: str, n: int) -> None:
    share, best = finding.share, finding.best
    times = share.times
    print(f"\n### 4. Label noise over training time ({name}, 10 % of {n:,} labels flipped, "
          f"λ = {finding.reg:g}; Figure 7)\n")
    print(f"| t | test loss | share of flipped labels among each test point's {share.k} most influential |")
    print("|---|---|---|")
    for j in sorted({1, len(times) // 4, len(times) // 2, best, 3 * len(times) // 4, len(times) - 2, len(times) - 1}):
        mark = " (lowest test loss)" if j == best else ""
        print(f"| {times[j]:.3g}{mark} | {share.test_loss[j]:.4f} | {share.share[j]:.3f} |")
    print(f"\nrandom choice: {share.base_rate:.3f}\n")
    print("| self-influence at t | flipped labels found in top 5 % | top 10 % | top 20 % | ROC AUC |")
    print("|---|---|---|---|---|")
    for m, label in ((finding.detection_at_best, f"{times[best]:.3g} (lowest test loss)"),
                     (finding.detection_final, "∞")):
        print(f"| {label} | {m.found[0]:.2f} | {m.found[1]:.2f} | {m.found[2]:.2f} | {m.auc:.3f} |")
    print("| random ranking | 0.05 | 0.10 | 0.20 | 0.500 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=sorted(findings.SETTINGS), default="mnist")
    args = parser.parse_args()
    start = time.perf_counter()
    data = findings.load_findings_data(args.data)
    measured = findings.measure_findings(data)
    n = len(data.mnist.X_train)
    print_ihvp_against_reg(measured.ihvp_vs_reg, data.name, n)
    print_ihvp_against_density(measured.ihvp_vs_density)
    print_complexity_of_groups(measured.groups, data.name)
    print_label_noise(measured.label_noise, data.name, n)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
