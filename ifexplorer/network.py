"""The finite-width two-layer ReLU network of docs/theory.md §1 and §7, trained for real.

    f(x) = w^{-1/2} · Σ_r a_r relu(w_r · x),   a_r ∈ {−1, +1}^C fixed,   w_r(0) ~ N(0, κ² I_d)
    L(W) = ½ Σ_i ‖f(x_i) − y_i‖² + (λ/2) ‖W − W(0)‖_F²

Only the first layer W (width, d) is trained. With the antisymmetric ("doubling") initialization the
neurons come in pairs with the same w_r and opposite a_r, so f_0 ≡ 0 while the kernel is unchanged.

Training uses an exact reformulation: every gradient of L lies in the row span of the training
inputs, so W(t) − W(0) = Uᵀ X with coefficients U (n, width). Pre-activations are
Z = X Wᵀ = Z0 + G U with G = X Xᵀ, and one step costs O(n²·width) instead of O(n·d·width).
Gradient descent (or Nesterov's method) on W is the same sequence of iterates written in U.
Leave-one-out retraining masks the left-out residual: its U row then stays exactly zero, which is
the same computation as training on the other n − 1 points. B such networks share one tensor
(B, n, width) and train together.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from . import solvers
from ._checks import as_matrix, as_targets, check_indices, check_int, check_positive, check_tolerances
from .device import check_fits, resolve_device, resolve_dtype
from .results import Progress, no_progress

# How often the incrementally updated pre-activations G·U are recomputed from scratch (float drift).
_REFRESH_EVERY = 200


class TrainingDivergedError(ValueError):
    """The loss became non-finite or grew far above its initial value: the step size is too large."""


class NotConvergedError(ValueError):
    """The gradient norm did not fall below the tolerance within max_steps."""


# ------------------------------------------------------------------------------------ the network
class TwoLayerReLU:
    """The network's fixed parts: initial first layer W0 (width, d) and output signs a (width, C).

    Parameters
    ----------
    width : number of hidden ReLU units (≥ 1; even when antisymmetric).
    n_inputs : input dimension d.
    n_outputs : C (one output per class; 1 for ±1 labels).
    kappa : standard deviation κ > 0 of the initial weights.
    seed : seed of the initial weights and output signs.
    antisymmetric : neurons in pairs (w_r, a_r), (w_r, −a_r) so that f_0 ≡ 0 exactly.
    """

    def __init__(self, width: int, n_inputs: int, n_outputs: int = 1, *, kappa: float = 1.0, seed: int = 0,
                 antisymmetric: bool = True, device: str = "auto", dtype=None):
        self.width = check_int(width, "width", min_val=1)
        self.n_inputs = check_int(n_inputs, "n_inputs", min_val=1)
        self.n_outputs = check_int(n_outputs, "n_outputs", min_val=1)
        self.kappa = check_positive(kappa, "kappa (κ)")
        if antisymmetric and self.width % 2:
            raise ValueError(f"width must be even (the antisymmetric initialization pairs neurons); got {width!r}")
        self.seed = check_int(seed, "seed", min_val=0)
        self.antisymmetric = bool(antisymmetric)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        gen = torch.Generator().manual_seed(self.seed)
        half = self.width // 2 if antisymmetric else self.width
        W = torch.randn(half, self.n_inputs, generator=gen, dtype=torch.float64) * self.kappa
        a = torch.randint(0, 2, (half, self.n_outputs), generator=gen).to(torch.float64) * 2 - 1
        if antisymmetric:
            W, a = torch.cat([W, W]), torch.cat([a, -a])
        self.W0 = W.to(self.device, self.dtype)
        self.a = a.to(self.device, self.dtype)

    def forward(self, X: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """f(X) for weights W (default W0). X (m, d) tensor -> (m, C) tensor."""
        W = self.W0 if W is None else W
        return torch.relu(X @ W.T) @ self.a / math.sqrt(self.width)

    def inputs(self, X, name: str = "X") -> torch.Tensor:
        """Validate X (m, d) and move it to the network's device and dtype."""
        Xt = as_matrix(X, name, self.device, self.dtype, nonzero_rows=False)
        if Xt.shape[1] != self.n_inputs:
            raise ValueError(f"{name} has {Xt.shape[1]} features; the network takes {self.n_inputs}")
        return Xt

    def targets(self, y, n: int, name: str = "y") -> tuple[torch.Tensor, bool]:
        """Validate y (n,) or (n, C) -> ((n, C) tensor, was_1d)."""
        yt, squeeze = as_targets(y, n, name, self.device, self.dtype)
        if yt.shape[1] != self.n_outputs:
            raise ValueError(f"{name} has {yt.shape[1]} output(s) per point; the network has {self.n_outputs}")
        return yt, squeeze


