"""Is influence fragile in depth? (docs/theory.md §9, §5, §10, §11; Basu, Pope & Feizi 2021; Bae et al. 2022.)

Two studies:

* `ihvp_error_vs_depth` — the NTK part, no network trained: for the depth-L ReLU NTK H_L and each λ the
  IHVP error e_i = 1 − λQ_ii over training points (mean and median), Theorem 3's bounds
  λ_min/(λ+λ_min) ≤ e_i ≤ λ_max/(λ+λ_max) from H_L's spectrum, and — when test points are given — the LDS
  (§11) of the exact leave-one-out effects and of the IHVP effects, on the same subsets.
* `run_study` — Basu's axes on real networks: for every depth × width × λ a depth-L ReLU MLP
  (deep_network.DeepReLU, doubling init so f₀ ≡ 0) is trained, retrained without each examined point,
  and compared with the NTK influence, the network's Gauss–Newton and true-Hessian IHVP, LiSSA, CG and
  PBRF (Pearson + Spearman over (point, test point) pairs), with the activation flip rate, the
  NTK-vs-network gaps, the IHVP's retention against λQ_ii and the LDS (fragility_cell has the details).
  Results are frozen dataclasses with a JSON round trip (FragilityResult.save / load_study).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import deep_network as DN
from .._checks import check_depth, check_int, check_positive
from ..influence import NTKInfluence
from ..results import Progress, no_progress
from .lds import exact_loo_effects, ihvp_effects, lds_many
from .serialize import jsonable


@dataclass(frozen=True)
class IhvpErrorVsDepth:
    """Rows are depths (D,), columns λ (R,): mean_error, median_error of e_i = 1 − λQ_ii; lower_bound,
    upper_bound (Theorem 3); lds_exact, lds_ihvp (mean LDS over test points; NaN without test points).
    eigenvalue_min, eigenvalue_max (D,): the extreme eigenvalues of H_L."""
    depths: np.ndarray
    regs: np.ndarray
    mean_error: np.ndarray
    median_error: np.ndarray
    lower_bound: np.ndarray
    upper_bound: np.ndarray
    eigenvalue_min: np.ndarray
    eigenvalue_max: np.ndarray
    lds_exact: np.ndarray
    lds_ihvp: np.ndarray


def ihvp_error_vs_depth(X_train, y_train, depths=(1, 2, 3, 4), regs=(1e-3, 1e-2, 1e-1, 1.0), X_test=None,
                        y_test=None, *, n_subsets: int = 50, alpha: float = 0.5, seed: int = 0,
                        output: str = "true_class", device: str = "auto",
                        progress: Progress | None = None) -> IhvpErrorVsDepth:
    """The table depth × λ for X_train (n, d), y_train (n,) or (n, C); with X_test (m, d) and y_test also
    the LDS of exact and IHVP effects (n_subsets, alpha, seed, output as in lds.lds; the same subsets for
    every cell)."""
    progress = progress or no_progress
    depths = np.array([check_depth(L) for L in _sequence(depths, "depths")], dtype=np.int64)
    regs = np.array([check_positive(lam, "regs") for lam in _sequence(regs, "regs")], dtype=np.float64)
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test (for the LDS columns) or neither")
    shape = (len(depths), len(regs))
    table = {key: np.full(shape, np.nan) for key in
             ("mean_error", "median_error", "lower_bound", "upper_bound", "lds_exact", "lds_ihvp")}
    eig_min, eig_max = np.empty(len(depths)), np.empty(len(depths))
    for a, depth in enumerate(depths):
        for b, lam in enumerate(regs):
            model = NTKInfluence(reg=float(lam), depth=int(depth), device=device).fit(X_train, y_train)
            e = model.ihvp_error()
            bounds = model.ihvp_error_bounds()
            cell = {"mean_error": e.mean(), "median_error": np.median(e), "lower_bound": bounds.lower,
                    "upper_bound": bounds.upper}
            if X_test is not None:
                effects = {key: fn(model, X_test, y_test, output=output)
                           for key, fn in (("lds_exact", exact_loo_effects), ("lds_ihvp", ihvp_effects))}
                scores = lds_many(model, X_test, y_test, effects, n_subsets=n_subsets, alpha=alpha, seed=seed,
                                  output=output)
                cell.update((key, result.mean) for key, result in scores.items())
            for key, value in cell.items():
                table[key][a, b] = value
            eig_min[a], eig_max[a] = bounds.eigenvalue_min, bounds.eigenvalue_max
            progress((a * len(regs) + b + 1) / (len(depths) * len(regs)), f"depth {depth}, λ = {lam:g}")
    return IhvpErrorVsDepth(depths=depths, regs=regs, eigenvalue_min=eig_min, eigenvalue_max=eig_max, **table)


def _sequence(values, name: str) -> list:
    """A non-empty list of settings from a scalar or a 1-D sequence."""
    items = list(np.atleast_1d(np.asarray(values, dtype=object)).ravel())
    if not items:
        raise ValueError(f"{name} must be a non-empty list; got {values!r}")
    return items


# ============================================================================ the study on real networks
SCHEMA = "ifexplorer.fragility/1"
METHODS = ("ntk", "ihvp_gn", "ihvp_hessian", "lissa", "cg", "pbrf")
LABELS = {"ntk": "NTK influence", "ihvp_gn": "IHVP (Gauss–Newton)", "ihvp_hessian": "IHVP (true Hessian)",
          "lissa": "LiSSA", "cg": "conjugate gradient", "pbrf": "PBRF"}


@dataclass(frozen=True)
class FragilityConfig:
    """The study's settings, checked when made (a bad one fails before any data are loaded).

    depths: L ≥ 1 (integers); widths: hidden units per layer, even and ≥ 2 (the doubling init runs two
    copies of width/2 units); regs: λ > 0. n_examined: training points retrained per cell (half the most
    influential by |NTK influence|, half random); n_test: test points whose loss change is measured
    (the first n_test). methods: estimates from METHODS. lds_subsets_ntk: M of the exact NTK-regime LDS
    (0 = skip, else ≥ 2; ≥ 100 recommended) on lds_test test points; lds_subsets_net: M of the real
    networks' LDS (retrains on half-subsets, 0 = skip). lissa_depth, cg_iters: the solvers' budgets.
    linearized: train the networks' linearization at θ(0) instead (the NTK regime at finite width; tests).
    threads: torch intra-op threads during the study (None: leave as is; 1 is fastest on a loaded CPU: an
    autograd Hessian-vector product took 0.06 s with one thread and 0.6 s with two on 2 shared cores).
    extra: more JSON entries (dataset name, classes, sizes)."""
    depths: tuple = (1, 2, 3, 4)
    widths: tuple = (256, 1024, 4096)
    regs: tuple = (1e-3, 1e-2, 1e-1, 1.0)
    n_examined: int = 6
    n_test: int = 4
    methods: tuple = METHODS
    lds_subsets_ntk: int = 100
    lds_test: int = 50
    lds_subsets_net: int = 0
    seed: int = 0
    max_steps: int = 20000
    rtol: float = 1e-8
    lissa_depth: int = 200
    cg_iters: int = 30
    linearized: bool = False
    device: str = "cpu"
    threads: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("depths", tuple(check_depth(L) for L in _sequence(self.depths, "depths")))
        set_("widths", tuple(_check_width(w) for w in _sequence(self.widths, "widths")))
        set_("regs", tuple(check_positive(lam, "regs") for lam in _sequence(self.regs, "regs")))
        for name, low in (("n_examined", 2), ("n_test", 1), ("lds_test", 1), ("seed", 0), ("max_steps", 1),
                          ("lissa_depth", 1), ("cg_iters", 1), ("lds_subsets_net", 0), ("lds_subsets_ntk", 0)):
            set_(name, check_int(getattr(self, name), name, min_val=low))
        for name in ("lds_subsets_ntk", "lds_subsets_net"):
            if getattr(self, name) == 1:
                raise ValueError(f"{name} must be 0 (skip) or at least 2 subsets; got 1")
        methods = tuple(_sequence(self.methods, "methods"))
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ValueError(f"methods must be taken from {list(METHODS)}; got {unknown!r}")
        set_("methods", methods)
        set_("rtol", check_positive(self.rtol, "rtol"))
        set_("linearized", bool(self.linearized))
        set_("threads", check_int(self.threads, "threads", min_val=1, allow_none=True))
        set_("extra", dict(self.extra))

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FragilityCell:
    """One depth × width × λ cell (fragility_cell.measure_cell). status: "done", or "failed" (the
    training itself diverged / did not converge: message says how; every array is then empty).
    Rows ↔ indices (examined training points), columns ↔ the study's test points:
    actual (R, m) loss changes by retraining; estimates {method: (R, m)}; scores {method: {pearson,
    spearman, relative_error, median_relative_error}} over the completed rows (and "pbrf_vs_ihvp_gn":
    PBRF taken as the truth for the Gauss–Newton IHVP); completed (R,) bool; not_converged: training
    indices whose retrain or PBRF solve failed (left out, the rest kept). ihvp_retention, lam_q_kernel,
    lam_q_empirical (R,); the gaps and flip fractions are floats; lds {name: mean LDS}."""
    depth: int
    width: int
    reg: float
    status: str = "done"
    message: str = ""
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    completed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    actual: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    estimates: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    flip_fraction: float = math.nan
    loo_flip_fraction: float = math.nan
    pbrf_flip_fraction: float = math.nan
    kernel_gap_init: float = math.nan
    kernel_gap_trained: float = math.nan
    prediction_gap: float = math.nan
    ihvp_retention: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lam_q_kernel: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lam_q_empirical: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lds: dict = field(default_factory=dict)
    not_converged: tuple = ()
    train: dict = field(default_factory=dict)
    solver_info: dict = field(default_factory=dict)
    loo_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    seconds: float = 0.0

    ARRAYS = ("indices", "completed", "actual", "ihvp_retention", "lam_q_kernel", "lam_q_empirical", "loo_steps")

    @property
    def key(self) -> tuple:
        return (self.depth, self.width, self.reg)

    def score(self, method: str, stat: str = "pearson") -> float:
        """One agreement number (NaN when absent)."""
        value = self.scores.get(method, {}).get(stat)
        return math.nan if value is None else float(value)

    def retention_error(self) -> float:
        """max_m |ihvp_retention_m − λQ_mm(H_L)|: how far the IHVP's loss is from theory §5's 1 − λQ_mm."""
        d = np.abs(self.ihvp_retention - self.lam_q_kernel)
        return float(np.nanmax(d)) if np.isfinite(d).any() else math.nan

    def to_dict(self) -> dict:
        out = {}
        for k, v in self.__dict__.items():
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif k == "estimates":
                v = {m: np.asarray(a).tolist() for m, a in v.items()}
            out[k] = v
        return jsonable(out)

    @classmethod
    def from_dict(cls, data: dict) -> FragilityCell:
        kw = dict(data)
        dtypes = {"indices": np.int64, "completed": bool, "loo_steps": np.int64}
        for k in cls.ARRAYS:
            if k in kw:
                kw[k] = np.array(_nan(kw[k]), dtype=dtypes.get(k, np.float64))
        kw["estimates"] = {m: np.array(_nan(a), dtype=np.float64) for m, a in kw.get("estimates", {}).items()}
        kw["scores"] = {m: {s: (math.nan if x is None else x) for s, x in v.items()}
                        for m, v in kw.get("scores", {}).items()}
        kw["lds"] = {m: (math.nan if x is None else x) for m, x in kw.get("lds", {}).items()}
        kw["not_converged"] = tuple(kw.get("not_converged", ()))
        for k in ("flip_fraction", "loo_flip_fraction", "pbrf_flip_fraction", "kernel_gap_init", "kernel_gap_trained",
                  "prediction_gap"):
            kw[k] = math.nan if kw.get(k) is None else float(kw[k])
        return cls(**kw)


@dataclass(frozen=True)
class FragilityResult:
    """Every finished cell (in the order run), the config, the NTK-only table (IhvpErrorVsDepth on the same
    data, as a dict of lists; None if not computed), the device and the time; interrupted when Ctrl-C /
    should_stop ended it (the finished cells are all there)."""
    config: dict
    cells: tuple
    ntk_table: dict | None = None
    device: str = "cpu"
    seconds: float = 0.0
    interrupted: bool = False

    def cell(self, depth: int, width: int, reg: float) -> FragilityCell | None:
        for c in self.cells:
            if c.depth == depth and c.width == width and math.isclose(c.reg, reg, rel_tol=1e-12):
                return c
        return None

    def grid(self, method: str, reg: float, stat: str = "pearson") -> tuple[list, list, np.ndarray]:
        """(depths, widths, values (D, W)) of one agreement number at λ = reg, NaN where no cell."""
        depths = sorted({c.depth for c in self.cells})
        widths = sorted({c.width for c in self.cells})
        values = np.full((len(depths), len(widths)), np.nan)
        for c in self.cells:
            if math.isclose(c.reg, reg, rel_tol=1e-12):
                values[depths.index(c.depth), widths.index(c.width)] = c.score(method, stat)
        return depths, widths, values

    def table(self) -> list[dict]:
        """One row per cell: the Pearson / Spearman per method and the diagnostics."""
        rows = []
        for c in self.cells:
            row = dict(depth=c.depth, width=c.width, reg=c.reg, status=c.status,
                       retrains=int(c.completed.sum()), not_converged=len(c.not_converged),
                       flip_fraction=c.flip_fraction, kernel_gap_trained=c.kernel_gap_trained,
                       prediction_gap=c.prediction_gap, retention_error=c.retention_error(),
                       lam_q_mean=float(np.mean(c.lam_q_kernel)) if c.lam_q_kernel.size else math.nan,
                       retention_mean=float(np.nanmean(c.ihvp_retention)) if np.isfinite(c.ihvp_retention).any()
                       else math.nan, seconds=c.seconds)
            for m in METHODS:
                if m in c.scores:
                    row[f"{m}_pearson"], row[f"{m}_spearman"] = c.score(m), c.score(m, "spearman")
            row.update({f"lds_{k}": v for k, v in c.lds.items()})
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "config": jsonable(self.config), "device": self.device, "seconds": self.seconds,
                "interrupted": self.interrupted, "ntk_table": jsonable(self.ntk_table),
                "cells": [c.to_dict() for c in self.cells]}

    @classmethod
    def from_dict(cls, data: dict) -> FragilityResult:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a fragility study (schema {data.get('schema')!r}, expected {SCHEMA!r})")
        return cls(config=data["config"], cells=tuple(FragilityCell.from_dict(c) for c in data["cells"]),
                   ntk_table=data.get("ntk_table"), device=data.get("device", "cpu"),
                   seconds=float(data.get("seconds", 0.0)), interrupted=bool(data.get("interrupted", False)))

    def save(self, path) -> Path:
        """Write the JSON atomically (a partial run never leaves a truncated file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))
        tmp.replace(path)
        return path


