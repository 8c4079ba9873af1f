"""One cell of the fragility study (depth L, width w, λ): a real depth-L ReLU network trained, retrained
without each examined point, and every estimate of that retraining, measured (theory §9–§11, §5).

What a cell measures, for the examined training points m (rows) and test points x (columns):

    actual        ℓ(f⁻ᵐ(x)) − ℓ(f(x)), ℓ = ½‖f − y‖², f⁻ᵐ retrained from θ(0) without m (deep_network.retrain_loo)
    ntk           theory §4 with the analytic depth-L kernel H_L (the infinite-width answer)
    ihvp_gn       Koh & Liang with the Gauss–Newton Hessian JᵀJ + λI at θ_s (exact, Woodbury)
    ihvp_hessian  Koh & Liang with the true Hessian (preconditioned CG to 1e-10)
    lissa, cg     the same IHVP by the practitioner's solvers on true-Hessian products (truncated: a fixed
                  recursion depth / iteration budget, as they are used)
    pbrf          the loss change at the PBRF solution (Bae et al.; deep_network.pbrf)

and the diagnostics that say why they differ:

    flip_fraction       activations whose sign changed from θ(0) to θ_s (leaving the lazy regime)
    loo_flip_fraction   the same from θ(0) to θ⁻ᵐ, mean over m
    kernel_gap_init     ‖K(θ(0)) − H_L‖_F / ‖H_L‖_F on the training inputs (finite width at the start)
    kernel_gap_trained  ‖K(θ_s) − H_L‖_F / ‖H_L‖_F (the kernel moved during training)
    prediction_gap      ‖f_s(X_test) − f_NTK(X_test)‖ / ‖f_NTK(X_test)‖
    ihvp_retention      per m, the least-squares slope of the Gauss–Newton IHVP's output change against the
                        retrained one over the test points (and outputs): theory §5 says it is exactly λQ_mm in
                        the NTK regime (lam_q_kernel: from H_L; lam_q_empirical: from K(θ_s) + λI)
    lds                 theory §11: "ntk_exact" / "ntk_ihvp" in the NTK regime (kernel ridge regression on M
                        half-subsets, exact); "net_ntk" / "net_ihvp_gn" for the real network retrained on a few
                        half-subsets (the additive prediction from all n per-point output changes)
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from .. import deep_network as DN
from .. import solvers
from ..influence import NTKInfluence
from ..results import Progress
from .lds import _reduce, exact_loo_effects, ihvp_effects, lds_many, spearman_rows
from .network_check import agreement, select_points

ESTIMATES = ("ntk", "ihvp_gn", "ihvp_hessian", "lissa", "cg", "pbrf")


class CellStopped(Exception):
    """should_stop() turned True inside a cell (the cell is dropped, the finished ones kept)."""


def kernel_model(X, y, depth: int, reg: float, device: str) -> NTKInfluence:
    """The analytic depth-L NTK model on the training set (f₀ ≡ 0 with the doubling init: targets y)."""
    return NTKInfluence(reg=reg, depth=depth, device=device).fit(X, y)


def kernel_lds(model: NTKInfluence, X_test, y_test, n_subsets: int, seed: int) -> dict:
    """theory §11 in the NTK regime, exact: mean LDS of the exact leave-one-out and of the IHVP effects
    on the same n_subsets half-subsets. {"ntk_exact": float, "ntk_ihvp": float}."""
    if n_subsets < 2:
        return {}
    effects = {"ntk_exact": exact_loo_effects(model, X_test, y_test), "ntk_ihvp": ihvp_effects(model, X_test, y_test)}
    scores = lds_many(model, X_test, y_test, effects, n_subsets=n_subsets, seed=seed)
    return {k: v.mean for k, v in scores.items()}


def measure_cell(X, y, X_test, y_test, *, depth: int, width: int, reg: float, model: NTKInfluence,
                 n_examined: int, methods, seed: int, max_steps: int, rtol: float, lissa_depth: int,
                 cg_iters: int, lds_subsets: int, linearized: bool, device: str, progress: Progress,
                 should_stop: Callable[[], bool]) -> dict:
    """Everything a cell records (module docstring), as a dict of plain values and numpy arrays.
    X (n, d), y (n,) ±1 or (n, C); X_test (m, d) the examined test points. model: kernel_model(X, y, depth,
    reg). Retrains that do not converge are named in "not_converged" and left out of the scores. Raises
    NotConvergedError / TrainingDivergedError when the training itself fails, CellStopped on should_stop."""
    t0 = time.perf_counter()
    C = 1 if np.ndim(y) == 1 else int(np.shape(y)[1])
    net = DN.DeepReLU(width, int(np.shape(X)[1]), C, depth=depth, seed=seed, linearized=linearized, device=device,
                      dtype=torch.float64)
    progress(0.0, "training")
    fit = DN.train(net, X, y, reg, rtol=rtol, max_steps=max_steps, should_stop=should_stop)
    if fit.status == "interrupted":
        raise CellStopped()
    Xe, ye = net.inputs(X_test, "X_test"), net.targets(y_test, len(X_test), "y_test")
    f_test = net.function(fit.params, Xe)
    base = 0.5 * (f_test - ye).square().sum(dim=1).cpu().numpy()
    infl = fit.influence()
    ntk_all = DN._ntk_influence(net, fit, Xe, ye).cpu().numpy()  # (m, n)
    idx = select_points(ntk_all, min(n_examined, len(X)), 0.5, seed)
    est, info = {}, {}
    if "ntk" in methods:
        est["ntk"] = ntk_all[:, idx].T
    progress(0.1, "Gauss–Newton and true-Hessian IHVP")
    if "ihvp_gn" in methods:
        est["ihvp_gn"] = infl.ihvp_gn(Xe, ye).cpu().numpy()[:, idx].T
    solvers_run = [s for s in ("ihvp_hessian", "lissa", "cg") if s in methods]
    for k, name in enumerate(solvers_run):
        _check_stop(should_stop)
        progress(0.1 + 0.05 * k, f"{name} for {len(X_test)} test point(s)")
        try:
            scores, info[name] = _solver_influence(infl, fit, Xe, ye, name, lissa_depth, cg_iters)
            est[name] = scores[:, idx].T
        except ValueError as exc:  # negative curvature, LiSSA blow-up: named, the rest kept
            info[name] = {"error": str(exc)}
            est[name] = np.full((len(idx), len(X_test)), np.nan)
    _check_stop(should_stop)
    loo = _responses("loo", fit, idx, Xe, max_steps, rtol, should_stop, _sub(progress, 0.25, 0.6))
    pb = _responses("pbrf", fit, idx, Xe, max_steps, rtol, should_stop, _sub(progress, 0.6, 0.8)) \
        if "pbrf" in methods else None
    y_np, f_np = ye.cpu().numpy(), f_test.cpu().numpy()
    actual = 0.5 * ((loo["eval"] - y_np) ** 2).sum(-1) - base  # (R, m)
    if pb is not None:
        est["pbrf"] = 0.5 * ((pb["eval"] - y_np) ** 2).sum(-1) - base
    done = loo["completed"]
    scores = {k: agreement(actual[done], v[done]) for k, v in est.items()}
    if pb is not None:
        scores["pbrf_vs_ihvp_gn"] = agreement(est["pbrf"][done], est["ihvp_gn"][done]) if "ihvp_gn" in est else {}
    dgn = _gn_output_changes(infl, Xe)  # (n, m, C) for all n
    dloo = loo["eval"] - f_np[None]
    retention = np.array([_slope(dgn[i], dloo[k]) for k, i in enumerate(idx)])
    lam_q_kernel = 1.0 - model.ihvp_error()[idx]
    lam_q_emp = _lam_q_empirical(infl, C)[idx]
    progress(0.8, "kernel gaps and LDS")
    H = model.kernel_train_
    K0, Ks = (net.empirical_ntk(p, fit.X).reshape(len(X), C, len(X), C)[:, 0, :, 0] for p in (net.params0, fit.params))
    f_ntk = torch.as_tensor(model.predict(X_test), dtype=f_test.dtype).reshape(f_test.shape)
    lds = {}
    if lds_subsets >= 2:
        lds = _network_lds(fit, model, Xe, ye, f_np, dgn, lds_subsets, seed, max_steps, rtol, should_stop,
                           _sub(progress, 0.8, 1.0), info)
    not_converged = sorted(set(loo["failed"]) | set((pb or {}).get("failed", [])))
    return dict(
        depth=depth, width=width, reg=reg, indices=idx, completed=done, actual=actual, estimates=est, scores=scores,
        flip_fraction=fit.flip_fraction, loo_flip_fraction=_nanmean(loo["flips"]),
        pbrf_flip_fraction=_nanmean(pb["flips"]) if pb else math.nan,
        kernel_gap_init=_rel(K0, H), kernel_gap_trained=_rel(Ks, H), prediction_gap=_rel(f_test, f_ntk),
        ihvp_retention=retention, lam_q_kernel=lam_q_kernel, lam_q_empirical=lam_q_emp, lds=lds,
        not_converged=not_converged, train=fit.info(), solver_info=_plain(info),
        loo_steps=loo["steps"], seconds=time.perf_counter() - t0)


# -------------------------------------------------------------------------------------- helpers
def _check_stop(should_stop) -> None:
    if should_stop():
        raise CellStopped()


def _sub(progress: Progress, lo: float, hi: float) -> Progress:
    return lambda frac, msg: progress(lo + (hi - lo) * frac, msg)


def _responses(kind, fit, idx, Xe, max_steps, rtol, should_stop, progress) -> dict:
    """Leave-one-out retrains or PBRF solves one point at a time (the fastest on a CPU, and a retrain that
    does not converge or diverges is named in "failed" while the others are kept)."""
    R, m, C = len(idx), Xe.shape[0], fit.net.n_outputs
    out = dict(eval=np.full((R, m, C), np.nan), completed=np.zeros(R, bool), flips=np.full(R, np.nan),
               steps=np.zeros(R, np.int64), failed=[])
    run = DN.retrain_loo if kind == "loo" else DN.pbrf
    what = "retraining without" if kind == "loo" else "PBRF of"
    for k, i in enumerate(idx):
        _check_stop(should_stop)
        progress(k / R, f"{what} point {k + 1} of {R}")
        try:
            res = run(fit, [int(i)], X_eval=Xe, chunk_size=1, rtol=rtol, max_steps=max_steps, should_stop=should_stop)
        except (DN.NotConvergedError, DN.TrainingDivergedError):
            out["failed"].append(int(i))
            continue
        if res.interrupted:
            raise CellStopped()
        out["eval"][k], out["flips"][k], out["steps"][k] = res.eval_predictions[0], res.flip_fraction[0], res.steps[0]
        out["completed"][k] = True
    return out


def _solver_influence(infl: DN.DeepInfluence, fit, Xe, ye, name: str, lissa_depth: int, cg_iters: int):
    """I(m, x) = r_m · (J s_x)_m with s_x = Hess⁻¹ ∇ℓ_x from the named solver (true Hessian of L, λ included).
    Returns (m, n) and the per-test-point solver info."""
    rows, infos = [], []
    if name == "ihvp_hessian":
        out, infos = infl.ihvp_hessian(Xe, ye)
        return out.cpu().numpy(), infos
    scale = 1.5 * fit.schedule.curvature
    for j in range(Xe.shape[0]):
        g = infl.test_gradient(Xe[j], ye[j])
        if name == "lissa":
            s, inf = _lissa(infl, g, scale, lissa_depth, fit.X.shape[0])
        else:
            s, inf = solvers.conjugate_gradient(lambda v, rows=None: infl.hvp(v), g, max_iter=cg_iters, tol=1e-10)
        rows.append((infl.jvp(s) * infl.residual).sum(dim=1))
        infos.append(inf)
    return torch.stack(rows).cpu().numpy(), infos


def _lissa(infl, g, scale, depth, n, retries: int = 3):
    """Full-batch LiSSA (deterministic); the scale doubles when the recursion blows up (the Hessian's top
    eigenvalue grew beyond the training step's curvature estimate)."""
    for attempt in range(retries + 1):
        try:
            return solvers.lissa(lambda v, rows=None: infl.hvp(v), g, n=n, damping=0.0, scale=scale, depth=depth,
                                 batch_size=None)
        except solvers.LissaDivergedError:
            if attempt == retries:
                raise
            scale *= 2


def _gn_output_changes(infl: DN.DeepInfluence, Xe) -> np.ndarray:
    """The Gauss–Newton IHVP's predicted output change of removing each training point i, at the test
    points: Δf(x) = J_x (JᵀJ + λI)⁻¹ J_iᵀ r_i = [K_x (K + λI)⁻¹]_i r_i (push-through). (n, m, C)."""
    n, C = infl.residual.shape
    m = Xe.shape[0]
    sol = torch.cholesky_solve(infl.ntk(Xe).T, infl._cholesky()).reshape(n, C, m, C)  # (K + λ)⁻¹ K_xᵀ
    return torch.einsum("icxe,ic->ixe", sol, infl.residual).cpu().numpy()


def _lam_q_empirical(infl: DN.DeepInfluence, C: int) -> np.ndarray:
    """λ [(K(θ_s) + λI)⁻¹]_ii per training point (mean over the C outputs' diagonal entries). (n,)."""
    L = infl._cholesky()
    Q = torch.cholesky_inverse(L)
    return (infl.reg * Q.diagonal().reshape(-1, C).mean(dim=1)).cpu().numpy()


def _slope(pred: np.ndarray, actual: np.ndarray) -> float:
    """Least-squares slope of pred on actual through the origin, ⟨p, a⟩/‖a‖² (NaN if a is all 0 or NaN)."""
    a, p = np.ravel(actual), np.ravel(pred)
    aa = float(a @ a)
    return float(p @ a) / aa if aa > 0 and np.isfinite(aa) else math.nan


def _rel(a, b) -> float:
    a, b = (torch.as_tensor(v, dtype=torch.float64).cpu() for v in (a, b))
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def _nanmean(v) -> float:
    v = np.asarray(v, float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def _network_lds(fit, model, Xe, ye, f_np, dgn, n_subsets, seed, max_steps, rtol, should_stop, progress, info) -> dict:
    """theory §11 for the real network: retrain from θ(0) on n_subsets random half-subsets (seeded), and
    score the additive predictions f_s(x) + Σ_{i ∉ S} Δ_i f(x) from the NTK's and the Gauss–Newton IHVP's
    per-point output changes. Subsets whose retrain fails are dropped (counted in info)."""
    n = fit.X.shape[0]
    rng = np.random.default_rng(seed + 1)
    subsets = [np.sort(rng.choice(n, size=n // 2, replace=False)) for _ in range(n_subsets)]
    prob = DN._Problem(fit.net, fit.X, fit.net.params0)
    actual, removed = [], []
    for j, S in enumerate(subsets):
        _check_stop(should_stop)
        progress(j / n_subsets, f"retraining on half-subset {j + 1} of {n_subsets} (LDS)")
        mask = torch.zeros((1, n), dtype=fit.X.dtype, device=fit.X.device)
        mask[0, torch.as_tensor(S)] = 1
        E = torch.zeros((1, n, fit.net.n_outputs), dtype=fit.X.dtype, device=fit.X.device)
        try:
            run = DN._minimise(prob, fit.y, mask, E, fit.schedule, rtol=rtol, atol=1e-12, max_steps=max_steps,
                               should_stop=should_stop)
        except DN.TrainingDivergedError:
            continue
        if run.status[0] == "interrupted":
            raise CellStopped()
        if run.status[0] == "max_steps":
            continue
        params = tuple(p[0] for p in prob.full_weights(run.D))
        actual.append(fit.net.function(params, Xe).cpu().numpy())
        r = np.ones(n)
        r[S] = 0
        removed.append(r)
    info["lds_network"] = {"subsets": n_subsets, "finished": len(actual)}
    if len(actual) < 2:
        return {}
    true = torch.argmax(ye, dim=1).cpu().numpy()
    act = np.stack([_reduce(a, true, "true_class") for a in actual], axis=1)  # (m, M)
    Rm = np.stack(removed, axis=1)  # (n, M)
    f = _reduce(f_np, true, "true_class")
    ntk_d = model.loo_predictions(Xe.cpu().numpy()).reshape(Xe.shape[0], n, -1) - \
        model.predict(Xe.cpu().numpy()).reshape(Xe.shape[0], 1, -1)  # (m, n, C)
    effects = {"net_ntk": _reduce(ntk_d, true[:, None], "true_class"),
               "net_ihvp_gn": _reduce(np.transpose(dgn, (1, 0, 2)), true[:, None], "true_class")}
    out = {}
    for name, eff in effects.items():
        rho = spearman_rows(act, f[:, None] + eff @ Rm)
        out[name] = float(np.nanmean(rho)) if np.isfinite(rho).any() else math.nan
    return out


def _plain(obj):
    """Solver info as JSON-ready plain values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj
