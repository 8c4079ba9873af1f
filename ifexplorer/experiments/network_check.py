"""Does the NTK influence match real leave-one-out retraining of a finite network? (theory §7; the
paper's Table 1 and Figure 1.)

For each width: train the two-layer ReLU network once, pick training points (the most influential by
|NTK influence| on the chosen test points, plus random ones), retrain from the same W(0) without each,
and compare the actual change of the test loss, ℓ(f⁻ⁱ(x)) − ℓ(f(x)) with ℓ = ½‖f − y‖², against

    ntk         the NTK influence of theory §4, fitted to the residual of the initial network
                (f0 ≡ 0 with the antisymmetric init; theory §7's correction otherwise),
    ihvp_exact  Koh & Liang's estimate ∇ℓ_xᵀ Hess⁻¹ ∇ℓ_i with the network's exact Hessian,
    lissa, cg   the same with Hess⁻¹∇ℓ_x from LiSSA / conjugate gradient on Hessian-vector products,

by Pearson and Spearman correlation pooled over (retrained point, test point) pairs.
"""
from __future__ import annotations

import dataclasses
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
from .. import solvers
from .._checks import check_fraction, check_int, check_nonnegative, check_positive
from ..device import device_label, resolve_device, resolve_dtype
from ..influence import NTKInfluence
from ..results import Progress, no_progress
from .serialize import jsonable

METHODS = ("ntk", "ihvp_exact", "lissa", "cg")
LISSA_DEFAULTS = dict(damping=0.01, scale=None, depth=500, batch_size=16, repeats=1)  # scale None: 1.5·λ_max(Hess)
CG_DEFAULTS = dict(damping=0.0, max_iter=50, tol=1e-8)
SCHEMA = "ifexplorer.validation/1"


@dataclass(frozen=True)
class NetworkCheckConfig:
    """The study's settings, checked when the config is made (so a bad one fails before any work).

    widths: network widths (even with the antisymmetric init). reg: λ. n_retrain: training points
    retrained per width, top_fraction of them the most influential by max_j |I_ntk(i, x_j)|, the rest
    drawn at random (seeded). n_test: test points used (the first n_test). kappa: std of W(0).
    antisymmetric: paired neurons, f0 ≡ 0 (else the NTK is fitted to y − f0). seed: W(0) and the random
    picks. methods: a subset of METHODS. lissa / cg: solver options over LISSA_DEFAULTS / CG_DEFAULTS
    (stored merged). chunk_size: retrains per batched job (None: from memory). dtype, device: as for
    TwoLayerReLU. max_steps: gradient steps per training. extra: more entries for the JSON config (the
    dataset's name, its classes). The dict fields make a config unhashable."""
    widths: tuple = (256, 1024, 4096)
    reg: float = 0.1
    n_retrain: int = 30
    n_test: int = 3
    top_fraction: float = 0.5
    kappa: float = 1.0
    antisymmetric: bool = True
    seed: int = 0
    methods: tuple = METHODS
    lissa: dict | None = None
    cg: dict | None = None
    chunk_size: int | None = None
    dtype: str | None = None
    device: str = "auto"
    max_steps: int = 20000
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        antisymmetric = _check_bool(self.antisymmetric, "antisymmetric")
        widths = tuple(check_int(w, "width", min_val=1) for w in np.atleast_1d(self.widths).tolist())
        if not widths:
            raise ValueError("widths must list at least one network width; got []")
        odd = [w for w in widths if w % 2]
        if antisymmetric and odd:
            raise ValueError(f"width must be even (the antisymmetric initialization pairs neurons); got {odd[0]}")
        checked = dict(
            widths=widths, reg=check_positive(self.reg, "reg (λ)"),
            n_retrain=check_int(self.n_retrain, "n_retrain", min_val=1),
            n_test=check_int(self.n_test, "n_test", min_val=1),
            top_fraction=check_fraction(self.top_fraction, "top_fraction", include_one=True),
            kappa=check_positive(self.kappa, "kappa (κ)"), antisymmetric=antisymmetric,
            seed=check_int(self.seed, "seed", min_val=0), methods=_check_methods(self.methods),
            lissa=_lissa_options(self.lissa), cg=_cg_options(self.cg),
            chunk_size=check_int(self.chunk_size, "chunk_size", min_val=1, allow_none=True),
            max_steps=check_int(self.max_steps, "max_steps", min_val=1), extra=dict(self.extra or {}),
        )
        resolve_dtype(self.dtype, resolve_device(self.device))  # refuses an unknown device or dtype now
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def to_dict(self, n_train: int) -> dict:
        """The JSON "config" of a study run on n_train training points."""
        return dict(widths=list(self.widths), reg=self.reg, n_train=n_train, n_retrain=self.n_retrain,
                    n_test=self.n_test, top_fraction=self.top_fraction, kappa=self.kappa,
                    antisymmetric=self.antisymmetric, seed=self.seed, methods=list(self.methods),
                    lissa=dict(self.lissa), cg=dict(self.cg), max_steps=self.max_steps, **self.extra)


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
        return jsonable(d)


