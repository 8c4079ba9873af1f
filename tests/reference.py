"""Slow, obviously-correct references: explicit inverses and brute-force refits in numpy float64."""
import numpy as np


def ntk_reference(X1, X2):
    """theory §2 entry by entry with numpy."""
    dots = X1 @ X2.T
    norms = np.linalg.norm(X1, axis=1)[:, None] * np.linalg.norm(X2, axis=1)[None, :]
    theta = np.arccos(np.clip(dots / norms, -1, 1))
    return dots * (np.pi - theta) / (2 * np.pi)


def krr_fit(H, y, lam):
    return np.linalg.solve(H + lam * np.eye(len(H)), y)


def brute_force_loo(H, K, y, lam):
    """f^{-i}(x) for every i by refitting without i: (m, n[, C])."""
    n = len(H)
    out = []
    for i in range(n):
        keep = np.arange(n) != i
        alpha = krr_fit(H[np.ix_(keep, keep)], y[keep], lam)
        out.append(K[:, keep] @ alpha)
    return np.stack(out, axis=1)


def sq_loss(f, y):
    d = (f - y).reshape(*f.shape[:2], -1) if f.ndim > 1 else f - y
    return 0.5 * np.sum(np.atleast_3d(d) ** 2, axis=-1) if f.ndim > 1 else 0.5 * d ** 2


def random_unit_rows(rng, n, d):
    X = rng.normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def rotated_rows(X, angle, rng):
    """Rows at `angle` from the rows of X, same norms: ‖x‖ (cos(a) u + sin(a) v), v ⟂ u a random unit vector."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / norms
    V = rng.normal(size=X.shape)
    V -= np.sum(V * U, axis=1, keepdims=True) * U
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return norms * (np.cos(angle) * U + np.sin(angle) * V)


def brute_force_complexity(H, y, lam):
    """yᵀ(H + λI)⁻¹y − y₋ᵢᵀ(H₋ᵢ + λI)⁻¹y₋ᵢ for every i, by refitting without i: (n,)."""
    full = np.sum(y * krr_fit(H, y, lam))
    keeps = [np.arange(len(H)) != i for i in range(len(H))]
    return np.array([full - np.sum(y[keep] * krr_fit(H[np.ix_(keep, keep)], y[keep], lam)) for keep in keeps])


def ihvp_reference(H, K, y, yt, lam):
    """Koh & Liang's estimate with the explicit inverse Q = (H + λI)⁻¹: (f(x) − y_x)·(−λ α_i (K Q)_i), (m, n)."""
    Q = np.linalg.inv(H + lam * np.eye(len(H)))
    alpha, KQ = (Q @ y).reshape(len(H), -1), K @ Q
    residual = (K @ alpha - yt.reshape(len(K), -1))  # (m, C)
    return -lam * KQ * (residual @ alpha.T)


def ntk_mpmath(X1, X2=None, depth=1, dps=40):
    """theory §9's depth-L ReLU NTK (depth 1 = §2) entry by entry in mpmath with `dps` digits, from the
    exact float64 inputs, with the textbook arccos (at 40 digits it keeps ≥ 20 near cos θ = 1).
    Returns the float64 rounding of the result (m, n)."""
    import mpmath

    X2 = X1 if X2 is None else X2
    with mpmath.workdps(dps):
        rows1 = [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(X1)]
        rows2 = [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(X2)]
        norms1 = [mpmath.sqrt(mpmath.fdot(r, r)) for r in rows1]
        norms2 = [mpmath.sqrt(mpmath.fdot(r, r)) for r in rows2]
        out = np.empty((len(rows1), len(rows2)))
        for i, (a, na) in enumerate(zip(rows1, norms1)):
            for j, (b, nb) in enumerate(zip(rows2, norms2)):
                out[i, j] = float(_ntk_entry_mpmath(mpmath.fdot(a, b), na * nb, depth))
    return out


def _ntk_entry_mpmath(dot, scale, depth):
    """H_L from Σ¹ = x·x' and √(Σ¹(x,x)Σ¹(x',x')) = ‖x‖‖x'‖, theory §9 literally."""
    import mpmath

    pi = mpmath.pi
    angle = lambda rho: mpmath.acos(max(-1, min(1, rho)))
    theta, big = angle(dot / scale), dot
    for _ in range(depth - 1):
        rho = (mpmath.sin(theta) + (pi - theta) * mpmath.cos(theta)) / pi
        big = scale * rho + big * (pi - theta) / pi
        theta = angle(rho)
    return big * (pi - theta) / (2 * pi)


def deep_network_weights(rng, d, width, depth):
    """Weights of theory §9's network, all N(0, 1): W¹ (width, d), W² … W^L (width, width), a ±1 (width,)."""
    import torch

    shapes = [(width, d)] + [(width, width)] * (depth - 1)
    weights = [torch.as_tensor(rng.normal(size=shape)) for shape in shapes]
    return weights, torch.as_tensor(rng.choice([-1.0, 1.0], size=width))


def deep_network(X, weights, a):
    """theory §9: h¹ = W¹x, h^{l+1} = √(2/w) W^{l+1} relu(h^l), f = w^{-1/2} Σ_r a_r relu(h^L)_r.
    X (n, d) tensor. Returns f (n,) and the pre-activations [h¹ … h^L], each (n, w)."""
    import torch

    width = a.shape[0]
    hs = [X @ weights[0].T]
    for W in weights[1:]:
        hs.append(np.sqrt(2 / width) * torch.relu(hs[-1]) @ W.T)
    return torch.relu(hs[-1]) @ a / np.sqrt(width), hs


def empirical_ntk_deep(X, weights, a):
    """Σ over every weight of ∂f(x)/∂W ∂f(x')/∂W for the network of deep_network, (n, n), by autograd.

    ∂f/∂W^l = c_l g_l z_{l−1}ᵀ with g_l = ∂f/∂h^l (autograd), z₀ = x, z_{l−1} = relu(h^{l−1}), c₁ = 1,
    c_l = √(2/w); so layer l adds c_l² (g_l(x)·g_l(x')) (z_{l−1}(x)·z_{l−1}(x')) without forming the
    (n, #weights) Jacobian (checked against it in the tests)."""
    import torch

    weights = [W.detach().requires_grad_() for W in weights]
    f, hs = deep_network(X, weights, a)
    grads = torch.autograd.grad(f.sum(), hs)  # row k of each depends on x_k only
    inputs = [X] + [torch.relu(h) for h in hs[:-1]]
    scales = [1.0] + [2 / a.shape[0]] * (len(weights) - 1)
    return sum(c * (g @ g.T) * (z @ z.T) for c, g, z in zip(scales, grads, inputs)).detach()
