"""Numerical checks of the identities derived in docs/theory.md, in float64 with plain numpy.

    python docs/theory_checks.py          # a few seconds on 2 CPU cores; prints one line per check

Each line is `§n  what  value  (tolerance)`; the script exits with status 1 if any check fails.
These are checks of the *mathematics* (brute-force refits, explicit inverses, Monte Carlo networks);
the package's own implementation is tested in tests/ (see the "Checks" paragraphs of theory.md).
Only §6 imports the package (the Carathéodory–Fejér poles of ifexplorer.rational).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import scipy.linalg
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's ifexplorer (for §6)
RESULTS: list[bool] = []


def check(section: str, what: str, value: float, tol: float) -> None:
    ok = bool(np.isfinite(value) and value <= tol)
    RESULTS.append(ok)
    print(f"{section:<4} {what:<72} {value:9.2e}  (≤ {tol:.0e}) {'ok' if ok else 'FAIL'}")


def rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def unit_rows(rng, n, d):
    X = rng.normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def angle_stable(X1, X2):
    """θ = 2·atan2(‖u − u'‖, ‖u + u'‖) with both norms computed from the vectors."""
    U1 = X1 / np.linalg.norm(X1, axis=1, keepdims=True)
    U2 = X2 / np.linalg.norm(X2, axis=1, keepdims=True)
    diff = np.linalg.norm(U1[:, None, :] - U2[None, :, :], axis=2)
    summ = np.linalg.norm(U1[:, None, :] + U2[None, :, :], axis=2)
    return 2 * np.arctan2(diff, summ)


def ntk(X1, X2):
    """§2: H(x, x') = (x·x')(π − θ)/(2π), stable angle."""
    return (X1 @ X2.T) * (np.pi - angle_stable(X1, X2)) / (2 * np.pi)


def loo_lemma(M, a, b, i):
    """a₋ᵢᵀ (M₋ᵢ)⁻¹ b₋ᵢ by deleting row and column i (complex symmetric M allowed)."""
    keep = np.arange(len(M)) != i
    return a[keep] @ np.linalg.solve(M[np.ix_(keep, keep)], b[keep])


# ------------------------------------------------------------------------------------------- §2
def section2():
    rng = np.random.default_rng(0)
    d = 20
    worst = {"arccos": [0.0, 0.0], "gram": [0.0, 0.0], "stable": [0.0, 0.0]}
    for _ in range(200):
        u = rng.normal(size=d)
        u /= np.linalg.norm(u)
        v = rng.normal(size=d)
        v -= (v @ u) * u
        v /= np.linalg.norm(v)
        for end, sign in ((0, 1.0), (1, -1.0)):
            delta = 10.0 ** rng.uniform(-12, -3)
            x = 3.0 * u
            xp = 0.7 * (sign * u + delta * v)  # exact angle: atan(δ) (end 0) or π − atan(δ) (end 1)
            true = math.atan(delta) if end == 0 else math.pi - math.atan(delta)
            c = x @ xp / (np.linalg.norm(x) * np.linalg.norm(xp))
            th_acos = math.acos(min(1.0, max(-1.0, c)))
            th_gram = 2 * math.atan2(math.sqrt(max(0.0, 2 - 2 * c)), math.sqrt(max(0.0, 2 + 2 * c)))
            th_stab = float(angle_stable(x[None], xp[None])[0, 0])
            for name, th in (("arccos", th_acos), ("gram", th_gram), ("stable", th_stab)):
                # absolute error of H, relative to the scale |x·x'| of the entry (dH/dθ = −x·x'/(2π))
                worst[name][end] = max(worst[name][end], abs(th - true) / (2 * math.pi))
    check("§2", "stable angle 2·atan2(‖u−u'‖,‖u+u'‖): max |ΔH|/|x·x'|, θ → 0 and θ → π",
          max(worst["stable"]), 1e-15)
    print(f"     arccos (clipped):         θ → 0: {worst['arccos'][0]:.1e}   θ → π: {worst['arccos'][1]:.1e}")
    print(f"     Gram forms √(2 ∓ 2u·u'):  θ → 0: {worst['gram'][0]:.1e}   θ → π: {worst['gram'][1]:.1e}")
    X = rng.normal(size=(30, 5)) * rng.uniform(0.1, 5, size=(30, 1))
    H = ntk(X, X)
    check("§2", "diagonal H(x, x) = ‖x‖²/2 (any norm)", rel(np.diag(H), (X * X).sum(1) / 2), 1e-15)
    check("§2", "H is positive semi-definite: −λ_min(H)/λ_max(H)",
          max(0.0, -np.linalg.eigvalsh(H)[0]) / np.linalg.eigvalsh(H)[-1], 1e-14)
    # the kernel does not depend on κ and is the limit of the empirical NTK
    Xu = unit_rows(rng, 8, 5)
    errs = []
    for kappa in (0.01, 1.0, 100.0):
        W = kappa * rng.normal(size=(200_000, 5))
        S = (Xu @ W.T > 0).astype(float)
        K = (Xu @ Xu.T) * (S @ S.T) / W.shape[0]
        errs.append(np.linalg.norm(K - ntk(Xu, Xu)) / np.linalg.norm(ntk(Xu, Xu)))
    check("§2", "empirical NTK (width 2·10⁵, κ = 0.01, 1, 100) vs H: max rel. Frobenius error", max(errs), 1e-2)


# ------------------------------------------------------------------------------------ §3 – §5
def krr_problem(n=40, m=7, d=6, C=1, seed=1):
    rng = np.random.default_rng(seed)
    X, Xt = unit_rows(rng, n, d), unit_rows(rng, m, d)
    y = np.sign(X[:, :C] + 0.4 * rng.normal(size=(n, C)))
    yt = np.sign(Xt[:, :C])
    return X, y, Xt, yt


def sections3to5():
    X, y, _, _ = krr_problem(C=3)
    H = ntk(X, X)
    alpha = np.linalg.solve(H + 1e-2 * np.eye(len(X)), y)
    check("§3", "training residual f(X) − y = −λα (λ = 0.01)", rel(H @ alpha - y, -1e-2 * alpha), 1e-12)
    for lam in (1e-4, 1e-2, 1.0):
        X, y, Xt, yt = krr_problem(C=3, seed=int(1e4 * lam) % 11)
        n = len(X)
        H, K = ntk(X, X), ntk(Xt, X)
        A = H + lam * np.eye(n)
        Q = np.linalg.inv(A)
        alpha = Q @ y
        f = K @ alpha
        # §4: leave-one-out by refits against the closed form
        KQ = K @ Q
        loo_closed = f[:, None, :] - (KQ / np.diag(Q))[:, :, None] * alpha[None, :, :]
        loo_brute = np.stack([K[:, np.arange(n) != i] @ np.linalg.solve(
            A[np.ix_(np.arange(n) != i, np.arange(n) != i)], y[np.arange(n) != i]) for i in range(n)], axis=1)
        check("§4", f"f⁻ⁱ(x) = f(x) − (k(x)ᵀQ)_i α_i/Q_ii vs {n} refits, λ = {lam:g}, C = 3",
              rel(loo_closed, loo_brute), 1e-9)
        infl = 0.5 * ((loo_brute - yt[:, None, :]) ** 2).sum(-1) - 0.5 * ((f - yt) ** 2).sum(-1)[:, None]
        d = KQ / np.diag(Q)
        r_dot_alpha = (f - yt) @ alpha.T
        infl_closed = d * (0.5 * d * (alpha ** 2).sum(1) - r_dot_alpha)
        check("§4", f"I(i, x) = d_i(½d_i‖α_i‖² − (f(x) − y_x)·α_i) vs refits, λ = {lam:g}", rel(infl_closed, infl), 1e-9)

    # the lemma behind §4 and §6, for complex z and arbitrary vectors
    rng = np.random.default_rng(2)
    n = 25
    B = rng.normal(size=(n, n))
    A = B @ B.T / n + 0.1 * np.eye(n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    worst = 0.0
    for z in (0.0, -3.0 + 2.0j, 5.0 - 0.5j, 1e-3 + 40j):
        M = A - z * np.eye(n)
        G = np.linalg.inv(M)
        for i in range(n):
            lhs = loo_lemma(M, a, b, i)
            rhs = a @ G @ b - (G @ a)[i] * (G @ b)[i] / G[i, i]
            worst = max(worst, abs(lhs - rhs) / abs(lhs))
    check("§4", "lemma a₋ᵢᵀ(M₋ᵢ)⁻¹b₋ᵢ = aᵀGb − (Ga)_i(Gb)_i/G_ii, M = A − zI, complex z", worst, 1e-10)

    # per-training-point scores
    X, y, Xt, yt = krr_problem(n=30, C=2, seed=3)
    n, lam = len(X), 0.05
    H = ntk(X, X)
    A = H + lam * np.eye(n)
    Q = np.linalg.inv(A)
    alpha = Q @ y
    q = np.diag(Q)
    own, comp, s2 = [], [], []
    for i in range(n):
        keep = np.arange(n) != i
        a_i = np.linalg.solve(A[np.ix_(keep, keep)], y[keep])
        own.append(H[i, keep] @ a_i)
        comp.append(np.sum(y * alpha) - np.sum(y[keep] * a_i))
        s2.append(H[i, i] - H[i, keep] @ np.linalg.solve(A[np.ix_(keep, keep)], H[keep, i]))
    own, comp, s2 = np.array(own), np.array(comp), np.array(s2)
    check("§4", "LOO residual y_i − f⁻ⁱ(x_i) = α_i/Q_ii", rel(alpha / q[:, None], y - own), 1e-10)
    f_train = H @ alpha
    self_brute = 0.5 * ((own - y) ** 2).sum(1) - 0.5 * ((f_train - y) ** 2).sum(1)
    self_closed = 0.5 * (alpha ** 2).sum(1) * (1 / q ** 2 - lam ** 2)
    check("§4", "self-influence I(i, x_i) = ½‖α_i/Q_ii‖² − ½‖λα_i‖² (≥ 0)", rel(self_closed, self_brute), 1e-10)
    check("§4", "complexity yᵀQy − y₋ᵢᵀA₋ᵢ⁻¹y₋ᵢ = ‖α_i‖²/Q_ii", rel((alpha ** 2).sum(1) / q, comp), 1e-10)
    G_idx = np.array([1, 4, 9, 17])
    keep = np.setdiff1d(np.arange(n), G_idx)
    cg = np.sum(y * alpha) - np.sum(y[keep] * np.linalg.solve(A[np.ix_(keep, keep)], y[keep]))
    cg_closed = np.sum(alpha[G_idx] * np.linalg.solve(Q[np.ix_(G_idx, G_idx)], alpha[G_idx]))
    check("§4", "group complexity C_G = α_Gᵀ(Q_GG)⁻¹α_G", abs(cg - cg_closed) / abs(cg), 1e-10)
    objective = ((H @ alpha - y) ** 2).sum() + lam * np.sum(alpha * (H @ alpha))
    check("§4", "λ·yᵀQy = min_f Σ(f(x_i) − y_i)² + λ‖f‖²_H  (what eq. 19 measures)",
          abs(lam * np.sum(y * alpha) - objective) / objective, 1e-12)

    # §5
    check("§5", "1/Q_ii = λ + s_i² (posterior variance, Schur complement)", rel(1 / q - lam, s2), 1e-10)
    e = 1 - lam * q
    check("§5", "e_i = 1 − λQ_ii = (HQ)_ii (leverage)", rel(e, np.diag(H @ Q)), 1e-12)
    check("§5", "e_i = s_i²/(λ + s_i²)", rel(e, s2 / (lam + s2)), 1e-10)
    h = np.linalg.eigvalsh(H)
    lo, hi = h[0] / (lam + h[0]), h[-1] / (lam + h[-1])
    check("§5", "Theorem 3: λ_min/(λ+λ_min) ≤ e_i ≤ λ_max/(λ+λ_max): violation",
          max(0.0, lo - e.min(), e.max() - hi), 1e-14)
    check("§5", "λ_min(H) ≤ s_i² ≤ H_ii, so e_i ≤ H_ii/(λ + H_ii): violation",
          max(0.0, h[0] - s2.min(), float(np.max(s2 - np.diag(H))), float(np.max(e - np.diag(H) / (lam + np.diag(H))))),
          1e-14)

    # IHVP as a literal Newton step in parameter space of an explicit feature model f(x) = φ(x)ᵀθ
    rng = np.random.default_rng(4)
    n, m, p, lam = 20, 5, 60, 0.1
    J, Jt = rng.normal(size=(n, p)) / np.sqrt(p), rng.normal(size=(m, p)) / np.sqrt(p)
    y, yt = np.sign(rng.normal(size=n)), np.sign(rng.normal(size=m))
    hess = J.T @ J + lam * np.eye(p)
    theta = np.linalg.solve(hess, J.T @ y)  # θ(0) = 0, f₀ ≡ 0
    f_tr, f_te = J @ theta, Jt @ theta
    d_ihvp = Jt @ np.linalg.solve(hess, J.T * (f_tr - y))  # Δθ = Hess⁻¹∇ℓ_i for removal, (m, n)
    Hk = J @ J.T
    Q = np.linalg.inv(Hk + lam * np.eye(n))
    alpha = Q @ y
    check("§5", "push-through: Δ_ihvp f(x) = −λα_i(k(x)ᵀQ)_i (literal Newton step)",
          rel(d_ihvp, -lam * (Jt @ J.T @ Q) * alpha), 1e-11)
    d_exact = np.stack([Jt @ np.linalg.solve(hess - np.outer(J[i], J[i]), J.T @ y - J[i] * y[i]) for i in range(n)], 1) \
        - f_te[:, None]
    check("§5", "Δ_ihvp f(x) / Δ_exact f(x) = λQ_ii for every x", rel(d_ihvp / d_exact,
                                                                     np.broadcast_to(lam * np.diag(Q), (m, n))), 1e-9)
    I_ihvp = (f_te - yt)[:, None] * d_ihvp
    I_exact = (f_te - yt)[:, None] * d_exact + 0.5 * d_exact ** 2
    rho = d_exact / (2 * (f_te - yt)[:, None])
    ratio = (lam * np.diag(Q)[None, :] - 1 - rho) / (1 + rho)
    check("§5", "(I_ihvp − I)/I = (λQ_ii − 1 − ρ)/(1 + ρ), ρ = Δf/(2(f(x) − y_x))",
          rel((I_ihvp - I_exact) / I_exact, ratio), 1e-8)
    # Woodbury: the network's exact inverse Hessian through the empirical NTK (§7)
    hinv = (np.eye(p) - J.T @ np.linalg.solve(Hk + lam * np.eye(n), J)) / lam
    check("§7", "Hess⁻¹ = λ⁻¹(I − Jᵀ(JJᵀ + λI)⁻¹J)", rel(hinv, np.linalg.inv(hess)), 1e-11)


# ------------------------------------------------------------------------------------------- §6
def section6():
    from ifexplorer.rational import phi_exact, phi_resolvents

    rng = np.random.default_rng(5)
    n, m, lam = 50, 4, 0.05
    X, Xt = unit_rows(rng, n, 6), unit_rows(rng, m, 6)
    y = np.sign(X[:, 0] + 0.3 * rng.normal(size=n))
    H, K = ntk(X, X), ntk(Xt, X)
    A = H + lam * np.eye(n)
    mu, V = np.linalg.eigh(A)
    # β(t) = φ_t(A) y solves β' = y − Aβ, β(0) = 0: compare with a matrix exponential of the augmented system
    M = np.zeros((n + 1, n + 1))
    M[:n, :n], M[:n, n] = -A, y
    worst = 0.0
    for t in (1e-3, 0.5, 20.0):
        beta_ode = scipy.linalg.expm(t * M)[:n, n]
        beta = V @ (phi_exact(mu, t) * (V.T @ y))
        worst = max(worst, rel(beta, beta_ode))
    check("§6", "β(t) = V(φ_t(μ)∘Vᵀy) solves dβ/dt = y − Aβ (expm)", worst, 1e-10)
    # the same from gradient descent in parameter space of a linear model with JJᵀ = H-like Gram
    p = 80
    J = rng.normal(size=(n, p)) / np.sqrt(p)
    Hj = J @ J.T
    Aj = Hj + lam * np.eye(n)
    mu_j, V_j = np.linalg.eigh(Aj)
    eta, T = 1e-3, 2.0
    theta = np.zeros(p)
    for _ in range(int(round(T / eta))):
        theta -= eta * (J.T @ (J @ theta - y) + lam * theta)
    beta = V_j @ (phi_exact(mu_j, T) * (V_j.T @ y))
    check("§6", "gradient descent (η = 1e-3, t = ηk = 2) vs f_t(X) = Hβ(t): rel. gap (O(η))",
          rel(J @ theta, Hj @ beta), 2e-3)
    # rational approximation of ψ(s) = (1 − e^{−s})/s, uniform relative error
    rs = phi_resolvents()
    s = np.concatenate([[0.0], np.logspace(-12, 12, 3001)])
    check("§6", f"CF resolvent sum: max relative error of ψ on [0, ∞) with {len(rs.poles)} complex poles",
          float(np.max(np.abs(rs.psi(s) / phi_exact(s, 1.0) - 1))), 1e-13)
    # leave-one-out at time t: resolvent sum + lemma against eigendecompositions of every A₋ᵢ
    worst = 0.0
    for t in (0.01, 1.0, 100.0, 1e4):
        f_t = K @ (V @ (phi_exact(mu, t) * (V.T @ y)))
        delta = np.zeros((m, n))
        for z_s, w in zip(rs.poles, rs.weights):
            z = z_s / t
            R = 1.0 / (mu - z)
            dG = (V * V) @ R
            Gy = V @ (R * (V.T @ y))
            Gk = (K @ V * R) @ V.T  # rows: (G k(x))ᵀ
            delta += np.real(w * Gk * (Gy / dG)[None, :])
        brute = np.zeros((m, n))
        for i in range(n):
            keep = np.arange(n) != i
            mu_i, V_i = np.linalg.eigh(A[np.ix_(keep, keep)])
            brute[:, i] = K[:, keep] @ (V_i @ (phi_exact(mu_i, t) * (V_i.T @ y[keep])))
        worst = max(worst, rel(f_t[:, None] - delta, brute))
    check("§6", "f_t⁻ⁱ(x) by 8 resolvents + lemma vs eigh of every A₋ᵢ, t = 0.01 … 1e4", worst, 1e-11)
    # early training: influence ≈ t·k_i(x)·y_i·y_x
    t = 1e-7
    f_t = K @ (V @ (phi_exact(mu, t) * (V.T @ y)))
    loo = np.stack([K[:, np.arange(n) != i] @ np.linalg.solve(A[np.ix_(np.arange(n) != i, np.arange(n) != i)],
                   (np.eye(n - 1) - scipy.linalg.expm(-t * A[np.ix_(np.arange(n) != i, np.arange(n) != i)]))
                   @ y[np.arange(n) != i]) for i in range(n)], axis=1)
    yt = np.sign(Xt[:, 0])
    I_t = 0.5 * (loo - yt[:, None]) ** 2 - 0.5 * (f_t - yt)[:, None] ** 2
    check("§6", "t → 0: I_t(i, x) ≈ t·H(x, x_i)·y_i·y_x (relative deviation at t = 1e-7)",
          rel(I_t, t * K * y[None, :] * yt[:, None]), 1e-5)


# ------------------------------------------------------------------------------------------- §7
def section7():
    rng = np.random.default_rng(6)
    n, d, width, lam = 12, 5, 64, 0.3
    X, Xt = unit_rows(rng, n, d), unit_rows(rng, 4, d)
    y = np.sign(rng.normal(size=n))
    W0 = rng.normal(size=(width // 2, d))
    a = rng.choice([-1.0, 1.0], size=width // 2)
    W0, a = np.vstack([W0, W0]), np.concatenate([a, -a])  # antisymmetric pairs
    f0 = np.maximum(Xt @ W0.T, 0) @ a / np.sqrt(width)
    check("§7", "antisymmetric init: max |f₀(x)|", float(np.abs(f0).max()), 1e-15)

    def jac(Z):  # ∂f/∂W at W0, rows flattened (width·d)
        S = (Z @ W0.T > 0).astype(float)
        return ((S * a)[:, :, None] * Z[:, None, :]).reshape(len(Z), -1) / np.sqrt(width)

    J, _Jt = jac(X), jac(Xt)
    S, _St = (X @ W0.T > 0).astype(float), (Xt @ W0.T > 0).astype(float)
    check("§7", "empirical NTK K = (x·x')·(1/w)Σ_r 1[w_r·x>0]1[w_r·x'>0] = J Jᵀ",
          rel(J @ J.T, (X @ X.T) * (S @ S.T) / width), 1e-13)
    # standard init (f₀ ≠ 0): the linearized minimizer is f₀ + k(x)ᵀQ(y − f₀(X))
    Wb = rng.normal(size=(width, d))
    ab = rng.choice([-1.0, 1.0], size=width)
    fb = lambda Z: np.maximum(Z @ Wb.T, 0) @ ab / np.sqrt(width)
    Sb, Sbt = (X @ Wb.T > 0).astype(float), (Xt @ Wb.T > 0).astype(float)
    Jb = ((Sb * ab)[:, :, None] * X[:, None, :]).reshape(n, -1) / np.sqrt(width)
    Jbt = ((Sbt * ab)[:, :, None] * Xt[:, None, :]).reshape(len(Xt), -1) / np.sqrt(width)
    dtheta = np.linalg.solve(Jb.T @ Jb + lam * np.eye(Jb.shape[1]), Jb.T @ (y - fb(X)))
    lin = fb(Xt) + Jbt @ dtheta
    Kb = Jb @ Jb.T
    closed = fb(Xt) + (Jbt @ Jb.T) @ np.linalg.solve(Kb + lam * np.eye(n), y - fb(X))
    check("§7", "linearized minimizer with f₀ ≠ 0 = f₀(x) + k(x)ᵀQ(y − f₀(X))", rel(lin, closed), 1e-11)


# ------------------------------------------------------------------------------------------- §8
def section8():
    x, y = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.5, 2.0])
    Z = np.column_stack([x, np.ones(3)])
    theta = np.linalg.solve(Z.T @ Z, Z.T @ y)
    check("§8", "least squares θ = (1, 1/6)", rel(theta, [1.0, 1 / 6]), 1e-14)
    r = y - Z @ theta
    infl = np.linalg.solve(Z.T @ Z, (Z * r[:, None]).T).T
    check("§8", "dθ/dε rows (0.083, −0.139), (0, 0.111), (−0.083, 0.028)",
          float(np.abs(infl - [[1 / 12, -5 / 36], [0, 1 / 9], [-1 / 12, 1 / 36]]).max()), 1e-14)
    lev = np.diag(Z @ np.linalg.solve(Z.T @ Z, Z.T))
    check("§8", "leverages h_kk = (5/6, 1/3, 5/6)", rel(lev, [5 / 6, 1 / 3, 5 / 6]), 1e-14)
    loo = np.array([np.linalg.lstsq(Z[np.arange(3) != k], y[np.arange(3) != k], rcond=None)[0] for k in range(3)])
    check("§8", "exact LOO θ₋ₖ − θ = −(dθ/dε)_k / (1 − h_kk)", rel(loo - theta, -infl / (1 - lev)[:, None]), 1e-13)


# ------------------------------------------------------------------------------------------- §9
def depth_ntk(X1, X2, L):
    """§9 recursion; returns H_L (m, n)."""
    n1, n2 = (X1 * X1).sum(1), (X2 * X2).sum(1)
    sig = X1 @ X2.T
    s1, s2 = n1.copy(), n2.copy()  # Σˡ(x, x), Σˡ(x', x') (stay ‖x‖²)
    theta_ntk = sig.copy()
    for _ in range(L - 1):
        norm = np.sqrt(s1[:, None] * s2[None, :])
        th = np.arccos(np.clip(sig / norm, -1, 1))
        sig = norm * (np.sin(th) + (np.pi - th) * np.cos(th)) / np.pi
        theta_ntk = sig + theta_ntk * (np.pi - th) / np.pi
    norm = np.sqrt(s1[:, None] * s2[None, :])
    th = np.arccos(np.clip(sig / norm, -1, 1))
    return theta_ntk * (np.pi - th) / (2 * np.pi)


def empirical_depth_ntk(X, L, width, rng):
    """Σ_l ⟨∂f/∂Wˡ(x), ∂f/∂Wˡ(x')⟩ of the §9 network at a random initialization (manual backprop)."""
    d = X.shape[1]
    Ws = [rng.normal(size=(width, d))] + [rng.normal(size=(width, width)) for _ in range(L - 1)]
    a = rng.choice([-1.0, 1.0], size=width)
    hs, inputs = [], []
    inp = X
    for l, W in enumerate(Ws):
        inputs.append(inp)
        h = inp @ W.T
        hs.append(h)
        inp = np.sqrt(2.0 / width) * np.maximum(h, 0)
    g = (hs[-1] > 0) * a / np.sqrt(width)  # ∂f/∂h^L, (m, width)
    K = np.zeros((len(X), len(X)))
    for l in range(L - 1, -1, -1):
        K += (g @ g.T) * (inputs[l] @ inputs[l].T)
        if l:
            g = (g @ Ws[l]) * np.sqrt(2.0 / width) * (hs[l - 1] > 0)
    return K


def section9():
    rng = np.random.default_rng(7)
    X = unit_rows(rng, 6, 20) * rng.uniform(0.5, 2.0, size=(6, 1))
    check("§9", "L = 1 recursion = the two-layer NTK of §2", rel(depth_ntk(X, X, 1), ntk(X, X)), 1e-7)
    for L in (1, 2, 3):
        D = depth_ntk(X, X, L)
        if L > 1:
            check("§9", f"diagonal H_L(x, x) = L‖x‖²/2, L = {L}", rel(np.diag(D), L * (X * X).sum(1) / 2), 1e-7)
        Ks = np.stack([empirical_depth_ntk(X, L, 1024, rng) for _ in range(30)])
        z = np.abs(Ks.mean(0) - D) / (Ks.std(0, ddof=1) / np.sqrt(len(Ks)))
        check("§9", f"empirical NTK (width 1024, 30 draws) − H_L in standard errors, max of 36, L = {L}",
              float(z.max()), 4.0)
        print(f"     relative Frobenius error of the mean: {np.linalg.norm(Ks.mean(0) - D) / np.linalg.norm(D):.4f}")


# ------------------------------------------------------------------------------------------ §10
def section10():
    rng = np.random.default_rng(8)
    n, p, lam = 15, 40, 0.2
    J = rng.normal(size=(n, p)) / np.sqrt(p)
    y = rng.normal(size=n)
    theta0 = rng.normal(size=p)
    hess = J.T @ J + lam * np.eye(p)
    theta_s = theta0 + np.linalg.solve(hess, J.T @ (y - J @ theta0))
    worst_loo, worst_lin = 0.0, 0.0
    for mpt in range(n):
        keep = np.arange(n) != mpt
        # leave-one-out: min Σ_{j≠m} ½(J_jθ − y_j)² + (λ/2)‖θ − θ0‖²
        theta_loo = theta0 + np.linalg.solve(J[keep].T @ J[keep] + lam * np.eye(p), J[keep].T @ (y[keep] - J[keep] @ theta0))
        # PBRF: min Σ_j ½(J_j(θ − θ_s))² − ½(J_mθ − y_m)² + (λ/2)‖θ − θ_s‖²; its stationarity condition:
        # (JᵀJ − J_mᵀJ_m + λI)(θ − θ_s) = J_mᵀ(J_mθ_s − y_m)
        r_m = J[mpt] @ theta_s - y[mpt]
        theta_pbrf = theta_s + np.linalg.solve(hess - np.outer(J[mpt], J[mpt]), J[mpt] * r_m)
        worst_loo = max(worst_loo, rel(theta_pbrf, theta_loo))
        # first-order term in ε (IHVP) times 1/(1 − h_mm) is the whole response
        ihvp = np.linalg.solve(hess, J[mpt] * r_m)
        h_mm = J[mpt] @ np.linalg.solve(hess, J[mpt])
        worst_lin = max(worst_lin, rel(theta_pbrf - theta_s, ihvp / (1 - h_mm)))
    check("§10", "PBRF minimizer = leave-one-out minimizer (random linear model, every m)", worst_loo, 1e-11)
    check("§10", "PBRF response = IHVP step / (1 − h_mm) (Sherman–Morrison)", worst_lin, 1e-11)


# ------------------------------------------------------------------------------------------ §11
def section11():
    rng = np.random.default_rng(9)
    n, m, lam, M = 120, 20, 0.05, 60
    X, Xt = unit_rows(rng, n, 8), unit_rows(rng, m, 8)
    y, _yt = np.sign(X[:, 0] + 0.3 * rng.normal(size=n)), np.sign(Xt[:, 0])
    H, K = ntk(X, X), ntk(Xt, X)
    A = H + lam * np.eye(n)
    Q = np.linalg.inv(A)
    alpha = Q @ y
    f = K @ alpha
    KQ = K @ Q
    d_exact = -KQ * alpha / np.diag(Q)  # Δ_i f(x) = f⁻ⁱ(x) − f(x)
    d_ihvp = -lam * KQ * alpha
    subsets = [np.sort(rng.choice(n, n // 2, replace=False)) for _ in range(M)]
    actual = np.stack([K[:, S] @ np.linalg.solve(A[np.ix_(S, S)], y[S]) for S in subsets], 1)  # (m, M)
    lds, same = {}, 0.0
    for name, dlt in (("exact LOO", d_exact), ("IHVP", d_ihvp), ("IHVP × 7", 7 * d_ihvp)):
        pred = np.stack([f + dlt[:, np.setdiff1d(np.arange(n), S)].sum(1) for S in subsets], 1)
        pred_in = np.stack([-dlt[:, S].sum(1) for S in subsets], 1)  # the "Σ over kept points" form
        lds[name] = np.mean([spearmanr(actual[j], pred[j])[0] for j in range(m)])
        same = max([same] + [abs(spearmanr(actual[j], pred[j])[0] - spearmanr(actual[j], pred_in[j])[0])
                             for j in range(m)])
    check("§11", "LDS is unchanged by a common positive scale of the Δ_i", abs(lds["IHVP × 7"] - lds["IHVP"]), 1e-12)
    check("§11", "LDS is the same with Σ_{i∉S}Δ_i + f(x) or −Σ_{i∈S}Δ_i (Spearman is shift-invariant)", same, 1e-12)
    print(f"     illustration (KRR, n = {n}, λ = {lam}, M = {M} half-subsets): "
          f"LDS exact LOO {lds['exact LOO']:.3f}, IHVP {lds['IHVP']:.3f}")


def main() -> int:
    section2()
    sections3to5()
    section6()
    section7()
    section8()
    section9()
    section10()
    section11()
    failed = RESULTS.count(False)
    print(f"\n{len(RESULTS) - failed} of {len(RESULTS)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
