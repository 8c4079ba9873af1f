"""Does the NTK influence match real leave-one-out retraining of a finite network? (MATH §7; the
paper's Table 1 and Figure 1.)

For each width: train the two-layer ReLU network once, pick training points (the most influential by
|NTK influence| on the chosen test points, plus random ones), retrain from the same W(0) without each,
and compare the actual change of the test loss, ℓ(f⁻ⁱ(x)) − ℓ(f(x)) with ℓ = ½‖f − y‖², against

    ntk         the NTK influence of MATH §4, fitted to the residual of the initial network
                (f0 ≡ 0 with the antisymmetric init; MATH §7's correction otherwise),
    ihvp_exact  Koh & Liang's estimate ∇ℓ_xᵀ Hess⁻¹ ∇ℓ_i with the network's exact Hessian,
    lissa, cg   the same with Hess⁻¹∇ℓ_x from LiSSA / conjugate gradient on Hessian-vector products,

by Pearson and Spearman correlation pooled over (retrained point, test point) pairs.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

from .. import network as N
from .._checks import check_positive
from ..device import device_label
from ..influence import NTKInfluence

Progress = Callable[[float, str], None]
METHODS = ("ntk", "ihvp_exact", "lissa", "cg")
LISSA_DEFAULTS = dict(damping=0.01, scale=None, depth=500, batch_size=16, repeats=1)  # scale None: 1.5·λ_max(Hess)
CG_DEFAULTS = dict(damping=0.0, max_iter=50, tol=1e-8)
SCHEMA = "ifexplorer.validation/1"


def no_progress(fraction: float, message: str) -> None:
    pass


@dataclass
class WidthResult:
    """One width. actual (R, m): test-loss change when training point train_indices[r] is removed, at
    test point test_indices[j]; predicted[method] the same shape; scores[method] = {pearson, spearman,
    relative_error (‖pred − actual‖/‖actual‖), median_relative_error}. Rows of retrains that did not
    finish (interrupted) are dropped."""
    width: int
    train_indices: list
    test_indices: list
    actual: np.ndarray
    predicted: dict
    scores: dict
    train: dict
    seconds_per_retrain: float
    retrain_seconds: float
    loo_flip_fraction: float
    loo_steps_median: float
    solver_info: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def n_retrained(self) -> int:
        return int(self.actual.shape[0])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_retrained"] = self.n_retrained
        d["methods"] = d.pop("scores")
        d["actual"] = self.actual.tolist()
        d["predicted"] = {k: v.tolist() for k, v in self.predicted.items()}
        return _jsonable(d)


@dataclass
class ValidationResult:
    """All widths (in the order run) and the settings; interrupted when Ctrl-C / should_stop ended it."""
    config: dict
    widths: list
    device: str
    seconds: float = 0.0
    interrupted: bool = False

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "config": _jsonable(self.config), "device": self.device,
                "seconds": self.seconds, "interrupted": self.interrupted,
                "widths": [w.to_dict() for w in self.widths]}

    def save(self, path) -> Path:
        """Write the JSON (atomically: a partial run never leaves a truncated file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)
        return path

    def table(self) -> list[dict]:
        """One row per width: Pearson/Spearman per method, seconds per retrain, flip fraction."""
        rows = []
        for w in self.widths:
            row = {"width": w.width, "retrains": w.n_retrained, "flip_fraction": w.train["flip_fraction"],
                   "seconds_per_retrain": w.seconds_per_retrain}
            for m, s in w.scores.items():
                row[f"{m}_pearson"], row[f"{m}_spearman"] = s["pearson"], s["spearman"]
            rows.append(row)
        return rows