@dataclass
class Schedule:
    """Step size η and momentum β (0 for plain gradient descent) shared by a training and its
    leave-one-out retrains; `curvature` is the estimate of λ_max(Hessian) they came from."""
    lr: float
    momentum: float
    curvature: float
    method: str
    reg_for_momentum: float = 0.0


@dataclass
class TrainResult:
    """A trained network. W (width, d) tensor; coef U (n, width) with W − W0 = Uᵀ X; losses per step."""
    net: TwoLayerReLU
    X: torch.Tensor
    y: torch.Tensor
    reg: float
    W: torch.Tensor
    coef: torch.Tensor
    losses: np.ndarray
    steps: int
    grad_norm: float
    flip_fraction: float
    schedule: Schedule
    seconds: float
    converged: bool = True
    step_decays: int = 0

    def predict(self, X) -> np.ndarray:
        """Network outputs (m, C) as numpy."""
        return self.net.forward(self.net.inputs(X), self.W).cpu().numpy()

    def analysis(self) -> NetworkInfluence:
        """IHVP machinery (empirical NTK, exact Hessian inverse, LiSSA, CG) at the trained weights."""
        return NetworkInfluence(self.net, self.W, self.X, self.y, self.reg)


@dataclass
class LOOResult:
    """Leave-one-out retrains. Row k of each array belongs to indices[k]; rows with completed[k] False
    were not finished (interrupted) and hold NaN."""
    indices: np.ndarray
    completed: np.ndarray
    eval_predictions: np.ndarray  # (R, m, C) outputs at X_eval of the network trained without indices[k]
    train_predictions: np.ndarray  # (R, n, C) outputs at the training inputs
    steps: np.ndarray
    flip_fraction: np.ndarray
    seconds: float
    interrupted: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def n_completed(self) -> int:
        return int(self.completed.sum())


# ---------------------------------------------------------------------------- the batched engine
class _SpanProblem:
    """Everything a batch of trainings on the same inputs shares: G = X Xᵀ, Z0 = X W0ᵀ, y, a, λ."""

    def __init__(self, net: TwoLayerReLU, X: torch.Tensor, y: torch.Tensor, reg: float):
        self.net, self.X, self.y, self.reg = net, X, y, reg
        self.G = X @ X.T
        self.Z0 = X @ net.W0.T  # (n, width)
        self.scale = 1.0 / math.sqrt(net.width)

    def outputs(self, Z: torch.Tensor) -> torch.Tensor:
        """(B, n, width) pre-activations -> (B, n, C) outputs."""
        return torch.relu(Z) @ self.net.a * self.scale

    def grad_coef(self, Z: torch.Tensor, U: torch.Tensor, mask: torch.Tensor):
        """The W-gradient of L written as Pᵀ X: returns (P (B, n, width), residual R (B, n, C)).
        P = w^{-1/2} (R aᵀ) ∘ 1[Z > 0] + λU with residual R = mask ∘ (f − y). Overwrites Z (B, n, width)."""
        S = Z > 0
        R = (torch.relu_(Z) @ self.net.a * self.scale - self.y) * mask[..., None]
        P = (R * self.scale) @ self.net.a.T
        P.mul_(S).add_(U, alpha=self.reg)
        return P, R

    def curvature(self, iters: int = 60, seed: int = 0) -> float:
        """λ_max of the Gauss–Newton part J Jᵀ at W0 (power iteration with J Jᵀ u = w^{-1/2}((G P)∘S) a)."""
        S = (self.Z0 > 0).to(self.Z0.dtype)
        gen = torch.Generator().manual_seed(seed)
        u = torch.randn(self.y.shape, generator=gen, dtype=torch.float64).to(self.y)
        est = 0.0
        for _ in range(iters):
            u = u / torch.linalg.vector_norm(u)
            P = (u @ self.net.a.T) * S * self.scale
            Ju = ((self.G @ P) * S) @ self.net.a * self.scale
            est = float((Ju * u).sum())
            u = Ju
        return est


