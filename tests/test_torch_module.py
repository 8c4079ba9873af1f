"""The network as a plain nn.Module (ifexplorer.torch_module): same outputs, same gradients as ifexplorer.network."""
import math

import numpy as np
import pytest
import torch

from ifexplorer import network as N
from ifexplorer import torch_module as T


def _toy(n=15, d=6, seed=0, C=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sign(X[:, 0] + 0.3 * rng.normal(size=n)) if C == 1 else np.eye(C)[rng.integers(0, C, size=n)]
    return torch.as_tensor(X), torch.as_tensor(y)


@pytest.fixture(params=[1, 3], ids=["C1", "C3"])
def trained(request):
    C = request.param
    X, y = _toy(C=C)
    net = N.TwoLayerReLU(64, X.shape[1], C, seed=2, device="cpu", dtype=torch.float64)
    fit = N.train(net, X.numpy(), y.numpy(), 0.1)
    return net, fit, X, fit.y


def test_initial_module_is_zero_and_matches_network():
    X, _ = _toy()
    net = N.TwoLayerReLU(32, X.shape[1], 1, seed=1, device="cpu", dtype=torch.float64)
    mod = T.TwoLayerReLUModule.from_network(net)
    assert torch.equal(mod(X), net.forward(X))
    assert float(mod(X).detach().abs().max()) < 1e-14  # antisymmetric init: f0 ≡ 0
    assert [name for name, _ in mod.named_parameters()] == ["hidden.weight"]
    assert {name for name, _ in mod.named_buffers()} == {"W0", "a"}


def test_outputs_match_at_trained_weights(trained):
    net, fit, X, _ = trained
    mod = T.TwoLayerReLUModule.from_network(net, fit.W)
    Xe = torch.as_tensor(np.random.default_rng(5).normal(size=(7, X.shape[1])))
    np.testing.assert_allclose(mod(Xe).detach().numpy(), fit.predict(Xe.numpy()), rtol=1e-13, atol=1e-14)
    assert mod.W.dtype == torch.float64


def test_objective_matches_the_definition(trained):
    """(The gradient is checked off the minimum below: the minimizer sits on ReLU kinks, network.py.)"""
    net, fit, X, y = trained
    mod = T.TwoLayerReLUModule.from_network(net, fit.W)
    loss = T.objective(mod, X, y, fit.reg)
    f = net.forward(X, fit.W)
    expected = 0.5 * float(((f - y) ** 2).sum()) + 0.5 * fit.reg * float(((fit.W - net.W0) ** 2).sum())
    assert math.isclose(float(loss), expected, rel_tol=1e-13)


def test_per_point_gradients_equal_the_networks_jacobian_products(trained):
    """∇_W ℓ_i by autograd = J_iᵀ r_i (NetworkInfluence.vjp) and the test gradient, at a point off the minimum."""
    net, fit, X, y = trained
    W = fit.W + 0.05 * torch.as_tensor(np.random.default_rng(3).normal(size=tuple(fit.W.shape)))
    mod = T.TwoLayerReLUModule.from_network(net, W)
    ana = N.NetworkInfluence(net, W, X, y, fit.reg)
    for i in (0, 4, 11):
        (g,) = torch.autograd.grad(T.half_squared_error(mod(X[i:i + 1]), y[i:i + 1]), mod.W)
        u = torch.zeros_like(ana.residual)
        u[i] = ana.residual[i]
        torch.testing.assert_close(g, ana.vjp(u), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(g, ana.test_gradient(X[i], y[i]), rtol=1e-12, atol=1e-14)


def test_full_objective_gradient_and_hessian_vector_product(trained):
    """∇L = Jᵀ r + λ(W − W0) and (by double backprop) ∇²L v = Jᵀ J v + λ v = NetworkInfluence.hvp."""
    net, fit, X, y = trained
    W = fit.W + 0.05 * torch.as_tensor(np.random.default_rng(4).normal(size=tuple(fit.W.shape)))
    mod = T.TwoLayerReLUModule.from_network(net, W)
    ana = N.NetworkInfluence(net, W, X, y, fit.reg)
    (g,) = torch.autograd.grad(T.objective(mod, X, y, fit.reg), mod.W, create_graph=True)
    torch.testing.assert_close(g, ana.vjp(ana.residual) + fit.reg * (W - net.W0), rtol=1e-12, atol=1e-13)
    v = torch.as_tensor(np.random.default_rng(6).normal(size=tuple(W.shape)))
    (hv,) = torch.autograd.grad(g, mod.W, v)
    torch.testing.assert_close(hv, ana.hvp(v), rtol=1e-11, atol=1e-12)


def test_loss_reductions_and_bad_input():
    out, tgt = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0])
    assert float(T.half_squared_error(out, tgt)) == 2.5
    assert float(T.HalfSquaredError("mean")(out, tgt)) == 1.25
    assert T.half_squared_error(out, tgt, "none").tolist() == [0.5, 2.0]
    with pytest.raises(ValueError, match="reduction"):
        T.HalfSquaredError("max")
    with pytest.raises(ValueError, match="same width"):
        T.TwoLayerReLUModule(torch.zeros(4, 3), torch.ones(5, 1))
    with pytest.raises(ValueError, match="shape of W0"):
        T.TwoLayerReLUModule(torch.zeros(4, 3), torch.ones(4, 1), torch.zeros(4, 2))