@dataclass
class ValidationResult:
    """All widths (in the order run) and the settings; interrupted when Ctrl-C / should_stop ended it."""
    config: dict
    widths: list
    device: str
    seconds: float = 0.0
    interrupted: bool = False

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "config": jsonable(self.config), "device": self.device,
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
def run_validation(X_train, y_train, X_test, y_test, config: NetworkCheckConfig | None = None, *,
                   progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                   out: str | Path | None = None, **settings) -> ValidationResult:
    """Run the study on X_train (n, d), y_train (n,) ±1 or (n, C), X_test/y_test (≥ n_test rows).

    config: a NetworkCheckConfig (default: its defaults); keyword settings (widths=[…], reg=0.1, …, any
    NetworkCheckConfig field) replace its fields. out: JSON path written after every width and on
    interruption. progress(fraction, message); should_stop() -> True or Ctrl-C ends the study keeping
    every finished retrain (result.interrupted). Returns a ValidationResult."""
    progress = progress or no_progress
    config = _configure(config, settings)
    n = len(X_train)
    if config.n_retrain > n:
        raise ValueError(f"n_retrain must be at most the {n} training points; got {config.n_retrain}")
    if config.n_test > len(X_test):
        raise ValueError(f"n_test must be at most the {len(X_test)} test points; got {config.n_test}")
    result = ValidationResult(config=config.to_dict(n), widths=[], device="")
    X_test, y_test = np.asarray(X_test)[:config.n_test], np.asarray(y_test)[:config.n_test]
    t0 = time.perf_counter()
    for k, width in enumerate(config.widths):
        sub = _sub_progress(progress, k / len(config.widths), (k + 1) / len(config.widths), f"width {width}")
        try:
            wres = _one_width(X_train, y_train, X_test, y_test, width, config, sub, should_stop)
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