def merge_studies(*results: FragilityResult) -> FragilityResult:
    """One study from runs on the same data with different cells (e.g. the wide widths run separately with fewer
    methods): cells concatenated in order, config of the first plus "parts" (every run's config, seconds and
    cell keys), seconds summed, interrupted if any part was. Raises ValueError when a cell appears twice or
    the runs used different data (n_train, seed, dataset)."""
    if not results:
        raise ValueError("merge_studies needs at least one study")
    same = ("n_train", "seed", "extra", "n_test", "n_examined")
    for r in results[1:]:
        diff = [k for k in same if r.config.get(k) != results[0].config.get(k)]
        if diff:
            raise ValueError(f"the studies differ in {diff}: they were not run on the same data and sizes")
    keys = [c.key for r in results for c in r.cells]
    if len(set(keys)) != len(keys):
        raise ValueError("a (depth, width, λ) cell appears in more than one study")
    config = dict(results[0].config, parts=[dict(config=r.config, seconds=r.seconds, interrupted=r.interrupted,
                                                 cells=[list(c.key) for c in r.cells]) for r in results])
    return FragilityResult(config=config, cells=tuple(c for r in results for c in r.cells),
                           ntk_table=results[0].ntk_table, device=results[0].device,
                           seconds=sum(r.seconds for r in results), interrupted=any(r.interrupted for r in results))


