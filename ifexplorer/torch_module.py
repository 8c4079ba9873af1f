"""The paper's two-layer ReLU network (theory §1) as a plain `torch.nn.Module`, and its objective.

This is the form an outside influence library (captum, pyDVL, kronfluence, dattri) takes: a module whose one
trainable parameter is the first layer W (width, d); the output signs a (width, C) and the initial weights
W(0) are buffers. Built from an `ifexplorer.network.TwoLayerReLU` (antisymmetric init: f₀ ≡ 0) so that it
computes the same function, with the same gradients:

    f(x) = w^{-1/2} · Σ_r a_r relu(w_r · x)                                   (theory §1)
    L(W) = Σ_i ℓ(f(x_i), y_i) + (λ/2) ‖W − W(0)‖_F²,   ℓ(f, y) = ½ ‖f − y‖²

The data term is `half_squared_error` (summed over points) and the pull toward W(0) is `weight_decay`; libraries
that add a damping term to their Hessian get λ for it (the Hessian of L is exactly Jᵀ J + λ I: ReLU is piecewise
linear and the output layer is fixed), so every library sees the same objective. Imports only torch.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class TwoLayerReLUModule(nn.Module):
    """f(x) = relu(x Wᵀ) a / √width for x (m, d) -> (m, C). The one parameter is `hidden.weight` = W (width, d),
    an `nn.Linear` without bias (EK-FAC in kronfluence and pyDVL only handles Linear/Conv layers); `a` and `W0` are
    buffers. `module.W` is the same tensor as `module.hidden.weight`."""

    def __init__(self, W0: torch.Tensor, a: torch.Tensor, W: torch.Tensor | None = None):
        super().__init__()
        if W0.ndim != 2 or a.ndim != 2 or a.shape[0] != W0.shape[0]:
            raise ValueError(f"W0 must be (width, d) and a (width, C) with the same width; got {tuple(W0.shape)} "
                             f"and {tuple(a.shape)}")
        W = W0 if W is None else W
        if W.shape != W0.shape:
            raise ValueError(f"W must have the shape of W0 {tuple(W0.shape)}; got {tuple(W.shape)}")
        self.register_buffer("W0", W0.detach().clone())
        self.register_buffer("a", a.detach().clone())
        self.hidden = nn.Linear(W0.shape[1], W0.shape[0], bias=False, device=W0.device, dtype=W0.dtype)
        with torch.no_grad():
            self.hidden.weight.copy_(W)
        self.width = int(W0.shape[0])

    @property
    def W(self) -> nn.Parameter:
        """The first layer (width, d): the trained parameter."""
        return self.hidden.weight

    @classmethod
    def from_network(cls, net, W: torch.Tensor | None = None) -> TwoLayerReLUModule:
        """The module of an ifexplorer.network.TwoLayerReLU `net` at weights W (default W(0)), same dtype/device."""
        return cls(net.W0, net.a, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.hidden(x)) @ self.a / math.sqrt(self.width)


def half_squared_error(output: torch.Tensor, target: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """ℓ = ½ ‖f − y‖² per point; reduction "sum" (the objective's data term), "mean" or "none" ((m,)).
    output (m, C); target (m, C) or (m,) for one output."""
    target = target.reshape(output.shape)
    per_point = 0.5 * ((output - target) ** 2).reshape(output.shape[0], -1).sum(dim=1)
    if reduction == "none":
        return per_point
    if reduction == "sum":
        return per_point.sum()
    if reduction == "mean":
        return per_point.mean()
    raise ValueError(f"reduction must be 'sum', 'mean' or 'none'; got {reduction!r}")


class HalfSquaredError(nn.Module):
    """`half_squared_error` as a loss module with a `reduction` attribute (what captum and others read)."""

    def __init__(self, reduction: str = "sum"):
        super().__init__()
        if reduction not in ("sum", "mean", "none"):
            raise ValueError(f"reduction must be 'sum', 'mean' or 'none'; got {reduction!r}")
        self.reduction = reduction

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return half_squared_error(output, target, self.reduction)


def weight_decay(module: TwoLayerReLUModule, reg: float) -> torch.Tensor:
    """(λ/2) ‖W − W(0)‖_F², the pull toward the initial weights (theory §1)."""
    return 0.5 * reg * ((module.W - module.W0) ** 2).sum()


def objective(module: TwoLayerReLUModule, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """L(W) = Σ_i ½ ‖f(x_i) − y_i‖² + (λ/2) ‖W − W(0)‖² for X (n, d), y (n,) or (n, C) (theory §1)."""
    return half_squared_error(module(X), y, "sum") + weight_decay(module, reg)