def _configure(config: NetworkCheckConfig | None, settings: dict) -> NetworkCheckConfig:
    """config (or the defaults) with the keyword settings replacing its fields."""
    config = NetworkCheckConfig() if config is None else config
    if not isinstance(config, NetworkCheckConfig):
        raise TypeError(f"config must be a NetworkCheckConfig; got {type(config).__name__}")
    known = [f.name for f in dataclasses.fields(NetworkCheckConfig)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TypeError(f"run_validation() got unknown setting(s) {unknown}; the settings are {known}")
    return dataclasses.replace(config, **settings) if settings else config


def _one_width(X_train, y_train, X_test, y_test, width: int, config: NetworkCheckConfig, progress: Progress,
               should_stop: Callable[[], bool] | None) -> WidthResult:
    """Train at one width, estimate with every method, retrain without the selected points, compare."""
    C = 1 if np.ndim(y_train) == 1 else np.shape(y_train)[1]
    net = N.TwoLayerReLU(width, np.shape(X_train)[1], C, kappa=config.kappa, seed=config.seed,
                         antisymmetric=config.antisymmetric, device=config.device, dtype=config.dtype)
    progress(0.0, f"training width {width}")
    fit = N.train(net, X_train, y_train, config.reg, max_steps=config.max_steps,
                  progress=_sub_progress(progress, 0, 0.1, "train"))
    Xe, ye = net.inputs(X_test, "X_test"), net.targets(y_test, len(X_test), "y_test")[0]
    # NTK influence of the network's own initial function: fit the kernel to y − f0 (theory §7).
    f0_train, f0_test = net.forward(fit.X), net.forward(Xe)
    ntk = NTKInfluence(reg=config.reg, device=config.device).fit(_np(fit.X), _np(fit.y - f0_train))
    ntk_influence = ntk.influence(_np(Xe), _np(ye - f0_test)).reshape(len(X_test), -1)
    idx = select_points(ntk_influence, config.n_retrain, config.top_fraction, config.seed)
    predicted, info = {}, {}
    if "ntk" in config.methods:
        predicted["ntk"] = ntk_influence[:, idx].T
        if not config.antisymmetric:  # ignoring f0 ≠ 0 (theory §7 measured Pearson 0.88 instead of 0.996)
            plain = NTKInfluence(reg=config.reg, device=config.device).fit(_np(fit.X), _np(fit.y))
            predicted["ntk_uncorrected"] = plain.influence(_np(Xe), _np(ye)).reshape(len(X_test), -1)[:, idx].T
    analysis = fit.analysis()
    if "ihvp_exact" in config.methods:
        predicted["ihvp_exact"] = _np(analysis.exact_influence(Xe, ye))[:, idx].T
    for step, solver in enumerate(m for m in ("lissa", "cg") if m in config.methods):
        progress(0.1 + 0.05 * step, f"{solver} for {len(X_test)} test point(s)")
        opts = dict(config.lissa if solver == "lissa" else config.cg)
        if solver == "lissa" and opts.get("scale") is None:
            opts["scale"] = 1.5 * analysis.hessian_max_eigenvalue()
        t = time.perf_counter()
        influence, infos = _solve(analysis, Xe, ye, solver, opts)
        predicted[solver] = _np(influence)[:, idx].T
        info[solver] = {"options": opts, "seconds": time.perf_counter() - t, "runs": infos}
    loo = N.retrain_loo(fit, idx, X_eval=Xe, chunk_size=config.chunk_size, max_steps=config.max_steps,
                        progress=_sub_progress(progress, 0.2, 1.0, "retrain"), should_stop=should_stop)
    done = loo.completed
    f = _np(net.forward(Xe, fit.W))
    yv = _np(ye)
    actual = 0.5 * ((loo.eval_predictions[done] - yv) ** 2).sum(-1) - 0.5 * ((f - yv) ** 2).sum(-1)
    predicted = {k: v[done] for k, v in predicted.items()}
    train_info = dict(steps=fit.steps, seconds=fit.seconds, flip_fraction=fit.flip_fraction,
                      grad_norm=fit.grad_norm, step_decays=fit.step_decays, final_loss=float(fit.losses[-1]),
                      lr=fit.schedule.lr, momentum=fit.schedule.momentum, curvature=fit.schedule.curvature,
                      device=device_label(net.device), dtype=str(net.dtype).replace("torch.", ""))
    n_done = int(done.sum())
    return WidthResult(
        width=width, train_indices=idx[done].tolist(), test_indices=list(range(len(X_test))), actual=actual,
        predicted=predicted, scores={k: agreement(actual, v) for k, v in predicted.items()}, train=train_info,
        seconds_per_retrain=loo.seconds / max(n_done, 1), retrain_seconds=loo.seconds,
        loo_flip_fraction=float(np.nanmean(loo.flip_fraction)) if n_done else math.nan,
        loo_steps_median=float(np.median(loo.steps[done])) if n_done else math.nan,
        solver_info=info, interrupted=loo.interrupted)


def _solve(analysis, Xe, ye, solver, opts, retries: int = 3):
    """solver_influence; when LiSSA diverges (a mini-batch Hessian above the scale) the scale is doubled,
    up to `retries` times, and opts["scale"] records the one used."""
    for attempt in range(retries + 1):
        try:
            return analysis.solver_influence(Xe, ye, solver, **opts)
        except solvers.LissaDivergedError:
            if attempt == retries:
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


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _options(given: dict | None, defaults: dict, name: str) -> dict:
    """defaults updated by the given options; unknown names are refused."""
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {name} option(s) {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **given}


def _lissa_options(given: dict | None) -> dict:
    """LISSA_DEFAULTS updated by `given`, each value checked as solvers.lissa would (but before any training)."""
    o = _options(given, LISSA_DEFAULTS, "lissa")
    return dict(damping=check_nonnegative(o["damping"], "lissa damping"),
                scale=None if o["scale"] is None else check_positive(o["scale"], "lissa scale"),
                depth=check_int(o["depth"], "lissa depth", min_val=1),
                batch_size=check_int(o["batch_size"], "lissa batch_size", min_val=1, allow_none=True),
                repeats=check_int(o["repeats"], "lissa repeats", min_val=1))


def _cg_options(given: dict | None) -> dict:
    """CG_DEFAULTS updated by `given`, each value checked as solvers.conjugate_gradient would."""
    o = _options(given, CG_DEFAULTS, "cg")
    return dict(damping=check_nonnegative(o["damping"], "cg damping"),
                max_iter=check_int(o["max_iter"], "cg max_iter", min_val=1),
                tol=check_nonnegative(o["tol"], "cg tol"))


def _sub_progress(progress: Progress, lo: float, hi: float, prefix: str) -> Progress:
    def report(fraction: float, message: str) -> None:
        progress(lo + (hi - lo) * min(1.0, max(0.0, float(fraction))), f"{prefix}: {message}")
    return report


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


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
    n = check_int(n, "n_train", min_val=2)
    if n > len(X):
        raise ValueError(f"n_train must be at most the {len(X)} training points available; got {n}")
    seed = check_int(seed, "seed", min_val=0)
    keep = np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))
    return X[keep], y[keep]
