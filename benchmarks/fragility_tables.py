"""Print the README's fragility tables (markdown) from study JSONs written by `python -m ifexplorer fragility`.

    python benchmarks/fragility_tables.py docs/fragility/mnist79.json docs/fragility/iris.json
    python benchmarks/fragility_tables.py runs/a/fragility.json runs/b/fragility.json --merge docs/fragility/x.json
      (--compact: Pearson only, as in the README; --merge: one study from runs on the same data with
      different cells, experiments.fragility.merge_studies)

Per cell: activation flips θ(0) → θ_s, the kernel gap ‖K(θ_s) − H_L‖/‖H_L‖, Pearson / Spearman with
retraining per method, the Gauss–Newton IHVP's Pearson against PBRF (Bae et al.'s claim), and the share
of the retrained output change the Gauss–Newton IHVP keeps against theory §5's λQ_ii (from H_L and from
K(θ_s)); then the LDS per depth × λ."""
from __future__ import annotations

import sys

import numpy as np

from ifexplorer.experiments.fragility import METHODS, load_study, merge_studies

SHORT = {"ntk": "NTK", "ihvp_gn": "IHVP GN", "ihvp_hessian": "IHVP Hess", "lissa": "LiSSA", "cg": "CG",
         "pbrf": "PBRF"}


def _f(x, digits=2) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def cell_table(results, compact: bool = False) -> str:
    """compact: Pearson only, and "IHVP kept / λQ_ii(H_L)" in one column (the README's table)."""
    cells = sorted((c for r in results for c in r.cells), key=lambda c: (-c.reg, c.depth, c.width))
    methods = [m for m in METHODS if any(m in c.scores for c in cells)]
    stat = " P" if compact else " P / S"
    tail = ["IHVP GN vs PBRF", "IHVP kept / λQ_ii"] if compact else \
        ["IHVP GN vs PBRF", "IHVP kept", "λQ_ii (H_L)", "λQ_ii (K(θ_s))"]
    head = ["λ", "L", "width", "flips", "kernel gap"] + [SHORT[m] + stat for m in methods] + tail
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        if c.status != "done":
            lines.append(f"| {c.reg:g} | {c.depth} | {c.width} | failed: {c.message[:60]} |" + " |" * (len(head) - 4))
            continue
        row = [f"{c.reg:g}", str(c.depth), str(c.width), f"{100 * c.flip_fraction:.1f}%", _f(c.kernel_gap_trained)]
        if compact:
            row += [_f(c.score(m)) if m in c.scores else "" for m in methods]
            kept = f"{_f(np.nanmean(c.ihvp_retention))} / {_f(np.mean(c.lam_q_kernel))}"
            row += [_f(c.score("pbrf_vs_ihvp_gn")), kept]
        else:
            row += [f"{_f(c.score(m))} / {_f(c.score(m, 'spearman'))}" if m in c.scores else "" for m in methods]
            row += [_f(c.score("pbrf_vs_ihvp_gn")), _f(np.nanmean(c.ihvp_retention)), _f(np.mean(c.lam_q_kernel)),
                    _f(np.mean(c.lam_q_empirical))]
        if c.not_converged:
            row[2] += f" ({len(c.not_converged)} retrains failed)"
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def lds_table(results) -> str:
    seen = {}
    for r in results:
        for c in r.cells:
            seen.setdefault((c.reg, c.depth), {}).update({k: v for k, v in c.lds.items() if k.startswith("ntk")})
            for k, v in c.lds.items():
                if k.startswith("net"):
                    seen[(c.reg, c.depth)].setdefault(f"{k} w{c.width}", v)
    keys = sorted({k for v in seen.values() for k in v})
    lines = ["| λ | L | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for (reg, depth), v in sorted(seen.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
        lines.append(f"| {reg:g} | {depth} | " + " | ".join(_f(v.get(k), 3) for k in keys) + " |")
    return "\n".join(lines)


def main(argv) -> None:
    merge_to, compact = None, "--compact" in argv
    argv = [a for a in argv if a != "--compact"]
    if "--merge" in argv:
        k = argv.index("--merge")
        merge_to, argv = argv[k + 1], argv[:k] + argv[k + 2:]
    results = [load_study(p) for p in argv]
    if merge_to:
        results = [merge_studies(*results)]
        results[0].save(merge_to)
        print(f"# merged into {merge_to}")
    for r in results:
        cfg = r.config
        print(f"# {cfg['extra']}: n = {cfg['n_train']}, {cfg['n_examined']} retrained × {cfg['n_test']} test points "
              f"per cell, {len(r.cells)} cells, {r.seconds / 60:.0f} min{' (interrupted)' if r.interrupted else ''}")
    print(cell_table(results, compact))
    print()
    print(lds_table(results))


if __name__ == "__main__":
    main(sys.argv[1:])
