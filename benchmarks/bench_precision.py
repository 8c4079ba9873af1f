"""How many digits float32 keeps: the full influence matrix in float32 against float64.

    python benchmarks/bench_precision.py                 # n = 800, 2000, 4000 on the CPU
    python benchmarks/bench_precision.py --device cuda   # the real float32 path on a GPU

The engine allows float32 only on a GPU (dtype="float32"), and only where the error stays under
1e-5 relative; this script measures that error. On the CPU it runs the same float32 arithmetic by
lifting the CPU refusal inside this script only. Data: real MNIST, 10 classes one-hot, 200 test points.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import ifexplorer.influence as influence_module
from ifexplorer import NTKInfluence, device_label, load_dataset


def relative_error(n: int, reg: float, device: str) -> float:
    ds = load_dataset("mnist", classes="all", n_train=n, n_test=200, seed=0)
    exact = NTKInfluence(reg=reg, device=device).fit(ds.X_train, ds.y_train).influence(ds.X_test, ds.y_test)
    allow = influence_module.resolve_dtype
    influence_module.resolve_dtype = lambda dtype, dev: torch.float64 if dtype is None else torch.float32
    try:
        single = NTKInfluence(reg=reg, device=device, dtype="float32").fit(ds.X_train, ds.y_train)
        approx = single.influence(ds.X_test, ds.y_test)
    finally:
        influence_module.resolve_dtype = allow
    return float(np.abs(approx - exact).max() / np.abs(exact).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[800, 2000, 4000])
    parser.add_argument("--regs", type=float, nargs="+", default=[1e-4, 1e-3, 1e-1])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"device: {device_label(args.device)}; max |I32 − I64| / max |I64| over a 200 × n influence matrix")
    print(f"{'n':>6} " + " ".join(f"{f'λ={r:g}':>10}" for r in args.regs))
    for n in args.sizes:
        errs = [relative_error(n, reg, args.device) for reg in args.regs]
        print(f"{n:>6} " + " ".join(f"{e:>10.1e}" + ("*" if e > 1e-5 else " ") for e in errs))
    print("* above the 1e-5 relative budget: keep float64 (the default) there")


if __name__ == "__main__":
    main()