def make_schedule(net: TwoLayerReLU, X: torch.Tensor, y: torch.Tensor, reg: float, method: str = "nesterov",
                  lr: float | None = None, safety: float = 1.25) -> Schedule:
    """Step size from the curvature: η = 1 / (safety · λ_max(J Jᵀ) + λ) (stable: below 2/λ_max(Hess));
    Nesterov's momentum β = (1 − √(λη)) / (1 + √(λη)) for strong convexity λ."""
    if method not in ("nesterov", "gd"):
        raise ValueError(f"method must be 'nesterov' or 'gd'; got {method!r}")
    curv = _SpanProblem(net, X, y, reg).curvature() + reg
    eta = check_positive(lr, "lr") if lr is not None else 1.0 / (safety * (curv - reg) + reg)
    q = math.sqrt(min(1.0, reg * eta))
    momentum = (1 - q) / (1 + q) if method == "nesterov" else 0.0
    return Schedule(lr=float(eta), momentum=float(momentum), curvature=float(curv), method=method,
                    reg_for_momentum=reg)


@dataclass
class _Live:
    """Per-network state of the networks of a batch still training: row b of every tensor is the network
    ids[b] of the batch. U (b, n, width) = U_k, U_prev = U_{k−1}; GU, GU_prev = G·U_k, G·U_{k−1} (on the
    device); eta (b,) step size, decays (b,) step decays so far, best (b,) best gradient norm since the last
    decay, since (b,) steps since it last improved by 30% (CPU); thresh, loss0 (b,) the stopping threshold
    and the loss at step 0 (set at step 0)."""
    ids: torch.Tensor
    mask: torch.Tensor
    U: torch.Tensor
    GU: torch.Tensor
    U_prev: torch.Tensor
    GU_prev: torch.Tensor
    eta: torch.Tensor
    decays: torch.Tensor
    best: torch.Tensor
    since: torch.Tensor
    thresh: torch.Tensor | None = None
    loss0: torch.Tensor | None = None

    @classmethod
    def start(cls, mask: torch.Tensor, width: int, lr: float) -> _Live:
        """B networks at U = 0 with step size lr; mask (B, n) on the device."""
        B, n = mask.shape
        U = torch.zeros((B, n, width), dtype=mask.dtype, device=mask.device)
        return cls(ids=torch.arange(B), mask=mask, U=U, GU=torch.zeros_like(U), U_prev=torch.zeros_like(U),
                   GU_prev=torch.zeros_like(U), eta=torch.full((B,), lr, dtype=torch.float64),
                   decays=torch.zeros(B, dtype=torch.long), best=torch.full((B,), math.inf, dtype=torch.float64),
                   since=torch.zeros(B, dtype=torch.long))

    def keep(self, rows: torch.Tensor) -> _Live:
        """The state of the networks where rows (b,) bool (CPU) is True."""
        return _Live(**{f.name: None if (t := getattr(self, f.name)) is None else t[rows.to(t.device)]
                        for f in fields(self)})

    def track(self, g: torch.Tensor, sched: Schedule, max_decays: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Record this step's gradient norms g (b,); returns (stalled, exhausted) (b,) bool: no 30% gain for a
        window of ~3/√(λη) steps, and stalled with no step decay left."""
        improved = g < 0.7 * self.best
        self.best = torch.where(improved, g, self.best)
        self.since = torch.where(improved, torch.zeros_like(self.since), self.since + 1)
        rate = sched.reg_for_momentum * self.eta
        if sched.momentum > 0:
            rate = torch.sqrt(rate)
        window = (3.0 / rate).clamp(20, 1000).long()
        stall = ~improved & (self.since > window)
        return stall, stall & (self.decays >= max_decays)

    def decay(self, rows: torch.Tensor) -> None:
        """Divide the step of the networks where rows (b,) is True by 4 and restart their momentum."""
        if not bool(rows.any()):
            return
        self.eta = torch.where(rows, self.eta / 4, self.eta)
        self.decays += rows.long()
        self.best = torch.where(rows, torch.full_like(self.best, math.inf), self.best)
        self.since = torch.where(rows, torch.zeros_like(self.since), self.since)
        sel = rows.to(self.U.device)
        self.U_prev[sel], self.GU_prev[sel] = self.U[sel], self.GU[sel]


@dataclass
class _BatchResult:
    """What _train_batch returns for B networks: coef U (B, n, width) at the stop; losses, one (B,) array
    per step (NaN once a network stopped); steps, grad_norm, decays (B,); stopped (B,) True where the
    network met the tolerance or exhausted its step decays (False: cut by max_steps or should_stop)."""
    coef: torch.Tensor
    losses: list
    steps: np.ndarray
    grad_norm: np.ndarray
    stopped: np.ndarray
    decays: np.ndarray

    @classmethod
    def empty(cls, B: int, n: int, width: int, dtype: torch.dtype, device: torch.device) -> _BatchResult:
        return cls(torch.zeros((B, n, width), dtype=dtype, device=device), [], np.zeros(B, dtype=np.int64),
                   np.full(B, np.nan), np.zeros(B, dtype=bool), np.zeros(B, dtype=np.int64))

    def finish(self, live: _Live, rows: torch.Tensor, V: torch.Tensor, g: torch.Tensor, met: torch.Tensor) -> None:
        """Store the networks where rows (b,) is True: coefficients V (b, n, width), gradient norms g (b,),
        met (b,) whether they stopped by the tolerance or kink rule."""
        ids = live.ids[rows]
        self.coef[ids.to(V.device)] = V[rows.to(V.device)]
        sel = ids.numpy()
        self.grad_norm[sel] = g[rows].numpy()
        self.decays[sel] = live.decays[rows].numpy()
        self.stopped[sel] = met[rows].numpy()

    def add_losses(self, live: _Live, loss: torch.Tensor) -> None:
        """This step's losses (b,) of the live networks; NaN for the stopped ones."""
        row = np.full(len(self.steps), np.nan)
        row[live.ids.numpy()] = loss.numpy()
        self.losses.append(row)


def _train_batch(prob: _SpanProblem, mask: torch.Tensor, sched: Schedule, rtol: float, atol: float,
                 max_steps: int, should_stop: Callable[[], bool] | None = None,
                 on_step: Callable[[int, float], None] | None = None, max_decays: int = 3) -> _BatchResult:
    """Train B networks at once (mask (B, n): 1 where the point is in that network's training set).

    Nesterov in coefficient space: V = U_k + β(U_k − U_{k−1}); U_{k+1} = V − η P(V). The products
    G·U are carried along (G·U_{k+1} = G·V − η G·P), so one n²·width product per step gives both the
    next pre-activations and the W-gradient norm ‖Pᵀ X‖_F = √tr(Pᵀ G P). A network stops (its result is
    V, where its gradient was measured) once that norm is ≤ max(atol, rtol·‖∇L(W0)‖); finished networks
    leave the batch, so the rest run on a smaller tensor.

    ReLU kinks: the minimizer typically sits where some w_r·x_i = 0 exactly (measured: tens of
    (point, neuron) pairs on MNIST); there the gradient jumps, its norm cannot fall below the jump and
    a fixed step chatters around the minimizer with an amplitude ∝ η. When a network's gradient norm
    has not improved by 30% for a window of ~3/√(λη) steps, its step is divided by 4 (momentum re-tuned,
    restarted), up to max_decays times, after which it stops as "kink-limited" (each decay divides the
    chatter of the outputs by ~4; measured ~3e-6 after two decays at width 1024). Every decision is per
    network, so a batched run is the same computation as each network alone."""
    n, width = prob.Z0.shape
    dev, dt = prob.Z0.device, prob.Z0.dtype
    G, reg = prob.G, prob.reg
    live = _Live.start(mask, width, sched.lr)
    out = _BatchResult.empty(mask.shape[0], n, width, dt, dev)
    for k in range(max_steps + 1):
        if k and k % _REFRESH_EVERY == 0:  # float drift of the incrementally updated G·U
            live.GU, live.GU_prev = G @ live.U, G @ live.U_prev
        if sched.momentum > 0:
            bt = _momentum(live.eta, sched.reg_for_momentum).to(dev, dt)[:, None, None]
            V = (live.U - live.U_prev).mul_(bt).add_(live.U)
            GV = (live.GU - live.GU_prev).mul_(bt).add_(live.GU)
        else:
            V, GV = live.U.clone(), live.GU.clone()
        P, R = prob.grad_coef(prob.Z0 + GV, V, live.mask)
        GP = G @ P
        g = _batch_dot(P, GP).clamp_min(0).sqrt().cpu()
        loss = (0.5 * R.square().sum(dim=(1, 2)) + 0.5 * reg * _batch_dot(V, GV)).cpu()
        if live.loss0 is None:
            live.loss0, live.thresh = loss.clone(), torch.clamp(rtol * g, min=atol)
        _check_divergence(loss, live.loss0, k, sched)
        out.add_losses(live, loss)
        stall, exhausted = live.track(g, sched, max_decays)
        met = (g <= live.thresh) | exhausted
        last = k == max_steps or (should_stop is not None and should_stop())
        fin = torch.ones_like(met) if last else met
        if bool(fin.any()):
            out.finish(live, fin, V, g, met)
            if bool(fin.all()):
                break
        e = live.eta.to(dev, dt)[:, None, None]
        live.U_prev, live.GU_prev = live.U, live.GU
        live.U, live.GU = V.sub_(P.mul_(e)), GV.sub_(GP.mul_(e))
        live.decay(stall & ~exhausted)  # smaller step, momentum restarted from the current point
        if bool(fin.any()):
            live, g = live.keep(~fin), g[~fin]
        out.steps[live.ids.numpy()] += 1
        if on_step is not None:
            on_step(k, float(g.max()))
    return out


def _batch_dot(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Σ over all but the first axis of A ∘ B, without a temporary: (B,)."""
    b = A.shape[0]
    return torch.bmm(A.reshape(b, 1, -1), B.reshape(b, -1, 1)).reshape(b)


def _momentum(eta: torch.Tensor, reg: float) -> torch.Tensor:
    """Nesterov's constant momentum for strong convexity λ and step η: (1 − √(λη)) / (1 + √(λη))."""
    q = torch.sqrt((reg * eta).clamp(max=1.0))
    return (1 - q) / (1 + q)


def _check_divergence(loss: torch.Tensor, loss0: torch.Tensor, k: int, sched: Schedule) -> None:
    bad = ~torch.isfinite(loss) | (loss > 100 * loss0.clamp_min(1e-12))
    if bool(bad.any()):
        raise TrainingDivergedError(
            f"training diverged at step {k}: loss {float(loss[bad][0]):.3g} (started at {float(loss0[bad][0]):.3g}); "
            f"the step size η = {sched.lr:.3g} is too large for curvature ≈ {sched.curvature:.3g} "
            f"(stable below 2/curvature = {2 / sched.curvature:.3g}); leave lr=None to choose it from the curvature"
        )


# ------------------------------------------------------------------------------------- public API
def train(net: TwoLayerReLU, X, y, reg: float, *, method: str = "nesterov", lr: float | None = None,
          rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 20000,
          require_convergence: bool = True, progress: Progress | None = None) -> TrainResult:
    """Full-batch training of `net` on X (n, d), y (n,) or (n, C) with the pull λ = reg to W0.

    method "nesterov" (default; ≈ √(λ_max/λ) times fewer steps) or "gd"; lr None picks the stable step
    from the curvature. Stops when ‖∇L‖_F ≤ max(atol, rtol·‖∇L(W0)‖). Raises TrainingDivergedError if
    the loss blows up and NotConvergedError if max_steps is reached (unless require_convergence=False).
    """
    progress = progress or no_progress
    reg = check_positive(reg, "reg (λ)")
    rtol, atol = check_tolerances(rtol, atol)
    Xt = net.inputs(X, "X_train")
    yt, _ = net.targets(y, Xt.shape[0], "y_train")
    max_steps = check_int(max_steps, "max_steps", min_val=1)
    sched = make_schedule(net, Xt, yt, reg, method, lr)
    prob = _SpanProblem(net, Xt, yt, reg)
    _check_memory(net, Xt.shape[0], 1)
    t0 = time.perf_counter()
    mask = torch.ones((1, Xt.shape[0]), dtype=net.dtype, device=net.device)
    on_step = _step_reporter(progress, max_steps)
    run = _train_batch(prob, mask, sched, rtol, atol, max_steps, on_step=on_step)
    if require_convergence and not run.stopped[0]:
        raise NotConvergedError(
            f"training stopped after {max_steps} steps with gradient norm {run.grad_norm[0]:.3g} above the "
            "tolerance; raise max_steps, use method='nesterov', or loosen rtol"
        )
    coef = run.coef[0]
    W = net.W0 + coef.T @ Xt
    flips = _flip_fraction(prob.Z0, prob.Z0 + prob.G @ coef)
    progress(1.0, f"trained in {int(run.steps[0])} steps")
    return TrainResult(net=net, X=Xt, y=yt, reg=reg, W=W, coef=coef, losses=np.array([row[0] for row in run.losses]),
                       steps=int(run.steps[0]), grad_norm=float(run.grad_norm[0]), flip_fraction=flips,
                       schedule=sched, seconds=time.perf_counter() - t0, converged=bool(run.stopped[0]),
                       step_decays=int(run.decays[0]))


def retrain_loo(fit: TrainResult, indices, *, X_eval=None, chunk_size: int | None = None, rtol: float = 1e-8,
                atol: float = 1e-12, max_steps: int = 20000, progress: Progress | None = None,
                should_stop: Callable[[], bool] | None = None, memory_budget: float | None = None) -> LOOResult:
    """Retrain `fit`'s network from the same W0 without each training point in `indices`, with the same
    schedule, B = chunk_size networks at a time in one tensor. Evaluates each at X_eval (m, d).

    chunk_size None: as many networks as fit `memory_budget` bytes of working tensors: default 1.5 GB on a
    GPU, 64 MB on a CPU, where a large batch runs memory-bound (measured on 2 idle cores, n = 200, width
    4096: 0.087 retrains/s one at a time, 0.067 in batches of 4; at n = 100, width 512 batches of 16 were
    1.2× faster than one at a time). A smaller chunk also loses less work to an interrupt.

    Interruptible: Ctrl-C (KeyboardInterrupt) or should_stop() returning True ends the job after keeping
    every finished chunk; the unfinished rows have completed=False. progress(fraction, message)."""
    progress = progress or no_progress
    net, X, y = fit.net, fit.X, fit.y
    n = X.shape[0]
    idx = check_indices(indices, n, unique=True)
    rtol, atol = check_tolerances(rtol, atol)
    max_steps = check_int(max_steps, "max_steps", min_val=1)
    Xe = X if X_eval is None else net.inputs(X_eval, "X_eval")
    R, m, C = len(idx), Xe.shape[0], net.n_outputs
    if memory_budget is None:
        memory_budget = 1.5e9 if net.device.type == "cuda" else 6.4e7
    chunk = min(_chunk_size(net, n, chunk_size, memory_budget), R)
    _check_memory(net, n, chunk)
    prob = _SpanProblem(net, X, y, fit.reg)
    Ge, Ze0 = Xe @ X.T, Xe @ net.W0.T
    out = LOOResult(indices=idx, completed=np.zeros(R, bool), eval_predictions=np.full((R, m, C), np.nan),
                    train_predictions=np.full((R, n, C), np.nan), steps=np.zeros(R, int),
                    flip_fraction=np.full(R, np.nan), seconds=0.0)
    t0 = time.perf_counter()
    try:
        for start in range(0, R, chunk):
            if should_stop is not None and should_stop():
                out.interrupted = True
                break
            sel = idx[start:start + chunk]
            progress(start / R, f"retraining without points {start + 1}–{start + len(sel)} of {R}")
            mask = torch.ones((len(sel), n), dtype=net.dtype, device=net.device)
            mask[torch.arange(len(sel)), torch.as_tensor(sel)] = 0
            on_step = _chunk_reporter(progress, start, len(sel), R, max(fit.steps, 1))
            run = _train_batch(prob, mask, fit.schedule, rtol, atol, max_steps, on_step=on_step)
            if not run.stopped.all():
                raise NotConvergedError(
                    f"{int((~run.stopped).sum())} leave-one-out retrain(s) did not reach the gradient tolerance "
                    f"in {max_steps} steps (worst gradient norm {np.nanmax(run.grad_norm):.3g}); raise max_steps"
                )
            rows = slice(start, start + len(sel))
            U = run.coef
            GU = prob.G @ U
            out.train_predictions[rows] = prob.outputs(prob.Z0 + GU).cpu().numpy()
            out.eval_predictions[rows] = prob.outputs(Ze0 + Ge @ U).cpu().numpy()
            out.flip_fraction[rows] = [_flip_fraction(prob.Z0, prob.Z0 + GU[b]) for b in range(len(sel))]
            out.steps[rows] = run.steps
            out.completed[rows] = True
            del run, U, GU
    except KeyboardInterrupt:
        out.interrupted = True
    out.seconds = time.perf_counter() - t0
    progress(1.0, f"{out.n_completed} of {R} retrains finished" + (" (interrupted)" if out.interrupted else ""))
    return out


# ------------------------------------------------------------------------ IHVP at the trained net
class NetworkInfluence:
    """The trained network's own influence estimates (theory §5, §7) in parameter space W (width, d).

    Hess = Jᵀ J + λI exactly (ReLU is piecewise linear, the output layer is fixed), J the Jacobian of
    the n·C training outputs. Exact inverse through the empirical NTK K = J Jᵀ:
        Hess⁻¹ v = λ⁻¹ (v − Jᵀ (K + λI)⁻¹ J v).
    Koh & Liang's influence of removing i on test x: I(i, x) = ∇ℓ_xᵀ Hess⁻¹ ∇ℓ_i, ∇ℓ = Jᵀ r.
    """

    def __init__(self, net: TwoLayerReLU, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float):
        self.net, self.W, self.X, self.y, self.reg = net, W, X, y, check_positive(reg, "reg (λ)")
        self.S = (X @ W.T > 0).to(W.dtype)  # (n, width) activation pattern
        self.residual = net.forward(X, W) - y  # (n, C)
        self.scale = 1.0 / math.sqrt(net.width)
        self._chol = None

    # Jacobian products. J v: (n, C) for v (width, d); Jᵀ u: (width, d) for u (n, C).
    def jvp(self, v: torch.Tensor, rows=None) -> torch.Tensor:
        X, S = (self.X, self.S) if rows is None else (self.X[rows], self.S[rows])
        return ((X @ v.T) * S) @ self.net.a * self.scale

    def vjp(self, u: torch.Tensor, rows=None) -> torch.Tensor:
        X, S = (self.X, self.S) if rows is None else (self.X[rows], self.S[rows])
        return ((u @ self.net.a.T) * S * self.scale).T @ X

    def hvp(self, v: torch.Tensor, rows=None) -> torch.Tensor:
        """Hess v = Jᵀ J v + λ v; with rows (a mini-batch of b indices), the unbiased estimate
        (n/b) J_Bᵀ J_B v + λ v."""
        if rows is None:
            return self.vjp(self.jvp(v)) + self.reg * v
        return self.vjp(self.jvp(v, rows), rows) * (self.X.shape[0] / len(rows)) + self.reg * v

    def empirical_ntk(self, X1: torch.Tensor | None = None) -> torch.Tensor:
        """K(X1, X) over all output pairs: (m·C, n·C), rows ordered (point, output). X1 None: K(X, X)."""
        S1 = self.S if X1 is None else (X1 @ self.W.T > 0).to(self.W.dtype)
        X1 = self.X if X1 is None else X1
        C = self.net.n_outputs
        G = X1 @ self.X.T
        blocks = [[G * ((S1 * self.net.a[:, c]) @ (self.S * self.net.a[:, c2]).T) / self.net.width
                   for c2 in range(C)] for c in range(C)]
        K = torch.stack([torch.stack(row, dim=-1) for row in blocks], dim=-2)  # (m, n, C, C)
        return K.permute(0, 2, 1, 3).reshape(X1.shape[0] * C, self.X.shape[0] * C)

    def _cholesky(self) -> torch.Tensor:
        if self._chol is None:
            A = self.empirical_ntk()
            A.diagonal().add_(self.reg)
            self._chol = torch.linalg.cholesky(A)
        return self._chol

    def ihvp_exact(self, v: torch.Tensor) -> torch.Tensor:
        """Hess⁻¹ v = λ⁻¹(v − Jᵀ (K + λI)⁻¹ J v) for v (width, d)."""
        n, C = self.residual.shape
        Jv = self.jvp(v).reshape(-1, 1)
        sol = torch.cholesky_solve(Jv, self._cholesky()).reshape(n, C)
        return (v - self.vjp(sol)) / self.reg

    def test_gradient(self, x: torch.Tensor, y_x: torch.Tensor) -> torch.Tensor:
        """∇_W ℓ(x) = J_xᵀ (f(x) − y_x) for one test point x (d,), y_x (C,). Returns (width, d)."""
        x = x.reshape(1, -1)
        r = self.net.forward(x, self.W) - y_x.reshape(1, -1)
        s = (x @ self.W.T > 0).to(self.W.dtype)
        return ((r @ self.net.a.T) * s * self.scale).T @ x

    def influence_from_ihvp(self, s_test: torch.Tensor) -> torch.Tensor:
        """I(i, x) = s_testᵀ ∇ℓ_i = r_i · (J s_test)_i for all i, given s_test = Hess⁻¹ ∇ℓ_x. (n,)"""
        return (self.jvp(s_test) * self.residual).sum(dim=1)

    def exact_influence(self, X_test: torch.Tensor, y_test: torch.Tensor) -> torch.Tensor:
        """Exact-IHVP influence for all test points at once (m, n): r_xᵀ [K_x (K + λI)⁻¹]_i r_i."""
        m, C = y_test.shape
        n = self.X.shape[0]
        r_x = (self.net.forward(X_test, self.W) - y_test).reshape(-1)  # (m·C,)
        Kx = self.empirical_ntk(X_test)  # (m·C, n·C)
        sol = torch.cholesky_solve(Kx.T, self._cholesky())  # (n·C, m·C)
        B = (sol * r_x).reshape(n, C, m, C).sum(dim=3)  # (n, C, m): Σ_c' [(K+λ)⁻¹ K_xᵀ]·r_x
        return torch.einsum("ncm,nc->mn", B, self.residual)

    def solver_influence(self, X_test: torch.Tensor, y_test: torch.Tensor, solver: str = "cg", **options):
        """Influence (m, n) with s_test from LiSSA or CG on Hessian-vector products; also returns the
        list of per-test-point solver infos."""
        known = {"cg": ("damping", "max_iter", "tol"),
                 "lissa": ("damping", "scale", "depth", "batch_size", "repeats", "seed")}
        if solver not in known:
            raise ValueError(f"solver must be 'cg' or 'lissa'; got {solver!r}")
        unknown = sorted(set(options) - set(known[solver]))
        if unknown:
            raise ValueError(f"unknown {solver} option(s) {unknown}; known: {list(known[solver])}")
        rows, infos = [], []
        for j in range(X_test.shape[0]):
            g = self.test_gradient(X_test[j], y_test[j])
            if solver == "cg":
                s, info = solvers.conjugate_gradient(self.hvp, g, **options)
            else:
                s, info = solvers.lissa(self.hvp, g, n=self.X.shape[0], **{"seed": j, **options})
            rows.append(self.influence_from_ihvp(s))
            infos.append(info)
        return torch.stack(rows), infos

    def hessian_max_eigenvalue(self) -> float:
        """λ_max(Hess) = λ_max(K) + λ (eigvalsh of the (n·C)² empirical NTK)."""
        return float(torch.linalg.eigvalsh(self.empirical_ntk())[-1]) + self.reg


# -------------------------------------------------------------------------------------- helpers
def _flip_fraction(Z_start: torch.Tensor, Z_end: torch.Tensor) -> float:
    """Fraction of (training point, neuron) ReLU activations that changed sign during training."""
    return float(((Z_start > 0) != (Z_end > 0)).to(torch.float64).mean())


def _chunk_size(net: TwoLayerReLU, n: int, chunk_size: int | None, budget: float) -> int:
    """Networks per batch: the given one, or as many as fit ~12 (n, width) buffers each in `budget` bytes."""
    if chunk_size is not None:
        return check_int(chunk_size, "chunk_size", min_val=1)
    per = 12 * n * net.width * torch.finfo(net.dtype).bits // 8
    return max(1, int(budget // per))


def _check_memory(net: TwoLayerReLU, n: int, batch: int) -> None:
    nbytes = 12 * batch * n * net.width * torch.finfo(net.dtype).bits // 8
    check_fits(nbytes, net.device, f"Training {batch} network(s) of width {net.width} on {n} points")


def _chunk_reporter(progress: Progress, start: int, size: int, total: int, expected_steps: int):
    """Progress inside a chunk of retrains, assuming each takes about as many steps as the full training."""
    def report(k: int, g: float) -> None:
        if k % 25 == 0:
            frac = (start + size * min(0.95, k / expected_steps)) / total
            progress(frac, f"retrains {start + 1}–{start + size} of {total}: step {k}")
    return report


def _step_reporter(progress: Progress, max_steps: int):
    def report(k: int, g: float) -> None:
        if k % 50 == 0:
            progress(min(0.99, k / max_steps), f"step {k}, gradient norm {g:.2e}")
    return report