# ------------------------------------------------------------------------------------ the study
def run_validation(X_train, y_train, X_test, y_test, *, widths=(256, 1024, 4096), reg: float = 0.1,
                   n_retrain: int = 30, n_test: int = 3, top_fraction: float = 0.5, kappa: float = 1.0,
                   antisymmetric: bool = True, seed: int = 0, methods=METHODS, lissa: dict | None = None,
                   cg: dict | None = None, chunk_size: int | None = None, dtype=None, device: str = "auto",
                   max_steps: int = 20000, out: str | Path | None = None, progress: Progress | None = None,
                   should_stop: Callable[[], bool] | None = None, config_extra: dict | None = None
                   ) -> ValidationResult:
    """Run the study on X_train (n, d), y_train (n,) ±1 or (n, C), X_test/y_test (≥ n_test rows).

    widths: network widths (even with the antisymmetric init). reg: λ. n_retrain: training points
    retrained per width, top_fraction of them the most influential by max_j |I_ntk(i, x_j)|, the rest
    drawn at random (seeded). n_test: test points used (the first n_test). kappa: std of W(0).
    lissa / cg: solver options (see LISSA_DEFAULTS, CG_DEFAULTS). out: JSON path written after every
    width and on interruption. progress(fraction, message); should_stop() -> True or Ctrl-C ends the
    study keeping every finished retrain (result.interrupted). Returns a ValidationResult."""
    progress = progress or no_progress
    widths = [N._check_int(w, "width", 1) for w in np.atleast_1d(widths).tolist()]
    if not widths:
        raise ValueError("widths is empty; give at least one network width")
    methods = _check_methods(methods)
    n = len(X_train)
    n_retrain = N._check_int(n_retrain, "n_retrain", 1)
    if n_retrain > n:
        raise ValueError(f"n_retrain = {n_retrain} exceeds the {n} training points")
    n_test = N._check_int(n_test, "n_test", 1)
    if n_test > len(X_test):
        raise ValueError(f"n_test = {n_test} exceeds the {len(X_test)} test points")
    reg = check_positive(reg, "reg (λ)")
    seed = N._check_int(seed, "seed", 0)
    if isinstance(top_fraction, bool) or not isinstance(top_fraction, (int, float, np.number)) \
            or not 0 <= top_fraction <= 1:
        raise ValueError(f"top_fraction must be a number in [0, 1]; got {top_fraction!r}")
    lissa_opts = _options(lissa, LISSA_DEFAULTS, "lissa")
    cg_opts = _options(cg, CG_DEFAULTS, "cg")
    config = dict(widths=widths, reg=float(reg), n_train=n, n_retrain=n_retrain, n_test=n_test,
                  top_fraction=top_fraction, kappa=float(kappa), antisymmetric=bool(antisymmetric), seed=int(seed),
                  methods=list(methods), lissa=lissa_opts, cg=cg_opts, max_steps=max_steps, **(config_extra or {}))
    result = ValidationResult(config, [], "")
    X_test, y_test = np.asarray(X_test)[:n_test], np.asarray(y_test)[:n_test]
    t0 = time.perf_counter()
    for k, width in enumerate(widths):
        sub = _sub_progress(progress, k / len(widths), (k + 1) / len(widths), f"width {width}")
        try:
            wres = _one_width(X_train, y_train, X_test, y_test, width, reg, n_retrain, top_fraction, kappa,
                              antisymmetric, seed, methods, lissa_opts, cg_opts, chunk_size, dtype, device,
                              max_steps, sub, should_stop)
        except KeyboardInterrupt:
            result.interrupted = True
            break
        finally:
            result.seconds = time.perf_counter() - t0
        result.device = wres.train.get("device", result.device)
        if wres.n_retrained:
            result.widths.append(wres)
        if out is not None:
            result.interrupted = wres.interrupted
            result.save(out)
        if wres.interrupted or (should_stop is not None and should_stop()):
            result.interrupted = True
            break
    result.seconds = time.perf_counter() - t0
    if out is not None:
        result.save(out)
    progress(1.0, "interrupted: finished retrains kept" if result.interrupted else "done")
    return result