def load_study(path) -> FragilityResult:
    """Read a study written by FragilityResult.save."""
    return FragilityResult.from_dict(json.loads(Path(path).read_text()))


def run_study(X_train, y_train, X_test, y_test, config: FragilityConfig | None = None, *,
              progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
              out: str | Path | None = None) -> FragilityResult:
    """The study over config.depths × widths × regs on X_train (n, d), y_train (n,) ±1 or (n, C) one-hot,
    X_test / y_test (the first n_test are examined; the first lds_test score the NTK-regime LDS).

    Cells run width-major (the cheap narrow networks first, so an interrupted study still has every depth
    and λ at the small widths), then depth, then λ, largest λ first (fewest steps). A cell
    whose training fails is kept with status "failed" and its message; retrains that fail inside a cell
    are named in its not_converged. out: JSON path written after every cell. should_stop() → True or
    Ctrl-C ends the study keeping every finished cell (result.interrupted). progress(fraction, message)."""
    from .fragility_cell import CellStopped, kernel_lds, kernel_model, measure_cell

    progress = progress or no_progress
    config = config or FragilityConfig()
    stop = should_stop or (lambda: False)
    n, m_all = len(X_train), len(X_test)
    if config.n_examined > n:
        raise ValueError(f"n_examined must be at most the {n} training points; got {config.n_examined}")
    if config.n_test > m_all:
        raise ValueError(f"n_test must be at most the {m_all} test points; got {config.n_test}")
    Xe, ye = np.asarray(X_test)[:config.n_test], np.asarray(y_test)[:config.n_test]
    Xl, yl = np.asarray(X_test)[:config.lds_test], np.asarray(y_test)[:config.lds_test]
    settings = dict(config.to_dict(), n_train=n, n_test_available=m_all)
    t0, cells, interrupted = time.perf_counter(), [], False
    ntk_table = _ntk_table(X_train, y_train, config)
    total = len(config.depths) * len(config.regs) * len(config.widths)

    def result():
        return FragilityResult(config=settings, cells=tuple(cells), ntk_table=ntk_table, device=config.device,
                               seconds=time.perf_counter() - t0, interrupted=interrupted)

    kernels: dict = {}
    before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        for k, (width, depth, reg) in enumerate(_cell_order(config)):
            if stop():
                raise CellStopped()
            if (depth, reg) not in kernels:
                model = kernel_model(X_train, y_train, depth, reg, config.device)
                kernels[depth, reg] = model, kernel_lds(model, Xl, yl, config.lds_subsets_ntk, config.seed)
            model, lds = kernels[depth, reg]
            where = f"depth {depth}, width {width}, λ = {reg:g} (cell {k + 1} of {total})"
            sub = lambda f, msg, k=k, where=where: progress((k + f) / total, f"{where}: {msg}")  # noqa: E731
            cells.append(_one_cell(measure_cell, X_train, y_train, Xe, ye, depth, width, reg, model, lds, config,
                                   sub, stop))
            if out is not None:
                result().save(out)
    except (CellStopped, KeyboardInterrupt):
        interrupted = True
    finally:
        torch.set_num_threads(before)
    final = result()
    if out is not None:
        final.save(out)
    progress(1.0, "interrupted: finished cells kept" if interrupted else "done")
    return final


