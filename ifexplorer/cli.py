"""Command line (`ifexplorer …` or `python -m ifexplorer …`). Every setting is checked before the data are loaded.

`validate` runs the network check (theory §7) and writes DIR/validation.json plus the plots
(DIR/scatter_w<width>.html, DIR/correlation_vs_width.html). Ctrl-C stops it after keeping every finished
retrain: the JSON then holds the completed widths and the finished retrains of the interrupted one
("interrupted": true).

`fragility` runs the fragility study (experiments.fragility.run_study: depth × width × λ on real deep
ReLU networks) and writes DIR/fragility.json plus DIR/heatmap_<method>.html, DIR/ihvp_error_vs_depth.html
and DIR/scatter_L<depth>_w<width>_reg<λ>.html per cell. Ctrl-C keeps every finished cell."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ifexplorer", description="IF Explorer command line (also: python -m ifexplorer)")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="NTK influence against leave-one-out retraining of real networks",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    v.add_argument("--dataset", default="mnist", help="a name from ifexplorer.available_datasets()")
    v.add_argument("--classes", nargs="+", default=["7", "9"], help="class names or indices (two: ±1 labels)")
    v.add_argument("--n-train", type=int, default=200)
    v.add_argument("--n-test", type=int, default=3, help="test points whose loss change is measured")
    v.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    v.add_argument("--reg", type=float, default=0.1, help="λ, the pull to the initial weights")
    v.add_argument("--n-retrain", type=int, default=30, help="training points retrained per width")
    v.add_argument("--top-fraction", type=float, default=0.5,
                   help="share of retrained points chosen by |NTK influence|")
    v.add_argument("--kappa", type=float, default=1.0, help="std of the initial weights")
    v.add_argument("--standard-init", action="store_true",
                   help="independent neurons instead of antisymmetric pairs (f0 ≠ 0; the NTK is fitted to y − f0)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="float32 (GPU only) halves the memory")
    v.add_argument("--device", default="auto")
    v.add_argument("--chunk-size", type=int, default=None, help="retrains per batched job (default: from memory)")
    v.add_argument("--max-steps", type=int, default=20000)
    v.add_argument("--methods", nargs="+", default=["ntk", "ihvp_exact", "lissa", "cg"])
    v.add_argument("--lissa-depth", type=int, default=500)
    v.add_argument("--lissa-scale", type=float, default=None, help="default: 1.5 × λ_max(Hessian)")
    v.add_argument("--lissa-damping", type=float, default=0.01)
    v.add_argument("--lissa-batch-size", type=int, default=16)
    v.add_argument("--lissa-repeats", type=int, default=1)
    v.add_argument("--cg-iters", type=int, default=50)
    v.add_argument("--cg-damping", type=float, default=0.0)
    v.add_argument("--out", required=True, help="output folder")
    v.add_argument("--no-plots", action="store_true")
    _fragility_parser(sub)
    return p


def _fragility_parser(sub) -> None:
    from .experiments.fragility import METHODS

    f = sub.add_parser("fragility", help="influence against retraining over depth × width × λ (real deep networks)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f.add_argument("--dataset", default="mnist", help="a name from ifexplorer.available_datasets()")
    f.add_argument("--classes", nargs="+", default=["7", "9"], help="class names or indices, or 'all'")
    f.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4])
    f.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096], help="even (doubling init)")
    f.add_argument("--regs", type=float, nargs="+", default=[0.001, 0.01, 0.1, 1.0], help="λ values")
    f.add_argument("--n-train", type=int, default=100)
    f.add_argument("--n-test", type=int, default=4, help="test points whose loss change is measured")
    f.add_argument("--examined", type=int, default=6, help="training points retrained per cell")
    f.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    f.add_argument("--lds-subsets", type=int, default=100, help="M of the exact NTK-regime LDS (0: skip)")
    f.add_argument("--lds-test", type=int, default=50, help="test points of the NTK-regime LDS")
    f.add_argument("--net-lds-subsets", type=int, default=0,
                   help="M of the real networks' LDS (one retrain per subset and cell; 0: skip)")
    f.add_argument("--lissa-depth", type=int, default=200)
    f.add_argument("--cg-iters", type=int, default=30)
    f.add_argument("--max-steps", type=int, default=20000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a loaded CPU)")
    f.add_argument("--device", default="cpu")
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--no-plots", action="store_true")


def _classes(values):
    if list(values) == ["all"]:
        return "all"
    return tuple(int(c) if c.lstrip("-").isdigit() else c for c in values)


class _ProgressBar:
    """progress(fraction, message) as a tqdm bar on stderr, drawn at the first report (so a run refused
    for its arguments prints its error without an empty bar)."""

    def __init__(self):
        self.bar = None

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}",
                            file=sys.stderr)
        self.bar.n = int(1000 * fraction)
        self.bar.set_postfix_str(message[-70:], refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def validate(args) -> int:
    from .data import load_dataset
    from .experiments.network_check import NetworkCheckConfig, run_validation, write_plots

    classes = _classes(args.classes)
    config = NetworkCheckConfig(  # checks every setting before the data are loaded
        widths=args.widths, reg=args.reg, n_retrain=args.n_retrain, n_test=args.n_test,
        top_fraction=args.top_fraction, kappa=args.kappa, antisymmetric=not args.standard_init, seed=args.seed,
        methods=args.methods, chunk_size=args.chunk_size, dtype=args.dtype, device=args.device,
        max_steps=args.max_steps,
        lissa=dict(depth=args.lissa_depth, scale=args.lissa_scale, damping=args.lissa_damping,
                   batch_size=args.lissa_batch_size, repeats=args.lissa_repeats),
        cg=dict(max_iter=args.cg_iters, damping=args.cg_damping),
        extra=dict(dataset=args.dataset, classes=list(classes)))
    data = load_dataset(args.dataset, classes=classes, n_train=args.n_train, n_test=max(args.n_test, 10),
                        seed=args.seed)
    out = Path(args.out)
    progress = _ProgressBar()
    try:
        result = run_validation(data.X_train, data.y_train, data.X_test, data.y_test, config,
                                out=out / "validation.json", progress=progress)
    finally:
        progress.close()
    if not args.no_plots and result.widths:
        write_plots(result, out)
    print(format_table(result.table()))
    print(f"{'INTERRUPTED — partial results' if result.interrupted else 'wrote'} {out / 'validation.json'}")
    return 130 if result.interrupted else 0


def fragility(args) -> int:
    from .data import load_dataset
    from .experiments.fragility import FragilityConfig, run_study, write_plots

    classes = _classes(args.classes)
    config = FragilityConfig(  # checks every setting before the data are loaded
        depths=args.depths, widths=args.widths, regs=args.regs, n_examined=args.examined, n_test=args.n_test,
        methods=args.methods, lds_subsets_ntk=args.lds_subsets, lds_test=args.lds_test,
        lds_subsets_net=args.net_lds_subsets, seed=args.seed, max_steps=args.max_steps, lissa_depth=args.lissa_depth,
        cg_iters=args.cg_iters, threads=args.threads, device=args.device,
        extra=dict(dataset=args.dataset, classes=classes if isinstance(classes, str) else list(classes)))
    data = load_dataset(args.dataset, classes=classes, n_train=args.n_train,
                        n_test=max(args.n_test, args.lds_test), seed=args.seed)
    out = Path(args.out)
    progress = _ProgressBar()
    try:
        result = run_study(data.X_train, data.y_train, data.X_test, data.y_test, config,
                           out=out / "fragility.json", progress=progress)
    finally:
        progress.close()
    if not args.no_plots:
        write_plots(result, out)
    print(format_fragility(result.table()))
    print(f"{'INTERRUPTED — finished cells kept in' if result.interrupted else 'wrote'} {out / 'fragility.json'}")
    return 130 if result.interrupted else 0


def format_fragility(rows) -> str:
    """Markdown table: one row per cell, Pearson / Spearman per method, flips, IHVP retention against λQ_ii."""
    if not rows:
        return "(no finished cells)"
    from .experiments.fragility import METHODS

    methods = [m for m in METHODS if any(f"{m}_pearson" in r for r in rows)]
    head = ["L", "width", "λ", "retrains", "flips", "IHVP kept / λQ_ii"] + [f"{m} P / S" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r["status"] != "done":
            lines.append(f"| {r['depth']} | {r['width']} | {r['reg']:g} | failed |" + " |" * (len(head) - 4))
            continue
        cells = [str(r["depth"]), str(r["width"]), f"{r['reg']:g}",
                 f"{r['retrains']}" + (f" ({r['not_converged']} failed)" if r["not_converged"] else ""),
                 f"{100 * r['flip_fraction']:.1f}%", f"{_f(r['retention_mean'])} / {_f(r['lam_q_mean'])}"]
        cells += [f"{_f(r.get(m + '_pearson'))} / {_f(r.get(m + '_spearman'))}" for m in methods]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(rows) -> str:
    """Markdown table: width, retrains, flips, s/retrain, Pearson / Spearman per method."""
    if not rows:
        return "(no finished retrains)"
    methods = [k[: -len("_pearson")] for k in rows[0] if k.endswith("_pearson")]
    head = ["width", "retrains", "flips", "s/retrain"] + [f"{m} P / S" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["width"]), str(r["retrains"]), f"{100 * r['flip_fraction']:.1f}%",
                 f"{r['seconds_per_retrain']:.2f}"]
        cells += [f"{_f(r[m + '_pearson'])} / {_f(r[m + '_spearman'])}" for m in methods]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(x) -> str:
    return "—" if x is None or x != x else f"{x:.3f}"


def main(argv=None) -> int:
    """The `ifexplorer` / `python -m ifexplorer` command. Returns the exit code: 0 done (also for --help),
    2 bad arguments, 130 interrupted (partial results written)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's own usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    # Ctrl-C must raise KeyboardInterrupt (to keep the finished retrains) even when the shell
    # started us with SIGINT ignored (a background job of a non-interactive shell).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return fragility(args) if args.command == "fragility" else validate(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