def _one_width(X_train, y_train, X_test, y_test, width, reg, n_retrain, top_fraction, kappa, antisymmetric,
               seed, methods, lissa_opts, cg_opts, chunk_size, dtype, device, max_steps, progress, should_stop):
    C = 1 if np.ndim(y_train) == 1 else np.shape(y_train)[1]
    net = N.TwoLayerReLU(width, np.shape(X_train)[1], C, kappa=kappa, seed=seed, antisymmetric=antisymmetric,
                         device=device, dtype=dtype)
    progress(0.0, f"training width {width}")
    fit = N.train(net, X_train, y_train, reg, max_steps=max_steps, progress=_sub_progress(progress, 0, 0.1, "train"))
    Xe, ye = net.inputs(X_test, "X_test"), net.targets(y_test, len(X_test), "y_test")[0]
    # NTK influence of the network's own initial function: fit the kernel to y − f0 (MATH §7).
    f0_train, f0_test = net.forward(fit.X), net.forward(Xe)
    ntk = NTKInfluence(reg=reg, device=device).fit(_np(fit.X), _np(fit.y - f0_train))
    ntk_I = ntk.influence(_np(Xe), _np(ye - f0_test)).reshape(len(X_test), -1)
    idx = select_points(ntk_I, n_retrain, top_fraction, seed)
    predicted, info = {}, {}
    if "ntk" in methods:
        predicted["ntk"] = ntk_I[:, idx].T
        if not antisymmetric:  # what one gets by ignoring f0 ≠ 0 (MATH §7 measured Pearson 0.88 instead of 0.996)
            plain = NTKInfluence(reg=reg, device=device).fit(_np(fit.X), _np(fit.y))
            predicted["ntk_uncorrected"] = plain.influence(_np(Xe), _np(ye)).reshape(len(X_test), -1)[:, idx].T
    analysis = fit.analysis()
    if "ihvp_exact" in methods:
        predicted["ihvp_exact"] = _np(analysis.exact_influence(Xe, ye))[:, idx].T
    for step, solver in enumerate(m for m in ("lissa", "cg") if m in methods):
        progress(0.1 + 0.05 * step, f"{solver} for {len(X_test)} test point(s)")
        opts = dict(lissa_opts if solver == "lissa" else cg_opts)
        if solver == "lissa" and opts.get("scale") is None:
            opts["scale"] = 1.5 * analysis.hessian_max_eigenvalue()
        t = time.perf_counter()
        I, infos = _solve(analysis, Xe, ye, solver, opts)
        predicted[solver] = _np(I)[:, idx].T
        info[solver] = {"options": opts, "seconds": time.perf_counter() - t, "runs": infos}
    loo = N.retrain_loo(fit, idx, X_eval=Xe, chunk_size=chunk_size, max_steps=max_steps,
                        progress=_sub_progress(progress, 0.2, 1.0, "retrain"), should_stop=should_stop)
    done = loo.completed
    f = _np(net.forward(Xe, fit.W))
    yv = _np(ye)
    actual = 0.5 * ((loo.eval_predictions[done] - yv) ** 2).sum(-1) - 0.5 * ((f - yv) ** 2).sum(-1)
    predicted = {k: v[done] for k, v in predicted.items()}
    scores = {k: agreement(actual, v) for k, v in predicted.items()}
    train_info = dict(steps=fit.steps, seconds=fit.seconds, flip_fraction=fit.flip_fraction,
                      grad_norm=fit.grad_norm, step_decays=fit.step_decays, final_loss=float(fit.losses[-1]),
                      lr=fit.schedule.lr, momentum=fit.schedule.momentum, curvature=fit.schedule.curvature,
                      device=device_label(net.device), dtype=str(net.dtype).replace("torch.", ""))
    n_done = int(done.sum())
    return WidthResult(width, idx[done].tolist(), list(range(len(X_test))), actual, predicted, scores, train_info,
                       loo.seconds / max(n_done, 1), loo.seconds,
                       float(np.nanmean(loo.flip_fraction)) if n_done else math.nan,
                       float(np.median(loo.steps[done])) if n_done else math.nan, info, loo.interrupted)