def _cell_order(config: FragilityConfig) -> list[tuple[int, int, float]]:
    """(width, depth, λ) in the order run: widths ascending, depths ascending, λ descending."""
    return [(w, L, lam) for w in sorted(config.widths) for L in sorted(config.depths)
            for lam in sorted(config.regs, reverse=True)]


def _one_cell(measure, X, y, Xe, ye, depth, width, reg, model, lds, config, progress, stop) -> FragilityCell:
    try:
        values = measure(X, y, Xe, ye, depth=depth, width=width, reg=reg, model=model, n_examined=config.n_examined,
                         methods=config.methods, seed=config.seed, max_steps=config.max_steps, rtol=config.rtol,
                         lissa_depth=config.lissa_depth, cg_iters=config.cg_iters,
                         lds_subsets=config.lds_subsets_net, linearized=config.linearized, device=config.device,
                         progress=progress, should_stop=stop)
    except (DN.NotConvergedError, DN.TrainingDivergedError) as exc:
        return FragilityCell(depth=depth, width=width, reg=reg, status="failed", message=str(exc), lds=dict(lds))
    values["lds"] = {**lds, **values["lds"]}
    values["not_converged"] = tuple(values["not_converged"])
    return FragilityCell(**values)


def _ntk_table(X, y, config: FragilityConfig) -> dict:
    """The NTK-only table (ihvp_error_vs_depth, no LDS) on the study's training set, as lists."""
    t = ihvp_error_vs_depth(X, y, config.depths, config.regs, device=config.device)
    return {k: np.asarray(getattr(t, k)).tolist() for k in
            ("depths", "regs", "mean_error", "median_error", "lower_bound", "upper_bound", "eigenvalue_min",
             "eigenvalue_max")}


