"""Full-size real data: fit, top-k influences, the eigendecomposition, slider moves and the density
estimate, against one n × n × n matrix product (GEMM) measured in the same process.

    python benchmarks/bench_scale.py --sizes 4000 8000 12000                  # Fashion-MNIST, 2 classes
    python benchmarks/bench_scale.py --sizes 10000 --classes 10               # ten outputs
    python benchmarks/bench_scale.py --sizes 500 --parts fit topk --test 100  # quick check
    python benchmarks/bench_scale.py --device cuda --sizes 20000 40000 --test 10000

Data: Fashion-MNIST IDX files (--data-dir, default Debian's /usr/share/datasets/fashion-mnist), rows
scaled to unit norm; --classes 2 labels "tops" (T-shirt, pullover, coat, shirt) +1 and the rest −1
(one output), --classes 10 one-hot (ten outputs). Without the files: random unit rows (|N(0, 1)|,
784 features) with labels from a random direction. λ = 1e-3, float64. Each size runs in its own
subprocess, so peak memory (VmHWM; on a GPU torch's max_memory_allocated) is that size's own.

Columns: fit = kernel + in-place inverse factor W + α and diag(Q) (median of --repeats); ratio = fit / one n³ GEMM; peak
= the fit's memory growth over the process before it, against the bound 2.2 × 8n²; est = the
model's estimate_fit_bytes; top1 = top-10 helpful + harmful for ONE test image, median over 20 images;
pass = top1 / one n × n matrix-vector product (a pass over all n² doubles of W's buffer, measured); topall =
top_influences_all for every test image; eigh = the one-time eigendecomposition (computed) and est
its predicted time; load = a second model on the same data loading it from the disk cache
(bit-identical: yes/no); move = one slider move (top-10 at a new t, one test image; median of 8);
grid = the same on a prefetched grid of 60 times (prefetch s = that batch); density = leave-one-out
KDE with likelihood-CV bandwidth on 10 PCA dimensions.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import median_seconds, peak_rss_bytes  # noqa: E402

from ifexplorer import InsufficientMemoryError  # noqa: E402

REG = 1e-3
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
TOPS = (0, 2, 4, 6)  # T-shirt/top, pullover, coat, shirt
PARTS = ("fit", "topk", "eigh", "slider", "density")


def load(n: int, m: int, classes: int, data_dir: str | None, seed: int = 0):
    """(X_train (n, 784), y_train, X_test (m, 784), y_test, source name)."""
    if data_dir and Path(data_dir, "train-images-idx3-ubyte.gz").exists():
        from ifexplorer import load_dataset

        d = load_dataset("idx", path=data_dir, classes="all", n_train=n, n_test=m, seed=seed)
        if classes == 10:
            return d.X_train, d.y_train, d.X_test, d.y_test, "Fashion-MNIST (10 classes)"
        tops = lambda labels: np.where(np.isin(labels, TOPS), 1.0, -1.0)  # noqa: E731
        return d.X_train, tops(d.labels_train), d.X_test, tops(d.labels_test), "Fashion-MNIST (tops vs rest)"
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(size=(n + m, 784)))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    w = rng.normal(size=784)
    score = (X - X.mean(axis=0)) @ w
    if classes == 10:
        y = np.eye(10)[np.digitize(score, np.quantile(score, np.linspace(0, 1, 11)[1:-1]))]
    else:
        y = np.sign(score)
    return X[:n], y[:n], X[n:], y[n:], "random unit rows"


def measure(n: int, args) -> dict:
    from ifexplorer import NTKInfluence, resolve_device
    from ifexplorer.density import log_density

    dev = resolve_device(args.device)
    Xtr, ytr, Xte, yte, source = load(n, args.test, args.classes, args.data_dir)
    row = {"n": n, "m": len(Xte), "C": 1 if ytr.ndim == 1 else ytr.shape[1], "source": source,
           "load_avg": os.getloadavg()[0], "device": str(dev)}
    parts = set(args.parts)

    def new_model():
        return NTKInfluence(reg=REG, device=args.device)

    # fit: the first one alone in the process for the peak, then the median
    before = _memory(dev)
    start = time.perf_counter()
    model = new_model().fit(Xtr, ytr)
    _sync(dev)
    first = time.perf_counter() - start
    row["peak_gb"] = (_peak(dev) - before) / 1e9
    row["bound_gb"] = 2.2 * 8 * n * n / 1e9
    row["est_gb"] = model.estimate_fit_bytes(n, Xtr.shape[1]) / 1e9
    times = [first]
    for _ in range(args.repeats - 1):
        del model
        start = time.perf_counter()
        model = new_model().fit(Xtr, ytr)
        _sync(dev)
        times.append(time.perf_counter() - start)
    row["fit"] = statistics.median(times)
    row["gemm"] = _gemm_seconds(n, dev)

    if "topk" in parts:
        probe = torch.randn(n, dtype=model.dtype_, device=dev)
        row["gemv_ms"] = 1e3 * median_seconds(lambda: torch.mv(model.inverse_factor_, probe), 7, dev)
        tops = []
        for i in range(min(20, len(Xte))):
            tops.append(median_seconds(lambda i=i: model.top_influences(Xte[i], yte[i], k=10), 1, dev))
        row["top1_ms"] = 1e3 * statistics.median(tops)
        start = time.perf_counter()
        model.top_influences_all(Xte, yte, k=10)
        _sync(dev)
        row["topall"] = time.perf_counter() - start

    own_cache = args.cache_dir is None and bool(parts & {"eigh", "slider"})
    cache = tempfile.mkdtemp(prefix="ifexplorer-bench-") if own_cache else args.cache_dir
    try:
        _spectral_parts(model, row, parts, args, Xte[0], yte[0], cache)
    except InsufficientMemoryError as exc:  # e.g. the eigendecomposition at n = 60,000 on one GPU
        row["refused"] = str(exc)
    finally:
        if own_cache:
            shutil.rmtree(cache, ignore_errors=True)

    if "density" in parts:
        start = time.perf_counter()
        log_density(Xtr)
        row["density"] = time.perf_counter() - start
    row["load_avg_end"] = os.getloadavg()[0]
    row["peak_rss_gb"] = peak_rss_bytes() / 1e9
    return row


def _spectral_parts(model, row, parts, args, x, y, cache) -> None:
    """The eigendecomposition (computed, then loaded by another process) and the slider moves on test
    image x with target y; the eigendecomposition is stored in the directory cache."""
    from ifexplorer import spectral_store as store
    from ifexplorer.dynamics import prefetch_times
    from ifexplorer.experiments.training_time import time_grid

    dev = model.device_
    if "eigh" in parts or "slider" in parts:
        os.environ[store.CACHE_ENV] = cache
        row["eigh_est"] = store.estimate_seconds(model.n_train_, dev)
        computed = store.computations()
        start = time.perf_counter()
        mu, V = model.eigendecomposition()
        _sync(dev)
        row["eigh"] = time.perf_counter() - start
        row["eigh_computed"] = store.computations() > computed
        digest = _digest(mu, V)
        del mu, V

    if "slider" in parts:
        grid = time_grid(model, 60)
        probe_times = np.geomspace(grid[5], grid[-5], 9) * 1.0001  # not on the grid
        model.at_time(probe_times[0]).top_influences(x, y, 10)  # caches Vᵀk(x), as the app's first view does
        moves = [median_seconds(lambda t=t: model.at_time(t).top_influences(x, y, 10), 1, dev) for t in probe_times[1:]]
        row["move_ms"] = 1e3 * statistics.median(moves)
        start = time.perf_counter()
        prefetch_times(model, grid)
        row["prefetch"] = time.perf_counter() - start
        on_grid = [median_seconds(lambda t=t: model.at_time(t).top_influences(x, y, 10), 1, dev) for t in grid[10:50:5]]
        row["grid_ms"] = 1e3 * statistics.median(on_grid)

    if "eigh" in parts:  # another process, the same inputs and λ (other targets): loads the stored result
        cmd = [sys.executable, __file__, "--load-check", str(model.n_train_)] + _forward(sys.argv[1:])
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **{store.CACHE_ENV: cache}))
        if out.returncode:
            raise RuntimeError(f"the load check failed:\n{out.stderr[-2000:]}")
        other = json.loads(out.stdout.strip().splitlines()[-1])
        row["eigh_load"] = other["seconds"]
        row["bit_identical"] = other["digest"] == digest and not other["computed"]


def load_check(n: int, args) -> dict:
    """Fit on the same inputs with flipped targets and time eigendecomposition() (from the disk cache)."""
    from ifexplorer import NTKInfluence
    from ifexplorer import spectral_store as store

    Xtr, ytr, *_ = load(n, args.test, args.classes, args.data_dir)
    model = NTKInfluence(reg=REG, device=args.device).fit(Xtr, -ytr)
    start = time.perf_counter()
    mu, V = model.eigendecomposition()
    _sync(model.device_)
    return {"seconds": time.perf_counter() - start, "digest": _digest(mu, V), "computed": store.computations() > 0}


def _gemm_seconds(n: int, dev) -> float:
    a = torch.randn(n, n, dtype=torch.float64, device=dev)
    b = torch.randn(n, n, dtype=torch.float64, device=dev)
    return median_seconds(lambda: a @ b, 3, dev)


def _digest(mu, V) -> str:
    h = hashlib.blake2b(digest_size=16)
    for t in (mu, V):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _memory(dev) -> int:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        return torch.cuda.memory_allocated(dev)
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        fh.write("5")
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))


def _peak(dev) -> int:
    return torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else peak_rss_bytes()


def _sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _cell(r: dict, key: str, fmt: str, scale: float = 1.0) -> str:
    v = r.get(key)
    return "—" if v is None else format(v * scale, fmt)


def print_table(rows: list[dict]) -> None:
    print("| n | C | m | GEMM s | fit s | fit/GEMM | peak GB | 2.2·8n² GB | est GB | top1 ms | top1/pass | "
          "topall s | eigh s | est s | load s | same | move ms | grid ms | prefetch s | density s | load avg |")
    print("|" + "---|" * 21)
    for r in rows:
        eigh = _cell(r, "eigh", ".0f") + ("" if r.get("eigh_computed", True) else " (cached)")
        same = "—" if "bit_identical" not in r else ("yes" if r["bit_identical"] else "NO")
        ratio = "—" if "top1_ms" not in r else f"{r['top1_ms'] / r['gemv_ms']:.2f}"
        cells = [str(r["n"]), str(r["C"]), str(r["m"]), f"{r['gemm']:.1f}", f"{r['fit']:.1f}",
                 f"{r['fit'] / r['gemm']:.2f}", f"{r['peak_gb']:.2f}", f"{r['bound_gb']:.2f}", f"{r['est_gb']:.2f}",
                 _cell(r, "top1_ms", ".0f"), ratio, _cell(r, "topall", ".1f"), eigh, _cell(r, "eigh_est", ".0f"),
                 _cell(r, "eigh_load", ".1f"), same, _cell(r, "move_ms", ".0f"), _cell(r, "grid_ms", ".0f"),
                 _cell(r, "prefetch", ".1f"), _cell(r, "density", ".1f"),
                 f"{r['load_avg']:.1f}–{r['load_avg_end']:.1f}"]
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        if "refused" in r:
            print(f"n = {r['n']}: eigendecomposition / slider refused: {r['refused']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 12000])
    parser.add_argument("--test", type=int, default=2000, help="test images (top-k for all of them)")
    parser.add_argument("--classes", type=int, choices=[2, 10], default=2)
    parser.add_argument("--data", choices=["fashion", "random"], default="fashion")
    parser.add_argument("--data-dir", default=DEFAULT_DATA)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--repeats", type=int, default=3, help="fits per size (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", default=None, help="eigendecomposition cache (default: a new temporary one)")
    parser.add_argument("--json", default=None, help="append each size's measurements to this file (JSON lines)")
    parser.add_argument("--table", default=None, help="only print the table of a --json file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-check", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.table:
        print_table([json.loads(line) for line in Path(args.table).read_text().splitlines() if line.strip()])
        return 0
    if args.data == "random":
        args.data_dir = None
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return 0
    if args.load_check:
        print(json.dumps(load_check(args.load_check, args)))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, float64, λ = {REG}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n)] + _forward(argv if argv is not None else sys.argv[1:])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"n = {n} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(rows[-1]) + "\n")
        print(f"n = {n} done ({rows[-1]['source']})", flush=True)
    print_table(rows)
    return 0


def _forward(argv: list[str]) -> list[str]:
    """The command line without --sizes / --json (the child measures one size and prints JSON)."""
    out, skip = [], False
    for a in argv:
        if a in ("--sizes", "--json", "--one", "--load-check"):
            skip = True
            continue
        if skip and not a.startswith("--"):
            continue
        skip = False
        out.append(a)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