def _solve(analysis, Xe, ye, solver, opts, retries: int = 3):
    """solver_influence; when LiSSA diverges (a mini-batch Hessian above the scale) the scale is doubled,
    up to `retries` times, and opts["scale"] records the one used."""
    for attempt in range(retries + 1):
        try:
            return analysis.solver_influence(Xe, ye, solver, **opts)
        except ValueError as exc:
            if solver != "lissa" or "increase scale" not in str(exc) or attempt == retries:
                raise
            opts["scale"] *= 2


def select_points(influence: np.ndarray, n_retrain: int, top_fraction: float, seed: int) -> np.ndarray:
    """Training indices to retrain: the round(top_fraction·n_retrain) largest by max over test points of
    |I(i, x)|, then random others (seeded). influence (m, n). Returns (n_retrain,) int."""
    n = influence.shape[1]
    n_top = int(round(top_fraction * n_retrain))
    order = np.argsort(-np.abs(influence).max(axis=0), kind="stable")
    top = order[:n_top]
    rest = np.setdiff1d(np.arange(n), top)
    rng = np.random.default_rng(seed)
    rand = rng.choice(rest, size=n_retrain - n_top, replace=False)
    return np.concatenate([top, np.sort(rand)]).astype(np.int64)


def agreement(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """Pearson and Spearman over all pairs, relative error ‖p − a‖/‖a‖, median |p − a|/|a|."""
    a, p = np.asarray(actual, float).ravel(), np.asarray(predicted, float).ravel()
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(p) == 0:
        pear = spear = math.nan
    else:
        pear, spear = float(pearsonr(a, p)[0]), float(spearmanr(a, p)[0])
    norm = np.linalg.norm(a)
    rel = float(np.linalg.norm(p - a) / norm) if norm > 0 else math.nan
    nz = np.abs(a) > 0
    med = float(np.median(np.abs(p[nz] - a[nz]) / np.abs(a[nz]))) if nz.any() else math.nan
    return {"pearson": pear, "spearman": spear, "relative_error": rel, "median_relative_error": med}


def load_result(path) -> dict:
    """Read a study's JSON back (as written by ValidationResult.save)."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a network-check result (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    return data


# -------------------------------------------------------------------------------------- helpers
def _check_methods(methods) -> tuple:
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {list(METHODS)}; got {list(methods)}")
    return methods


def _options(given: dict | None, defaults: dict, name: str) -> dict:
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {name} option(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **given}


def _sub_progress(progress: Progress, lo: float, hi: float, prefix: str) -> Progress:
    def report(fraction: float, message: str) -> None:
        progress(lo + (hi - lo) * min(1.0, max(0.0, float(fraction))), f"{prefix}: {message}")
    return report


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def figures(result) -> dict:
    """{"correlation_vs_width": Figure, "scatter_w<width>": Figure …} for a ValidationResult or its
    JSON dict (load_result)."""
    from ..plots.network import correlation_figure, scatter_figure

    data = result.to_dict() if isinstance(result, ValidationResult) else result
    ws = data["widths"]
    if not ws:
        raise ValueError("the study has no finished retrains to plot")
    figs = {"correlation_vs_width": correlation_figure([w["width"] for w in ws], [w["methods"] for w in ws])}
    for w in ws:
        figs[f"scatter_w{w['width']}"] = scatter_figure(w["actual"], w["predicted"], w["methods"], w["width"])
    return figs


def write_plots(result, out_dir) -> list[Path]:
    """Write every figure of `figures(result)` as HTML into out_dir (plotly.js once, beside them)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures(result).items():
        path = out / f"{name}.html"
        fig.write_html(path, include_plotlyjs="directory")
        paths.append(path)
    return paths


def training_subset(X, y, n: int, seed: int = 0):
    """A seeded random subset of n training points (order kept): (X (n, d), y (n,) or (n, C)).
    The network check retrains real networks, so it runs on a few hundred points at most on a CPU."""
    X, y = np.asarray(X), np.asarray(y)
    n = N._check_int(n, "n_train", 2)
    if n > len(X):
        raise ValueError(f"n_train = {n} exceeds the {len(X)} training points available")
    keep = np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))
    return X[keep], y[keep]
