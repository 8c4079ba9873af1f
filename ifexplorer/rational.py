"""φ_t(μ) = (1 − e^{−μt})/μ as a short sum of resolvents, docs/theory.md §6.

We use the type (16, 16) Carathéodory–Fejér (CF) approximant of the exponential on the negative real
axis (Trefethen, Weideman & Schmelzer 2006, "Talbot quadratures and rational approximations", BIT 46,
Fig. 4.1; the algorithm is re-derived here in numpy):

    e^{−s} ≈ r_∞ + Σ_k c_k / (s − s_k),   s ∈ [0, ∞),   max error ≈ 1e-16 (the CF singular value).

Shifting the constant so that the approximant equals 1 at s = 0 removes r_∞ and the spurious pole
of (1 − r(s))/s at s = 0, and gives

    ψ(s) = (1 − e^{−s})/s ≈ Σ_k w_k / (s − s_k),   w_k = −c_k / s_k,
    φ_t(μ) = t ψ(μt) ≈ Σ_k w_k · t / (μt − s_k)       (= Σ_k w_k / (μ − s_k/t)).

The relative error of ψ is uniform in s ∈ [0, ∞) — so the same 16 poles serve every t > 0 and every
spectrum — and is measured ≤ 1e-13 (see tests/test_dynamics.py; the floor is rounding in the
partial-fraction sum, Σ|w_k| ≈ 137). The poles come in 8 conjugate pairs and ψ is real on the
real axis, so we keep the pole with Im s_k > 0 of each pair, double its weight and take the real
part: 8 complex resolvents per t. All poles have Im s_k ≥ 1.19, so |μt − s_k| ≥ 1.19 for every real
μt ≥ 0 and no resolvent is ever near-singular.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.linalg import hankel

CF_DEGREE = 16


@dataclass(frozen=True)
class ResolventSum:
    """ψ(s) ≈ Re Σ_j weights_j / (s − poles_j) for real s ≥ 0, one pole per conjugate pair
    (weights already doubled for pairs). poles, weights: complex (P,)."""
    poles: np.ndarray
    weights: np.ndarray

    def psi(self, s) -> np.ndarray:
        """The approximant of ψ(s) = (1 − e^{−s})/s at real s ≥ 0, any shape."""
        s = np.asarray(s, dtype=np.float64)
        return np.real((self.weights / (s[..., None] - self.poles)).sum(axis=-1))

    def phi(self, mu, t: float) -> np.ndarray:
        """The approximant of φ_t(μ) = (1 − e^{−μt})/μ, = t ψ(μt)."""
        return t * self.psi(np.asarray(mu, dtype=np.float64) * t)


def phi_exact(mu, t: float) -> np.ndarray:
    """φ_t(μ) = (1 − e^{−μt})/μ for μ ≥ 0 and t ∈ [0, ∞], without cancellation for small μt
    (expm1); φ_t(0) = t, φ_∞(μ) = 1/μ."""
    mu = np.asarray(mu, dtype=np.float64)
    if np.isinf(t):
        return 1.0 / mu
    s = mu * t
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(s > 0, -np.expm1(-s) / np.where(mu > 0, mu, 1.0), t)
    return out


@cache
def cf_exponential(n: int = CF_DEGREE, K: int = 75, nf: int = 1024) -> tuple[np.ndarray, np.ndarray, float]:
    """Poles z_k, residues c_k (complex (n,)) and CF singular value σ of the type (n, n) CF
    approximant of e^z on (−∞, 0]:  e^z ≈ r_∞ + Σ c_k/(z − z_k), max error ≈ σ.
    K Chebyshev coefficients of e^z transplanted to [−1, 1] by z = 9(x − 1)/(x + 1); nf FFT points."""
    w = np.exp(2j * np.pi * np.arange(nf) / nf)
    x = w.real
    scale = 9.0
    with np.errstate(divide="ignore", over="ignore"):
        F = np.exp(scale * (x - 1) / (x + 1 + 1e-16))
    c = np.real(np.fft.fft(F)) / nf  # Chebyshev coefficients of F
    f = np.polyval(c[K::-1], w)  # analytic part of F on the unit circle
    U, S, Vh = np.linalg.svd(hankel(c[1:K + 1]))
    sigma = S[n]
    u, v = U[::-1, n], Vh[n, :]
    pad = np.zeros(nf - K)
    blaschke = np.fft.fft(np.concatenate([u, pad])) / np.fft.fft(np.concatenate([v, pad]))
    rt = f - sigma * w ** K * blaschke  # the extended function r-tilde
    roots = np.roots(v)
    qk = roots[np.abs(roots) > 1]  # poles in the unit-disk variable
    if len(qk) != n:
        raise RuntimeError(f"CF approximation of degree {n} found {len(qk)} poles; lower the degree")
    numerator = np.real(np.fft.fft(rt * np.polyval(np.poly(qk), w)) / nf)[n::-1]
    ck = np.array([np.polyval(numerator, q) / np.polyval(np.poly(np.delete(qk, j)), q) for j, q in enumerate(qk)])
    zk = scale * (qk - 1) ** 2 / (qk + 1) ** 2  # poles in the z-plane
    ck = 4 * ck * zk / (qk ** 2 - 1)  # residues in the z-plane
    return zk, ck, float(sigma)


@cache
def phi_resolvents(n: int = CF_DEGREE) -> ResolventSum:
    """ψ(s) = (1 − e^{−s})/s ≈ Re Σ_j w_j/(s − s_j): CF poles of e^{−s} (s_k = −z_k), weights −c_k/s_k
    (the constant shift that makes the approximant of e^{−s} exact at s = 0), one pole per conjugate
    pair with doubled weight. n must be even (for odd n one pole is real)."""
    zk, ck, _ = cf_exponential(n)
    poles = -zk  # e^{−s} ≈ r_∞ + Σ (−c_k)/(s − (−z_k))
    weights = -ck / zk  # w = −(−c_k)/(−z_k)
    upper = poles.imag > 1e-8 * np.abs(poles)
    if 2 * upper.sum() != len(poles):
        raise RuntimeError(f"the degree-{n} CF poles are not all in conjugate pairs")
    order = np.argsort(np.abs(poles[upper]))
    return ResolventSum(poles=poles[upper][order], weights=2 * weights[upper][order])
