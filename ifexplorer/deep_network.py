"""Deep (depth-L) ReLU networks of docs/theory.md §9, trained for real, with leave-one-out retraining, the
proximal Bregman response function (PBRF, theory §10) and the network's own IHVP — the three answers to
"what happens when point m is removed" that the fragility study compares.

    h¹ = W¹ x,   h^{l+1} = √(2/w) · W^{l+1} relu(h^l)   (l = 1 … L−1),   g(x) = w^{-1/2} Σ_r a_r relu(h^L)_r

All W^l ~ N(0, 1) entrywise (κ = 1) and trained; the read-out a ∈ {−1, +1}^{w×C} is fixed.

**Antisymmetric ("doubling") initialization.** f = (g_{θ₁} − g_{θ₂})/√2: two copies of the network,
started from the same weights and with the *same* read-out signs a (the minus sign sits in front of
the second copy). Then f₀ ≡ 0 exactly and the NTK at θ(0) is (Θ_g + Θ_g)/2 = Θ_g. `width` counts the
hidden units per layer of the whole model, w/2 per copy (the fan-in scale uses w/2). The copies never
mix (block-diagonal hidden layers). For L = 1 this is exactly `network.TwoLayerReLU(width, …)`: its
neuron pairs (w_r, a_r), (w_r, −a_r) are the two copies, and with the same seed the two draw the same
W(0) and a.

**Training** minimises L(θ) = ½ Σ_i ‖f(x_i) − y_i‖² + (λ/2)‖θ − θ(0)‖² by full-batch Nesterov with the
rules of `network.train`: step η = 1/(1.25 λ_max(J Jᵀ) + λ) (power iteration on the empirical NTK at
the starting point), momentum (1 − √(λη))/(1 + √(λη)), stop when ‖∇L‖ ≤ max(atol, rtol‖∇L(start)‖),
divide the step by 4 after a stall (ReLU kinks; up to 3 times, then stop "kink-limited"), raise
TrainingDivergedError when the loss blows up. The first layer is carried in span coordinates
(W¹ − W¹_ref = Uᵀ X, as in network.py), every other layer as is. B networks — leave-one-out retrains
from the same θ(0), each with its own left-out mask, or PBRF solves from θ_s — share one set of
tensors with a leading batch dimension (plain batched matmuls with a hand-written backward pass:
1.4× faster per gradient than torch.func.vmap over the autograd gradient, measured on 2 shared CPU
cores at depth 4, width 1024, n = 200, benchmarks/bench_deep.py); every decision
(stop, step decay) is per network, so a batched run is the same computation as each network alone.

**PBRF** for point m (Bae et al. 2022), with ℓ = ½‖f − y‖² and D = ½‖f − f_s‖²:

    θ^PBRF = argmin_θ Σ_j ½‖f(θ, x_j) − f(θ_s, x_j)‖² − ε ℓ(f(θ, x_m), y_m) + (λ/2)‖θ − θ_s‖²   (ε = 1),

solved by the same Nesterov warm-started at θ_s. Up to a constant, D_m − ε ℓ_m = (1 − ε) D_m −
ε r_mᵀ(f_m − f_s,m) with r_m = f_s(x_m) − y_m: at ε = 1 the objective is the proximal least-squares fit
to f_s on the other points plus a linear push on f(x_m). For L ≥ 3 it is unbounded below far from θ_s
(f grows like ‖θ‖^L); what is solved is the local minimum that the proximity term makes of θ_s's
neighbourhood (divergence is reported).

**The network's IHVP.** `DeepInfluence`: Koh & Liang's I(m, x) = ∇ℓ_xᵀ Hess⁻¹ ∇ℓ_m at θ_s, with
(a) the Gauss–Newton Hessian JᵀJ + λI — exactly inverted through the empirical NTK K = J Jᵀ
(Woodbury), and exactly PBRF's first-order term in ε for any network (the D-terms have Hessian JᵀJ at
θ_s) — and (b) the true Hessian JᵀJ + Σ_i r_i ∇²f_i + λI (the second term is not zero for ReLU
networks of depth ≥ 2: f is piecewise multilinear in the layers' weights), by conjugate gradient on
autograd Hessian-vector products, preconditioned with (a).

`linearized=True` replaces the network by its linearization at θ(0), f(θ(0)) + J(θ(0))(θ − θ(0)): the
NTK-regime model with the finite-width empirical kernel (there PBRF = leave-one-out exactly, §10).
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ._checks import as_matrix, as_targets, check_indices, check_positive
from .device import check_fits, resolve_device, resolve_dtype
from .network import NotConvergedError, TrainingDivergedError
from .results import no_progress

__all__ = ["DeepReLU", "DeepFit", "Responses", "Schedule", "DeepInfluence", "train", "retrain_loo", "pbrf",
           "make_schedule", "examine", "METHODS", "TrainingDivergedError", "NotConvergedError"]

Progress = Callable[[float, str], None]
METHODS = ("loo", "pbrf", "ihvp_gn", "ihvp_hessian", "ntk")
SMALL_STEP_FLOPS = 2e7  # below this per training step, run single-threaded (see _threads_for)


# ------------------------------------------------------------------------------------ the network
class DeepReLU:
    """The fixed parts of a depth-L ReLU network (module docstring): θ(0) and the read-out signs.

    width: hidden units per layer (both copies together when antisymmetric: even, ≥ 2).
    n_inputs: d; n_outputs: C; depth: L ≥ 1 (number of trained weight matrices).
    seed: seed of θ(0) and a, drawn in the order W¹, a, W², …, W^L (so that L = 1 matches
    network.TwoLayerReLU with the same seed). linearized: use the network's linearization at θ(0).

    params0: tuple (W¹ (K, w_c, d), W² … W^L (K, w_c, w_c)) with K = 2 copies (1 without the
    antisymmetric init) of w_c = width/K units; signs (K,) = (1, −1)/√2 or (1,); a (w_c, C).
    """

    def __init__(self, width: int, n_inputs: int, n_outputs: int = 1, *, depth: int = 1, seed: int = 0,
                 antisymmetric: bool = True, linearized: bool = False, device: str = "auto", dtype=None):
        self.depth = _check_int(depth, "depth (L, the number of trained layers)", 1)
        self.width = _check_int(width, "width", 1)
        self.n_inputs = _check_int(n_inputs, "n_inputs", 1)
        self.n_outputs = _check_int(n_outputs, "n_outputs", 1)
        self.seed = _check_int(seed, "seed", 0)
        self.antisymmetric, self.linearized = bool(antisymmetric), bool(linearized)
        if self.antisymmetric and (self.width < 2 or self.width % 2):
            raise ValueError("the antisymmetric initialization runs two copies of the network, width/2 units each, "
                             f"so width must be even and ≥ 2; got {width!r}")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.copies = 2 if self.antisymmetric else 1
        self.copy_width = wc = self.width // self.copies
        gen = torch.Generator().manual_seed(self.seed)
        W1 = torch.randn(wc, self.n_inputs, generator=gen, dtype=torch.float64)
        a = torch.randint(0, 2, (wc, self.n_outputs), generator=gen).to(torch.float64) * 2 - 1
        Ws = [W1] + [torch.randn(wc, wc, generator=gen, dtype=torch.float64) for _ in range(self.depth - 1)]
        self.params0 = tuple(W.expand(self.copies, *W.shape).to(self.device, self.dtype).contiguous() for W in Ws)
        self.a = a.to(self.device, self.dtype)
        signs = [1 / math.sqrt(2), -1 / math.sqrt(2)] if self.antisymmetric else [1.0]
        self.signs = torch.tensor(signs, dtype=self.dtype, device=self.device)
        self.hidden_scale = math.sqrt(2.0 / wc)  # √(2/w) of the hidden layers (w = units per copy)
        self.out_scale = 1.0 / math.sqrt(wc)

    @property
    def n_params(self) -> int:
        return sum(W.numel() for W in self.params0)

    # -- the maps, for any leading batch dimensions (…, K, m, ·)
    def hidden(self, h1: torch.Tensor, Ws: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Pre-activations [h¹, …, h^L], each (…, K, m, w_c), from h¹ and the weights W² … W^L."""
        hs = [h1]
        for W in Ws:
            hs.append(torch.relu(hs[-1]) @ W.transpose(-1, -2) * self.hidden_scale)
        return hs

    def readout(self, hL: torch.Tensor) -> torch.Tensor:
        """(…, K, m, w_c) last pre-activations -> (…, m, C) outputs Σ_k s_k w_c^{-1/2} relu(h^L_k) a."""
        g = torch.relu(hL) @ self.a * self.out_scale
        return torch.einsum("k,...kmc->...mc", self.signs, g)

    def tangent(self, dh1: torch.Tensor, dWs: Sequence[torch.Tensor], base: tuple) -> torch.Tensor:
        """J(θ_b)·dθ, the directional derivative of the outputs at a point θ_b given as base = (its
        pre-activations [h¹ … h^L], its weights W² … W^L), for the change dh¹ = X dW¹ᵀ of the first
        pre-activation and dW² … dW^L. Returns (…, m, C)."""
        hs, Wb = base
        dh = dh1
        for h, W, dW in zip(hs[:-1], Wb, dWs):
            dh = ((h > 0) * dh @ W.transpose(-1, -2) + torch.relu(h) @ dW.transpose(-1, -2)) * self.hidden_scale
        g = ((hs[-1] > 0) * dh) @ self.a * self.out_scale
        return torch.einsum("k,...kmc->...mc", self.signs, g)

    def backprop(self, R: torch.Tensor, hs: list[torch.Tensor], Ws: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Vector-Jacobian product at the point with pre-activations hs and weights W² … W^L = Ws:
        the gradient of Σ_i R_i · f(x_i) as [δ¹ (…, K, m, w_c), ∂/∂W² … ∂/∂W^L], with ∂/∂W¹ = δ¹ᵀ X."""
        delta = (R.unsqueeze(-3) * self.signs[:, None, None]) @ self.a.T * self.out_scale * (hs[-1] > 0)
        grads = []
        for j in range(len(Ws) - 1, -1, -1):  # h^{j+2} = c relu(h^{j+1}) W^{j+2}ᵀ
            grads.append(delta.transpose(-1, -2) @ torch.relu(hs[j]) * self.hidden_scale)
            delta = (delta @ Ws[j]) * self.hidden_scale * (hs[j] > 0)
        return [delta, *reversed(grads)]

    def pre_activations(self, params: Sequence[torch.Tensor], X: torch.Tensor) -> list[torch.Tensor]:
        """[h¹ … h^L] of the network itself (never linearized) at full weights params, inputs X (m, d)."""
        return self.hidden(X @ params[0].transpose(-1, -2), params[1:])

    def function(self, params: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        """f(θ, X) (m, C) for full weights params (a tuple like params0); differentiable (torch.func)."""
        if not self.linearized:
            return self.readout(self.pre_activations(params, X)[-1])
        base = (self.pre_activations(self.params0, X), self.params0[1:])
        f0 = self.readout(base[0][-1])
        d = [p - p0 for p, p0 in zip(params, self.params0)]
        return f0 + self.tangent(X @ d[0].transpose(-1, -2), d[1:], base)

    def forward(self, X, params: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """f(X) (m, C) tensor at params (default θ(0)); X (m, d) array or tensor."""
        return self.function(self.params0 if params is None else params, self.inputs(X))

    def inputs(self, X, name: str = "X") -> torch.Tensor:
        """Validate X (m, d) and move it to the network's device and dtype."""
        Xt = as_matrix(X, name, self.device, self.dtype, nonzero_rows=False)
        if Xt.shape[1] != self.n_inputs:
            raise ValueError(f"{name} has {Xt.shape[1]} features; the network takes {self.n_inputs}")
        return Xt

    def targets(self, y, n: int, name: str = "y") -> torch.Tensor:
        """Validate y (n,) or (n, C) -> (n, C) tensor."""
        yt, _ = as_targets(y, n, name, self.device, self.dtype)
        if yt.shape[1] != self.n_outputs:
            raise ValueError(f"{name} has {yt.shape[1]} output(s) per point; the network has {self.n_outputs}")
        return yt

    def empirical_ntk(self, params: Sequence[torch.Tensor], X1: torch.Tensor, X2: torch.Tensor | None = None
                      ) -> torch.Tensor:
        """K = J(X1) J(X2)ᵀ at params, (m1·C, m2·C), rows ordered (point, output). Layer by layer,
        K = Σ_k s_k² Σ_l c_l² (δ^l δ^lᵀ) ∘ (a^{l−1} a^{l−1}ᵀ) with δ^l = ∂g/∂h^l per output and a^{l−1} the
        layer's input (x for l = 1). For the linearized model, at θ(0) (its Jacobian everywhere)."""
        at = self.params0 if self.linearized else params
        sides = [self._sensitivities(at, X) for X in (X1, X1 if X2 is None else X2)]
        m1, m2, C = X1.shape[0], sides[1][0][0].shape[-2], self.n_outputs
        K = torch.zeros(m1, C, m2, C, dtype=self.dtype, device=self.device)
        for (d1, in1), (d2, in2) in zip(zip(*sides[0]), zip(*sides[1])):
            # d (C, K, m, w_c), inp (K, m, ·): Σ_k (d_c d_c'ᵀ) ∘ (inp inpᵀ)
            gram = in1 @ in2.transpose(-1, -2)  # (K, m1, m2)
            dd = torch.einsum("ckir,ekjr->kicje", d1, d2)
            K += torch.einsum("kicje,kij->icje", dd, gram)
        return K.reshape(m1 * C, m2 * C)

    def _sensitivities(self, params, X):
        """Per layer l: δ^l = ∂f/∂h^l per output, signs s_k included, (C, K, m, w_c), and the layer's
        input times its scale, c_l a^{l−1} (K, m, ·), so that ∂f_c/∂W^l = δ^l_c ⊗ c_l a^{l−1}."""
        hs = self.pre_activations(params, X)
        C = self.n_outputs
        R = torch.eye(C, dtype=self.dtype, device=self.device)[:, None, :].expand(C, X.shape[0], C)
        delta = (R.unsqueeze(-3) * self.signs[:, None, None]) @ self.a.T * self.out_scale * (hs[-1] > 0)
        ds = [delta]
        for j in range(len(params) - 2, -1, -1):  # h^{j+2} = c relu(h^{j+1}) W^{j+2}ᵀ
            ds.append((ds[-1] @ params[j + 1]) * self.hidden_scale * (hs[j] > 0))
        inputs = [X.expand(self.copies, *X.shape)] + [torch.relu(h) * self.hidden_scale for h in hs[:-1]]
        return ds[::-1], inputs


# --------------------------------------------------------------------------- the batched objective
class _Problem:
    """B networks on the training inputs X (n, d), in offset coordinates D = θ − θ_ref from a shared
    reference θ_ref: D = (U (B, K, n, w_c), D² … D^L (B, K, w_c, w_c)) with W¹ − W¹_ref = Uᵀ X.
    The metric is the Euclidean one on θ: ⟨D, D'⟩ = tr(Uᵀ G U') + Σ_l ⟨D^l, D'^l⟩, G = X Xᵀ."""

    def __init__(self, net: DeepReLU, X: torch.Tensor, ref: Sequence[torch.Tensor]):
        self.net, self.X, self.ref = net, X, tuple(ref)
        self.G = X @ X.T
        self.Z_ref = X @ self.ref[0].transpose(-1, -2)  # (K, n, w_c)
        if net.linearized:  # J(θ(0)) is the Jacobian everywhere; f(θ_ref + D) = f(θ_ref) + J D
            self.base = (net.pre_activations(net.params0, X), net.params0[1:])
            self.f_ref = net.function(self.ref, X)

    def zeros(self, B: int) -> tuple[torch.Tensor, ...]:
        n = self.X.shape[0]
        K, wc = self.net.copies, self.net.copy_width
        shapes = [(B, K, n, wc)] + [(B, *W.shape) for W in self.ref[1:]]
        return tuple(torch.zeros(s, dtype=self.net.dtype, device=self.net.device) for s in shapes)

    def forward(self, D):
        """Outputs (B, n, C) at θ_ref + D and what the gradient needs."""
        GU = self.G @ D[0]
        if self.net.linearized:
            return self.f_ref + self.net.tangent(GU, D[1:], self.base), (GU, None)
        Ws = [W + d for W, d in zip(self.ref[1:], D[1:])]
        hs = self.net.hidden(self.Z_ref + GU, Ws)
        return self.net.readout(hs[-1]), (GU, (hs, Ws))

    def gradient(self, D, cache, R: torch.Tensor, reg: float):
        """Metric gradient P of Σ R·f + (λ/2)‖D‖² at D, and ‖D‖², ‖P‖² per network (B,)."""
        GU, point = cache
        hs, Ws = self.base if point is None else point
        grads = self.net.backprop(R, hs, Ws)
        P = [g.add_(d, alpha=reg) for g, d in zip(grads, D)]
        GP = self.G @ P[0]
        dd = _bsum(D[0] * GU) + sum(_bsum(d * d) for d in D[1:])
        pp = _bsum(P[0] * GP) + sum(_bsum(p * p) for p in P[1:])
        return P, dd, pp

    def full_weights(self, D) -> tuple[torch.Tensor, ...]:
        """θ_ref + D as full weights, (B, K, …) each."""
        W1 = self.ref[0] + D[0].transpose(-1, -2) @ self.X
        return (W1, *(W + d for W, d in zip(self.ref[1:], D[1:])))

    def curvature(self, iters: int = 60, seed: int = 0) -> float:
        """λ_max of J Jᵀ at θ_ref by power iteration on the empirical NTK (the start vector and the
        iteration count of network.py, so that L = 1 reproduces its step size)."""
        K = self.net.empirical_ntk(self.ref, self.X)
        gen = torch.Generator().manual_seed(seed)
        u = torch.randn((self.X.shape[0], self.net.n_outputs), generator=gen, dtype=torch.float64)
        u = u.reshape(-1).to(K)
        est = 0.0
        for _ in range(iters):
            u = u / torch.linalg.vector_norm(u)
            Ku = K @ u
            est = float(Ku @ u)
            u = Ku
        return est


def _bsum(t: torch.Tensor) -> torch.Tensor:
    """Sum over all axes but the first: (B,)."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


# ----------------------------------------------------------------------------------- the engine
@dataclass
class Schedule:
    """Step size η, Nesterov momentum β and the curvature estimate λ_max(J Jᵀ) + λ they came from."""
    lr: float
    momentum: float
    curvature: float
    reg: float


def make_schedule(curvature_jj: float, reg: float, *, lr: float | None = None, safety: float = 1.25) -> Schedule:
    """η = 1/(safety · λ_max(J Jᵀ) + λ) (or lr), β = (1 − √(λη))/(1 + √(λη)) (as network.make_schedule)."""
    eta = check_positive(lr, "lr") if lr is not None else 1.0 / (check_positive(safety, "safety") * curvature_jj + reg)
    return Schedule(float(eta), float(_momentum(torch.tensor([eta]), reg)[0]), float(curvature_jj + reg), float(reg))


def _momentum(eta: torch.Tensor, reg: float) -> torch.Tensor:
    q = torch.sqrt((reg * eta).clamp(max=1.0))
    return (1 - q) / (1 + q)


@dataclass
class _Run:
    """What the engine returns per network: final offsets D (tuple of (B, …)), steps, gradient norm,
    final objective, status ('tolerance', 'kink-limited', 'max_steps', 'interrupted'), step decays,
    and the objective per step (list of (B,) arrays, NaN once a network stopped)."""
    D: tuple
    steps: np.ndarray
    grad_norm: np.ndarray
    loss: np.ndarray
    status: list
    decays: np.ndarray
    losses: list


@contextlib.contextmanager
def _threads_for(flops: float):
    """One intra-op thread for steps below SMALL_STEP_FLOPS: small tensor ops gain nothing from threads and,
    on a loaded machine, lose to their synchronisation (measured: a width-32 training took 41 s with 2
    threads under load 15 on 2 cores, 0.9 s with one). Restores the thread count afterwards."""
    before = torch.get_num_threads()
    if flops < SMALL_STEP_FLOPS and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _step_flops(net: DeepReLU, n: int, batch: int) -> float:
    """Multiply-adds of one training step of `batch` networks (forward + backward), times 2."""
    K, wc = net.copies, net.copy_width
    return 6.0 * batch * K * n * wc * ((net.depth - 1) * wc + n + net.n_outputs)


def _minimise(prob: _Problem, T: torch.Tensor, mask: torch.Tensor, E: torch.Tensor, sched: Schedule, *,
              rtol: float, atol: float, max_steps: int, max_decays: int = 3, labels: Sequence[str] = (),
              should_stop: Callable[[], bool] | None = None, on_step: Callable[[int, float], None] | None = None
              ) -> _Run:
    """Minimise, for each of B networks b, the objective in offsets D from θ_ref (start D = 0):

        Φ_b(D) = ½ Σ_i mask_bi ‖f_i − T_i‖² + Σ_i E_bi · (f_i − T_i) + (λ/2)‖D‖²

    T (n, C) shared targets, mask (B, n), E (B, n, C). Training: T = y, E = 0; PBRF: T = f_s, mask 1
    except 1 − ε at row m, E = −ε r_m at row m. Nesterov with the schedule; the stall / decay / kink-limited rule of
    network._train_batch; a network leaves the batch when it stops. `labels[b]` names network b in errors.
    Divergence: a non-finite objective or |Φ − Φ(0)| > 100 · max(|Φ(0)|, ½Σ mask‖T‖²)."""
    with _threads_for(_step_flops(prob.net, prob.X.shape[0], mask.shape[0])):
        return _minimise_steps(prob, T, mask, E, sched, rtol, atol, max_steps, max_decays, labels, should_stop,
                               on_step)


def _minimise_steps(prob, T, mask, E, sched, rtol, atol, max_steps, max_decays, labels, should_stop, on_step):
    B = mask.shape[0]
    reg = sched.reg
    result = [torch.zeros_like(z) for z in prob.zeros(B)]
    D, D_prev = prob.zeros(B), prob.zeros(B)
    ids = torch.arange(B)
    steps, decays_out = np.zeros(B, dtype=np.int64), np.zeros(B, dtype=np.int64)
    gnorm_out, loss_out = np.full(B, np.nan), np.full(B, np.nan)
    status = ["max_steps"] * B
    eta = torch.full((B,), sched.lr, dtype=torch.float64)
    decays = torch.zeros(B, dtype=torch.long)
    best = torch.full((B,), float("inf"), dtype=torch.float64)
    since = torch.zeros(B, dtype=torch.long)
    scale = torch.clamp(0.5 * (mask[..., None] * T.square()).sum(dim=(1, 2)).cpu().double(), min=1e-12)
    thresh = loss0 = None
    losses = []
    for k in range(max_steps + 1):
        bt = _momentum(eta, reg).to(T)
        V = tuple(d + _bcast(bt, d) * (d - dp) for d, dp in zip(D, D_prev))
        f, cache = prob.forward(V)
        diff = f - T
        R = diff * mask[..., None] + E
        P, vv, pp = prob.gradient(V, cache, R, reg)
        g = pp.clamp_min(0).sqrt().cpu().double()
        loss = (0.5 * _bsum(diff.square() * mask[..., None]) + _bsum(E * diff) + 0.5 * reg * vv).cpu().double()
        if loss0 is None:
            loss0, thresh = loss.clone(), torch.clamp(rtol * g, min=atol)
            scale = torch.maximum(scale, loss0.abs())
        _check_divergence(loss, loss0, scale, ids, labels, k, sched)
        row = np.full(B, np.nan)
        row[ids.numpy()] = loss.numpy()
        losses.append(row)
        improved = g < 0.7 * best
        best = torch.where(improved, g, best)
        since = torch.where(improved, torch.zeros_like(since), since + 1)
        window = (3.0 / torch.sqrt(reg * eta)).clamp(20, 1000).long()
        stall = ~improved & (since > window)
        exhausted = stall & (decays >= max_decays)
        done = (g <= thresh) | exhausted
        interrupted = should_stop is not None and should_stop()
        last = k == max_steps or interrupted
        if bool(done.any()) or last:
            fin = torch.ones_like(done) if last else done
            for t, v in zip(result, V):
                t[ids[fin].to(t.device)] = v[fin.to(v.device)]
            for b, gb, lb, dn, ex, dc in zip(ids[fin].tolist(), g[fin].tolist(), loss[fin].tolist(),
                                             done[fin].tolist(), exhausted[fin].tolist(), decays[fin].tolist()):
                gnorm_out[b], loss_out[b], decays_out[b] = gb, lb, dc
                status[b] = ("kink-limited" if ex else "tolerance") if dn else (
                    "interrupted" if interrupted else "max_steps")
            keep = ~fin
            if not bool(keep.any()):
                break
            kd = keep.to(T.device)
            D, D_prev, V, P = (tuple(t[kd] for t in ts) for ts in (D, D_prev, V, P))
            mask, E = mask[kd], E[kd]
            ids, eta, decays, best, since = ids[keep], eta[keep], decays[keep], best[keep], since[keep]
            thresh, loss0, scale, stall, exhausted = (t[keep] for t in (thresh, loss0, scale, stall, exhausted))
            g = g[keep]
        steps[ids.numpy()] += 1
        e = eta.to(T)
        D_prev, D = D, tuple(v.sub_(_bcast(e, p) * p) for v, p in zip(V, P))
        decay = stall & ~exhausted
        if bool(decay.any()):  # smaller step, momentum restarted from the current point
            eta = torch.where(decay, eta / 4, eta)
            decays += decay.long()
            best = torch.where(decay, torch.full_like(best, float("inf")), best)
            since = torch.where(decay, torch.zeros_like(since), since)
            sel = decay.to(T.device)
            for dp, d in zip(D_prev, D):
                dp[sel] = d[sel]
        if on_step is not None:
            on_step(k, float(g.max()))
    return _Run(tuple(result), steps, gnorm_out, loss_out, status, decays_out, losses)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def _check_divergence(loss, loss0, scale, ids, labels, k, sched) -> None:
    bad = ~torch.isfinite(loss) | ((loss - loss0).abs() > 100 * scale)
    if bool(bad.any()):
        j = int(torch.nonzero(bad)[0])
        who = labels[int(ids[j])] if labels else "the network"
        raise TrainingDivergedError(
            f"{who} diverged at step {k}: objective {float(loss[j]):.3g} (started at {float(loss0[j]):.3g}); "
            f"the step size η = {sched.lr:.3g} is too large for curvature ≈ {sched.curvature:.3g} "
            f"(stable below 2/curvature = {2 / sched.curvature:.3g}) — the curvature grew during the run; "
            "pass a larger safety or a smaller lr, or raise λ"
        )


# ------------------------------------------------------------------------------------- results
@dataclass
class DeepFit:
    """A trained network: params θ_s (full weights, like net.params0), the schedule its retrains
    share, and how training ended (status 'tolerance' or 'kink-limited' when converged)."""
    net: DeepReLU
    X: torch.Tensor
    y: torch.Tensor
    reg: float
    params: tuple
    steps: int
    grad_norm: float
    loss: float
    status: str
    step_decays: int
    losses: np.ndarray
    flip_fraction: float
    schedule: Schedule
    seconds: float

    @property
    def converged(self) -> bool:
        return self.status in ("tolerance", "kink-limited")

    def predict(self, X) -> np.ndarray:
        """Network outputs (m, C) as numpy."""
        return self.net.function(self.params, self.net.inputs(X)).cpu().numpy()

    def influence(self) -> DeepInfluence:
        return DeepInfluence(self)

    def info(self) -> dict:
        """JSON-ready summary of the training."""
        return dict(steps=self.steps, grad_norm=self.grad_norm, loss=self.loss, status=self.status,
                    step_decays=self.step_decays, flip_fraction=self.flip_fraction, seconds=self.seconds,
                    lr=self.schedule.lr, momentum=self.schedule.momentum, curvature=self.schedule.curvature,
                    depth=self.net.depth, width=self.net.width, reg=self.reg, n_params=self.net.n_params,
                    antisymmetric=self.net.antisymmetric, linearized=self.net.linearized)


@dataclass
class Responses:
    """Leave-one-out retrains (kind 'loo', from θ(0)) or PBRF solves (kind 'pbrf', from θ_s), one per
    point in indices. Row k belongs to indices[k]; rows with completed[k] False were not finished
    (interrupted) and hold NaN. flip_fraction: activations (all layers, points, units) that changed
    sign from the run's start (θ(0) or θ_s)."""
    kind: str
    indices: np.ndarray
    completed: np.ndarray
    eval_predictions: np.ndarray  # (R, m, C) at X_eval
    train_predictions: np.ndarray  # (R, n, C) at the training inputs
    steps: np.ndarray
    grad_norm: np.ndarray
    status: list
    flip_fraction: np.ndarray
    seconds: float
    interrupted: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def n_completed(self) -> int:
        return int(self.completed.sum())


# ------------------------------------------------------------------------------------ public API
def train(net: DeepReLU, X, y, reg: float, *, lr: float | None = None, safety: float = 1.25, rtol: float = 1e-8,
          atol: float = 1e-12, max_steps: int = 20000, max_decays: int = 3, require_convergence: bool = True,
          progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> DeepFit:
    """Full-batch Nesterov on L(θ) = ½Σ‖f(x_i) − y_i‖² + (λ/2)‖θ − θ(0)‖² from θ(0), X (n, d), y (n,) or (n, C).

    Stops at ‖∇L‖ ≤ max(atol, rtol·‖∇L(θ(0))‖) or kink-limited (module docstring). Raises
    TrainingDivergedError when the loss blows up, NotConvergedError after max_steps (unless
    require_convergence=False); should_stop() → True ends it with status 'interrupted' (not raised)."""
    progress = progress or no_progress
    reg = check_positive(reg, "reg (λ)")
    rtol, atol = _check_tolerances(rtol, atol)
    max_steps = _check_int(max_steps, "max_steps", 1)
    Xt = net.inputs(X, "X_train")
    yt = net.targets(y, Xt.shape[0], "y_train")
    n = Xt.shape[0]
    _check_memory(net, n, 1)
    t0 = time.perf_counter()
    prob = _Problem(net, Xt, net.params0)
    sched = make_schedule(prob.curvature(), reg, lr=lr, safety=safety)
    mask = torch.ones((1, n), dtype=net.dtype, device=net.device)
    E = torch.zeros((1, n, net.n_outputs), dtype=net.dtype, device=net.device)
    run = _minimise(prob, yt, mask, E, sched, rtol=rtol, atol=atol, max_steps=max_steps, max_decays=max_decays,
                    labels=["training"], should_stop=should_stop, on_step=_step_reporter(progress, max_steps))
    if require_convergence and run.status[0] == "max_steps":
        raise NotConvergedError(f"training stopped after {max_steps} steps with gradient norm {run.grad_norm[0]:.3g} "
                                "above the tolerance; raise max_steps or loosen rtol")
    params = tuple(p[0] for p in prob.full_weights(run.D))
    progress(1.0, f"trained in {int(run.steps[0])} steps ({run.status[0]})")
    return DeepFit(net, Xt, yt, reg, params, int(run.steps[0]), float(run.grad_norm[0]), float(run.loss[0]),
                   run.status[0], int(run.decays[0]), np.array([r[0] for r in run.losses]),
                   _flip_fraction(net, net.params0, params, Xt), sched, time.perf_counter() - t0)


def retrain_loo(fit: DeepFit, indices, *, X_eval=None, chunk_size: int | None = None, rtol: float = 1e-8,
                atol: float = 1e-12, max_steps: int = 20000, progress: Progress | None = None,
                should_stop: Callable[[], bool] | None = None, memory_budget: float | None = None) -> Responses:
    """Retrain fit's network from θ(0) without each training point in `indices`, with fit's schedule,
    chunk_size networks at a time (None: as many as fit `memory_budget` bytes, 64 MB on a CPU, 1.5 GB on
    a GPU). On a CPU large batches do not pay: measured at depth 4, width 1024, n = 200 (real MNIST, 2
    shared cores), batches of 4 / 8 / 16 ran at 0.91 / 0.57 / 0.51 times the rate of one at a time, which
    the default budget chooses there. Raises NotConvergedError naming the point whose retrain hit max_steps."""
    n = fit.X.shape[0]
    idx = check_indices(indices, n, unique=True)

    def setup(sel):
        mask = torch.ones((len(sel), n), dtype=fit.net.dtype, device=fit.net.device)
        mask[torch.arange(len(sel)), torch.as_tensor(sel)] = 0
        E = torch.zeros((len(sel), n, fit.net.n_outputs), dtype=fit.net.dtype, device=fit.net.device)
        return mask, E

    prob = _Problem(fit.net, fit.X, fit.net.params0)
    return _respond("loo", fit, prob, fit.y, fit.schedule, idx, setup, X_eval, chunk_size, rtol, atol, max_steps,
                    progress, should_stop, memory_budget)


def pbrf(fit: DeepFit, indices, *, X_eval=None, weight: float = 1.0, chunk_size: int | None = None,
         rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 20000, safety: float = 1.25,
         progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
         memory_budget: float | None = None) -> Responses:
    """The PBRF (module docstring) of removing each training point m in `indices`, warm-started at θ_s
    with the step from the curvature at θ_s. weight ε (default 1, removal): the PBRF response as ε → 0
    divided by ε is the Gauss–Newton IHVP step. Same batching, stopping and errors as retrain_loo."""
    n = fit.X.shape[0]
    idx = check_indices(indices, n, unique=True)
    eps = float(weight)
    if not math.isfinite(eps) or eps == 0:
        raise ValueError(f"weight (ε) must be a finite nonzero number; got {weight!r}")
    prob = _Problem(fit.net, fit.X, fit.params)
    f_s = fit.net.function(fit.params, fit.X)
    r = f_s - fit.y

    def setup(sel):  # D_m − ε ℓ_m = (1 − ε) D_m − ε r_mᵀ(f_m − f_s,m) + const
        rows, pts = torch.arange(len(sel)), torch.as_tensor(sel)
        mask = torch.ones((len(sel), n), dtype=fit.net.dtype, device=fit.net.device)
        mask[rows, pts] = 1 - eps
        E = torch.zeros((len(sel), n, fit.net.n_outputs), dtype=fit.net.dtype, device=fit.net.device)
        E[rows, pts] = -eps * r[pts]
        return mask, E

    sched = make_schedule(prob.curvature(), fit.reg, safety=safety)
    out = _respond("pbrf", fit, prob, f_s, sched, idx, setup, X_eval, chunk_size, rtol, atol, max_steps, progress,
                   should_stop, memory_budget)
    out.extra.update(weight=eps, lr=sched.lr, curvature=sched.curvature)
    return out


def _respond(kind, fit, prob, T, sched, idx, setup, X_eval, chunk_size, rtol, atol, max_steps, progress,
             should_stop, memory_budget) -> Responses:
    """Run the networks of `idx` in chunks; keep every finished chunk on interruption."""
    progress = progress or no_progress
    net = fit.net
    rtol, atol = _check_tolerances(rtol, atol)
    max_steps = _check_int(max_steps, "max_steps", 1)
    n = fit.X.shape[0]
    Xe = fit.X if X_eval is None else net.inputs(X_eval, "X_eval")
    R, m, C = len(idx), Xe.shape[0], net.n_outputs
    if memory_budget is None:
        memory_budget = 1.5e9 if net.device.type == "cuda" else 6.4e7
    chunk = min(_chunk_size(net, n, chunk_size, memory_budget), R)
    _check_memory(net, n, chunk)
    out = Responses(kind, idx, np.zeros(R, bool), np.full((R, m, C), np.nan), np.full((R, n, C), np.nan),
                    np.zeros(R, np.int64), np.full(R, np.nan), [""] * R, np.full(R, np.nan), 0.0)
    start_params = prob.ref
    what = "retraining without" if kind == "loo" else "PBRF of"
    t0 = time.perf_counter()
    try:
        for start in range(0, R, chunk):
            if should_stop is not None and should_stop():
                out.interrupted = True
                break
            sel = idx[start:start + chunk]
            progress(start / R, f"{what} points {start + 1}–{start + len(sel)} of {R}")
            mask, E = setup(sel)
            labels = [f"the {kind} run for point {int(i)}" for i in sel]
            run = _minimise(prob, T, mask, E, sched, rtol=rtol, atol=atol, max_steps=max_steps, labels=labels,
                            should_stop=should_stop,
                            on_step=_chunk_reporter(progress, start, len(sel), R, max(fit.steps, 1), what))
            late = [i for i, s in zip(sel, run.status) if s == "max_steps"]
            if late:
                raise NotConvergedError(
                    f"the {kind} run(s) for point(s) {[int(i) for i in late]} did not reach the gradient tolerance in "
                    f"{max_steps} steps (worst gradient norm {np.nanmax(run.grad_norm):.3g}); raise max_steps")
            params = prob.full_weights(run.D)
            for b in range(len(sel)):
                row = start + b
                out.steps[row], out.grad_norm[row], out.status[row] = run.steps[b], run.grad_norm[b], run.status[b]
                if run.status[b] == "interrupted":
                    continue
                pb = tuple(p[b] for p in params)
                out.eval_predictions[row] = net.function(pb, Xe).cpu().numpy()
                out.train_predictions[row] = net.function(pb, fit.X).cpu().numpy()
                out.flip_fraction[row] = _flip_fraction(net, start_params, pb, fit.X)
                out.completed[row] = True
            if "interrupted" in run.status:
                out.interrupted = True
                break
    except KeyboardInterrupt:
        out.interrupted = True
    out.seconds = time.perf_counter() - t0
    progress(1.0, f"{out.n_completed} of {R} {kind} runs finished" + (" (interrupted)" if out.interrupted else ""))
    return out


# ---------------------------------------------------------------------------------- the IHVP
class DeepInfluence:
    """Koh & Liang's influence I(m, x) = ∇ℓ_xᵀ Hess⁻¹ ∇ℓ_m at the trained weights θ_s (removal of m:
    the predicted change of the test loss ℓ_x = ½‖f(x) − y_x‖²), for two Hessians of L:

    ihvp_gn       Gauss–Newton JᵀJ + λI, exact through the empirical NTK K = J Jᵀ (Woodbury/push-through):
                  I(m, x) = r_xᵀ [K_x (K + λI)⁻¹]_m r_m; PBRF's first-order term in ε for any network.
    ihvp_hessian  the true Hessian JᵀJ + Σ_i r_i ∇²f_i + λI (autograd Hessian-vector products),
                  s_x = Hess⁻¹ ∇ℓ_x by conjugate gradient preconditioned with the Gauss–Newton inverse,
                  then I(m, x) = r_m · (J s_x)_m.
    For the linearized model both are the same (f is linear in θ). Parameters are flattened in the
    order of params0; r = f − y residuals (n, C)."""

    def __init__(self, fit: DeepFit):
        self.fit, self.net, self.reg = fit, fit.net, fit.reg
        self.X, self.y = fit.X, fit.y
        self.theta = torch.cat([p.reshape(-1) for p in fit.params])
        self.residual = self.net.function(fit.params, self.X) - self.y  # (n, C)
        self._chol = None

    # -- flat-parameter functions for torch.func
    def unflatten(self, theta: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, k = [], 0
        for p in self.net.params0:
            out.append(theta[k:k + p.numel()].reshape(p.shape))
            k += p.numel()
        return tuple(out)

    def outputs(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        return self.net.function(self.unflatten(theta), X)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """L(θ) = ½Σ‖f(x_i) − y_i‖² + (λ/2)‖θ − θ(0)‖² on flat θ."""
        theta0 = torch.cat([p.reshape(-1) for p in self.net.params0])
        fit_term = 0.5 * (self.outputs(theta, self.X) - self.y).square().sum()
        return fit_term + 0.5 * self.reg * (theta - theta0).square().sum()

    def jvp(self, v: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """J v (m, C) at θ_s for a flat direction v."""
        X = self.X if X is None else X
        return torch.func.jvp(lambda t: self.outputs(t, X), (self.theta,), (v,))[1]

    def vjp(self, u: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """Jᵀ u (flat) at θ_s for u (m, C)."""
        X = self.X if X is None else X
        return torch.func.vjp(lambda t: self.outputs(t, X), self.theta)[1](u)[0]

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """True Hessian of L at θ_s times v (forward-over-reverse autograd)."""
        return torch.func.jvp(torch.func.grad(self.loss), (self.theta,), (v,))[1]

    def ntk(self, X1: torch.Tensor | None = None) -> torch.Tensor:
        """Empirical NTK K(X1, X) (m·C, n·C) at θ_s (X1 None: the training inputs)."""
        return self.net.empirical_ntk(self.fit.params, self.X if X1 is None else X1, self.X)

    def _cholesky(self) -> torch.Tensor:
        if self._chol is None:
            A = self.ntk()
            A.diagonal().add_(self.reg)
            self._chol = torch.linalg.cholesky(A)
        return self._chol

    def gn_inverse(self, v: torch.Tensor) -> torch.Tensor:
        """(JᵀJ + λI)⁻¹ v = λ⁻¹(v − Jᵀ (K + λI)⁻¹ J v) for flat v."""
        n, C = self.residual.shape
        sol = torch.cholesky_solve(self.jvp(v).reshape(-1, 1), self._cholesky()).reshape(n, C)
        return (v - self.vjp(sol)) / self.reg

    def test_gradient(self, x: torch.Tensor, y_x: torch.Tensor) -> torch.Tensor:
        """∇_θ ℓ(x) = J_xᵀ (f(x) − y_x) for one point x (d,), y_x (C,). Flat."""
        x = x.reshape(1, -1)
        r = self.outputs(self.theta, x) - y_x.reshape(1, -1)
        return self.vjp(r, x)

    def ihvp_gn(self, X_test: torch.Tensor, y_test: torch.Tensor) -> torch.Tensor:
        """Gauss–Newton influence for all (test, training) pairs (m, n)."""
        m, C = y_test.shape
        n = self.X.shape[0]
        r_x = (self.net.function(self.fit.params, X_test) - y_test).reshape(-1)
        sol = torch.cholesky_solve(self.ntk(X_test).T, self._cholesky())  # (n·C, m·C) = (K + λ)⁻¹ K_xᵀ
        Bm = (sol * r_x).reshape(n, C, m, C).sum(dim=3)
        return torch.einsum("ncm,nc->mn", Bm, self.residual)

    def ihvp_hessian(self, X_test: torch.Tensor, y_test: torch.Tensor, *, tol: float = 1e-10, max_iter: int = 200
                     ) -> tuple[torch.Tensor, list[dict]]:
        """True-Hessian influence (m, n) and per test point the solver info (iterations, relative
        residual). Raises ValueError if the Hessian shows negative curvature (θ_s is then not a
        minimum of L and Hess⁻¹ is not what Koh & Liang assume) or the solve does not converge."""
        rows, infos = [], []
        with _threads_for(_step_flops(self.net, self.X.shape[0], 1)):
            for j in range(X_test.shape[0]):
                g = self.test_gradient(X_test[j], y_test[j])
                s, info = _pcg(self.hvp, self.gn_inverse, g, tol=tol, max_iter=max_iter)
                rows.append((self.jvp(s) * self.residual).sum(dim=1))
                infos.append(info)
        return torch.stack(rows), infos


def _pcg(A: Callable, M_inv: Callable, b: torch.Tensor, *, tol: float, max_iter: int):
    """Preconditioned conjugate gradient for A x = b (A symmetric positive definite, M_inv ≈ A⁻¹)."""
    x = torch.zeros_like(b)
    r = b.clone()
    z = M_inv(r)
    p = z.clone()
    rz = r @ z
    bnorm = float(torch.linalg.vector_norm(b)) or 1.0
    for it in range(1, max_iter + 1):
        Ap = A(p)
        curv = float(p @ Ap)
        if curv <= 0:
            raise ValueError(f"the Hessian has negative curvature pᵀHp = {curv:.3g} at the trained weights: θ_s is "
                             "not a minimum of the loss, so the true-Hessian IHVP is undefined there")
        alpha = rz / curv
        x += alpha * p
        r -= alpha * Ap
        rel = float(torch.linalg.vector_norm(r)) / bnorm
        if rel <= tol:
            return x, {"iterations": it, "relative_residual": rel}
        z = M_inv(r)
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    raise ValueError(f"conjugate gradient on the true Hessian did not reach relative residual {tol:g} in {max_iter} "
                     f"iterations (reached {rel:.3g}); raise max_iter")


# ------------------------------------------------------------------------------------ the study
def examine(X_train, y_train, X_test, y_test, *, depth: int, width: int, reg: float, indices, seed: int = 0,
            methods: Sequence[str] = ("loo", "pbrf", "ihvp_gn"), antisymmetric: bool = True,
            linearized: bool = False, chunk_size: int | None = None, rtol: float = 1e-8, max_steps: int = 20000,
            hessian_tol: float = 1e-10, device: str = "auto", dtype=None, progress: Progress | None = None,
            should_stop: Callable[[], bool] | None = None) -> dict:
    """For each training point in `indices`: what removing it does to the test loss of every test
    point, by the methods asked for (METHODS):

        loo           actual: retrain from θ(0) without the point, ½‖f⁻ᵐ(x) − y_x‖² − ½‖f(x) − y_x‖²
        pbrf          the same change with the PBRF solution in place of f⁻ᵐ
        ihvp_gn       Koh & Liang with the Gauss–Newton Hessian (exact, Woodbury)
        ihvp_hessian  Koh & Liang with the true Hessian (CG on autograd Hessian-vector products)
        ntk           theory §4 with the analytic depth-L kernel kernels.ntk_relu (fitted to y − f₀)

    X_train (n, d), y_train (n,) ±1 or (n, C); X_test (m, d), y_test. Returns a dict (numpy arrays,
    row k ↔ indices[k], column j ↔ test point j):
        changes[method] (R, m), completed[method] (R,) bool, loo_flip_fraction / pbrf_flip_fraction (R,)
        (activation sign changes θ(0) → θ⁻ᵐ and θ_s → θ^PBRF), flip_fraction (θ(0) → θ_s), train (the
        fit's info), seconds[method], solver_info, steps[method] (R,), config, interrupted.
    Cheap methods run first, leave-one-out last. should_stop() → True (or Ctrl-C) ends the study keeping
    everything finished (NaN rows with completed False); progress(fraction, message)."""
    progress = progress or no_progress
    methods = _check_methods(methods)
    C = 1 if np.ndim(y_train) == 1 else int(np.shape(y_train)[1])
    net = DeepReLU(width, int(np.shape(X_train)[1]), C, depth=depth, seed=seed, antisymmetric=antisymmetric,
                   linearized=linearized, device=device, dtype=dtype)
    idx = check_indices(indices, int(np.shape(X_train)[0]), unique=True)
    config = dict(depth=net.depth, width=net.width, reg=float(reg), seed=net.seed, indices=idx.tolist(),
                  methods=list(methods), antisymmetric=net.antisymmetric, linearized=net.linearized, rtol=rtol,
                  max_steps=max_steps)
    R = len(idx)
    out = dict(config=config, indices=idx, changes={}, completed={}, steps={}, seconds={}, solver_info={},
               interrupted=False)
    stopped = lambda: should_stop is not None and should_stop()  # noqa: E731
    progress(0.0, f"training depth {net.depth}, width {net.width}")
    fit = train(net, X_train, y_train, reg, rtol=rtol, max_steps=max_steps, should_stop=should_stop,
                progress=_sub(progress, 0.0, 0.15))
    out.update(train=fit.info(), flip_fraction=fit.flip_fraction)
    if fit.status == "interrupted":
        out["interrupted"] = True
        return out
    Xe = net.inputs(X_test, "X_test")
    ye = net.targets(y_test, Xe.shape[0], "y_test")
    f_test = net.function(fit.params, Xe)
    base_loss = 0.5 * (f_test - ye).square().sum(dim=1).cpu().numpy()  # (m,)
    infl = fit.influence()
    cheap = [m for m in ("ntk", "ihvp_gn", "ihvp_hessian") if m in methods]
    for k, name in enumerate(cheap):
        if stopped():
            out["interrupted"] = True
            return out
        progress(0.15 + 0.05 * k, f"{name} for {Xe.shape[0]} test point(s)")
        t = time.perf_counter()
        if name == "ntk":
            scores = _ntk_influence(net, fit, Xe, ye)
        elif name == "ihvp_gn":
            scores = infl.ihvp_gn(Xe, ye)
        else:
            scores, out["solver_info"]["ihvp_hessian"] = infl.ihvp_hessian(Xe, ye, tol=hessian_tol)
        out["changes"][name] = scores.cpu().numpy()[:, idx].T
        out["completed"][name] = np.ones(R, bool)
        out["seconds"][name] = time.perf_counter() - t
    y_np = ye.cpu().numpy()
    for name, lo, hi in (("pbrf", 0.3, 0.45), ("loo", 0.45, 1.0)):
        if name not in methods:
            continue
        if stopped():
            out["interrupted"] = True
            return out
        run = pbrf if name == "pbrf" else retrain_loo
        res = run(fit, idx, X_eval=Xe, chunk_size=chunk_size, rtol=rtol, max_steps=max_steps,
                  progress=_sub(progress, lo, hi), should_stop=should_stop)
        out["changes"][name] = 0.5 * ((res.eval_predictions - y_np) ** 2).sum(-1) - base_loss
        out["completed"][name] = res.completed
        out["steps"][name] = res.steps
        out[f"{name}_flip_fraction"] = res.flip_fraction
        out["seconds"][name] = res.seconds
        if res.interrupted:
            out["interrupted"] = True
            return out
    progress(1.0, "done")
    return out


def _ntk_influence(net: DeepReLU, fit: DeepFit, Xe: torch.Tensor, ye: torch.Tensor) -> torch.Tensor:
    """theory §4 with H_L = kernels.ntk_relu(·, ·, depth=L), fitted to the initial network's residual
    (targets y − f₀(X), test targets y_x − f₀(x); f₀ ≡ 0 with the antisymmetric init). (m, n)."""
    from . import kernels

    if not hasattr(kernels, "ntk_relu"):
        raise ValueError("method 'ntk' needs the depth-L kernel ifexplorer.kernels.ntk_relu, which this version of the "
                         "package does not have; leave 'ntk' out of methods")
    H = kernels.ntk_relu(fit.X, fit.X, depth=net.depth)
    Hx = kernels.ntk_relu(Xe, fit.X, depth=net.depth)
    y = fit.y - net.function(net.params0, fit.X)
    yx = ye - net.function(net.params0, Xe)
    A = H + fit.reg * torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    Q = torch.linalg.inv(A)
    alpha = Q @ y  # (n, C)
    f = Hx @ alpha  # (m, C)
    KQ = Hx @ Q  # (m, n)
    # f^{-i}(x) = f(x) − (k(x)ᵀQ e_i) α_i / Q_ii, per output
    df = -KQ[:, :, None] * (alpha / Q.diagonal()[:, None])[None]  # (m, n, C)
    return 0.5 * ((f[:, None] + df - yx[:, None]).square().sum(-1) - (f - yx).square().sum(-1)[:, None])


# -------------------------------------------------------------------------------------- helpers
def _flip_fraction(net: DeepReLU, params_a, params_b, X: torch.Tensor) -> float:
    """Fraction of activations (layer, copy, point, unit) of the network whose sign differs between
    the two weight sets."""
    flips = total = 0
    for ha, hb in zip(net.pre_activations(params_a, X), net.pre_activations(params_b, X)):
        flips += int(((ha > 0) != (hb > 0)).sum())
        total += ha.numel()
    return flips / total


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _check_methods(methods) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty list from {list(METHODS)}; got {list(methods)!r}")
    return methods


def _check_tolerances(rtol, atol) -> tuple[float, float]:
    try:
        rtol, atol = float(rtol), float(atol)
    except (TypeError, ValueError):
        raise ValueError(f"rtol and atol must be numbers; got rtol={rtol!r}, atol={atol!r}") from None
    if not (math.isfinite(rtol) and math.isfinite(atol)) or rtol < 0 or atol < 0 or rtol == atol == 0:
        raise ValueError(f"rtol and atol must be finite, ≥ 0 and not both 0; got rtol={rtol!r}, atol={atol!r}")
    return rtol, atol


def _member_bytes(net: DeepReLU, n: int) -> int:
    """Working memory of one network in a batch: ~5 copies of its offsets, ~6 of its activations."""
    K, wc = net.copies, net.copy_width
    params = K * (n * wc + (net.depth - 1) * wc * wc)
    acts = 6 * net.depth * K * n * wc
    return (5 * params + acts) * torch.finfo(net.dtype).bits // 8


def _chunk_size(net: DeepReLU, n: int, chunk_size: int | None, budget: float) -> int:
    if chunk_size is not None:
        return _check_int(chunk_size, "chunk_size", 1)
    return max(1, int(budget // _member_bytes(net, n)))


def _check_memory(net: DeepReLU, n: int, batch: int) -> None:
    check_fits(batch * _member_bytes(net, n), net.device,
               f"Training {batch} depth-{net.depth} network(s) of width {net.width} on {n} points")


def _sub(progress: Progress, lo: float, hi: float) -> Progress:
    return lambda frac, msg: progress(lo + (hi - lo) * frac, msg)


def _step_reporter(progress: Progress, max_steps: int):
    def report(k: int, g: float) -> None:
        if k % 50 == 0:
            progress(min(0.99, k / max_steps), f"step {k}, gradient norm {g:.2e}")
    return report


def _chunk_reporter(progress: Progress, start: int, size: int, total: int, expected_steps: int, what: str):
    def report(k: int, g: float) -> None:
        if k % 25 == 0:
            frac = (start + size * min(0.95, k / expected_steps)) / total
            progress(frac, f"{what} points {start + 1}–{start + size} of {total}: step {k}")
    return report