def _check_width(w) -> int:
    w = check_int(w, "widths", min_val=2)
    if w % 2:
        raise ValueError(f"widths must be even: the doubling (antisymmetric) initialization runs two copies of "
                         f"width/2 units each; got {w}")
    return w


def _nan(values):
    """JSON nulls back to NaN, in nested lists."""
    if isinstance(values, list):
        return [_nan(v) for v in values]
    return math.nan if values is None else values


# ------------------------------------------------------------------------------------------ figures
def figures(result: FragilityResult, stat: str = "pearson") -> dict:
    """{"heatmap_<method>_reg<λ>", "ihvp_error_vs_depth", "retention", "scatter_L<L>_w<w>_reg<λ>": Figure}."""
    from ..plots import fragility as P

    figs = {}
    done = [c for c in result.cells if c.status == "done" and c.completed.any()]
    regs = sorted({c.reg for c in result.cells})
    for m in [m for m in METHODS if any(m in c.scores for c in done)]:
        for lam in regs:
            depths, widths, values = result.grid(m, lam, stat)
            figs[f"heatmap_{m}_reg{lam:g}"] = P.heatmap_figure(
                depths, widths, values, f"{P.LABELS[m]} against retraining, λ = {lam:g}", stat.capitalize())
    t = result.ntk_table
    if t:
        figs["ihvp_error_vs_depth"] = P.ihvp_error_depth_figure(t["depths"], t["regs"], t["mean_error"],
                                                                t["lower_bound"], t["upper_bound"])
    if done:
        labels = [f"L = {c.depth}, λ = {c.reg:g}" for c in done for _ in c.indices]
        figs["retention"] = P.retention_figure(np.concatenate([c.lam_q_kernel for c in done]),
                                               np.concatenate([c.ihvp_retention for c in done]), labels)
    for c in done:
        keep = [m for m in ("ntk", "ihvp_gn", "pbrf") if m in c.estimates]
        figs[f"scatter_L{c.depth}_w{c.width}_reg{c.reg:g}"] = P.scatter_figure(
            c.actual[c.completed], {m: c.estimates[m][c.completed] for m in keep}, c.scores,
            f"depth {c.depth}, width {c.width}, λ = {c.reg:g}")
    return figs


def write_plots(result: FragilityResult, out_dir) -> list[Path]:
    """Every figure of `figures(result)` as HTML in out_dir (plotly.js once, beside them)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures(result).items():
        path = out / f"{name}.html"
        fig.write_html(path, include_plotlyjs="directory")
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- the committed studies
STUDY_DIR = Path(__file__).resolve().parents[2] / "docs" / "fragility"


def committed_studies(folder=None) -> dict[str, Path]:
    """{label: path} of the study JSONs shipped in docs/fragility (label from the dataset and classes in the
    config, e.g. "mnist 7 vs 9"); empty when the folder is not there (an installed package)."""
    folder = Path(folder) if folder is not None else STUDY_DIR
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            extra = json.loads(path.read_text()).get("config", {}).get("extra", {})
        except (OSError, ValueError):
            continue
        classes = extra.get("classes")
        names = " vs ".join(map(str, classes)) if isinstance(classes, list) else f"{classes or 'all'} classes"
        label = f"{extra.get('dataset', path.stem)}, {names}"
        out[label if label not in out else f"{label} ({path.stem})"] = path
    return out
