"""Influence at training time t: gradient flow on the linearized network, docs/theory.md §6.

With A = H + λI = V diag(μ) Vᵀ (one eigendecomposition, cached on the model) and ŷ = Vᵀy:

    β(t) = V (φ_t(μ) ∘ ŷ),   φ_t(μ) = (1 − e^{−μt})/μ,   f_t(x) = k(x)ᵀ β(t)      (exact, O(n²) per t)

Leave-one-out at time t (retrain without i for the same t) is exact up to the rational approximation
φ_t(μ) ≈ Re Σ_j w_j/(μ − z_j), z_j = s_j/t (ifexplorer.rational: 8 CF poles, relative error ≤ 1e-13),
through the block-inverse identity applied to each resolvent G_j = (A − z_jI)⁻¹:

    k₋ᵢᵀ(A₋ᵢ − zI)⁻¹y₋ᵢ = kᵀGy − (Gk)_i (Gy)_i / G_ii
    Δ_i(x) = f_t(x) − f_t⁻ⁱ(x) = Re Σ_j w_j (G_j k)_i (G_j y)_i / (G_j)_ii

with diag(G_j) = (V∘V)(1/(μ − z_j)), G_j y = V(ŷ/(μ − z_j)), G_j k = V(Vᵀk/(μ − z_j)). For the training
point x_i itself, Vᵀh_i = (μ − λ)∘V_i, so (G_j h_i)_i = ((V∘V)((μ − λ)/(μ − z_j)))_i.
Per t: two n×n×(16(C+1)) products (shared by all test points); per test point: Vᵀk (cached) and
either one n×n×16 product (few test points) or an n×n·C pass per block of test points.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np
import torch

from ._checks import check_time
from .rational import phi_exact, phi_resolvents
from .results import TopInfluences, top_influences

U_CACHE_BYTES = 256 * 2 ** 20  # Vᵀk(x) of recent test sets kept per model, at most this many bytes
POLES_CACHE_BYTES = 128 * 2 ** 20  # per-t resolvent data kept per model
ROW_BLOCK = 512  # training rows processed together in the batched leave-one-out pass


class Spectral:
    """What every t shares, built and kept by the fitted model (NTKInfluence.spectral): μ (n,), V (n, n),
    ŷ = Vᵀy (n, C), V∘V (lazy), the resolvent data of recent times and Vᵀk(X) of recent test sets
    (LRU caches of POLES_CACHE_BYTES and U_CACHE_BYTES). It holds no reference to the model, so the
    model's cache of it forms no reference cycle."""

    def __init__(self, eig: tuple[torch.Tensor, torch.Tensor], y_train: torch.Tensor, reg: float):
        self.mu, self.V = eig
        self.reg = reg
        self.yhat = self.V.T @ y_train
        self.mu_np = self.mu.cpu().numpy()
        self._vv = None
        self._u_cache: OrderedDict = OrderedDict()
        self._u_bytes = 0
        self._poles: OrderedDict = OrderedDict()
        self._poles_bytes = 0
        self._lock = threading.Lock()  # the LRU caches are shared by the threads of every session of the app

    def poles(self, t: float, U: torch.Tensor | None = None) -> tuple[_Poles, torch.Tensor | None]:
        """The resolvent data at time t (LRU cache: revisiting a time is cheap), and (G_j k)_i (n, b, P)
        for test rows U = k(X)ᵀV (b, n) when the time is new and U was given: they ride along the same
        pass over V as G_j y. Otherwise (cached time or no U) the second item is None."""
        with self._lock:
            if t in self._poles:
                self._poles.move_to_end(t)
                return self._poles[t], None
        entry, gk = _Poles.compute(self, t, U)  # outside the lock: other times stay available meanwhile
        return self.store_poles(t, entry), gk

    def store_poles(self, t: float, entry: _Poles) -> _Poles:
        """Keep the pole data of time t (LRU within poles_budget bytes, POLES_CACHE_BYTES unless raised)."""
        with self._lock:
            if t in self._poles:  # another thread stored it meanwhile: keep one
                self._poles_bytes -= self._poles.pop(t).nbytes
            self._poles[t] = entry
            self._poles_bytes += entry.nbytes
            while self._poles_bytes > getattr(self, "poles_budget", POLES_CACHE_BYTES) and len(self._poles) > 1:
                _, old = self._poles.popitem(last=False)
                self._poles_bytes -= old.nbytes
        return entry

    @property
    def VV(self) -> torch.Tensor:
        with self._lock:
            if self._vv is None:
                self._vv = self.V.square()
            return self._vv

    def coefficients(self, phi: np.ndarray) -> torch.Tensor:
        """Eigen-coefficients φ ∘ ŷ of β for a vector φ (n,) or of β's for several times φ (n, T):
        (n, C) or (n, T, C)."""
        p = torch.as_tensor(phi, dtype=self.V.dtype, device=self.V.device)
        return p[..., None] * (self.yhat if p.ndim == 1 else self.yhat[:, None, :])

    def projected_kernel(self, Xt: torch.Tensor, kernel_blocks: Callable[[torch.Tensor], Iterable[torch.Tensor]]
                         ) -> torch.Tensor:
        """U = k(X)ᵀ V (m, n) for checked test inputs Xt (m, d), cached by content. kernel_blocks: the
        owning model's NTKInfluence.kernel_blocks, called on a cache miss."""
        key = (tuple(Xt.shape), hashlib.blake2b(Xt.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest())
        with self._lock:
            if key in self._u_cache:
                self._u_cache.move_to_end(key)
                return self._u_cache[key]
        U = torch.cat([K @ self.V for K in kernel_blocks(Xt)])
        size = U.numel() * U.element_size()
        if size <= U_CACHE_BYTES:
            with self._lock:
                if key not in self._u_cache:
                    self._u_cache[key] = U
                    self._u_bytes += size
                while self._u_bytes > U_CACHE_BYTES:
                    _, old = self._u_cache.popitem(last=False)
                    self._u_bytes -= old.numel() * old.element_size()
        return U


def _by_pole(P: int, b: int, C: int) -> bool:
    """Whether b test rows are cheaper through (G_j k) per pole (4P·b n² flops) than by rows
    (C(4P + 2b) n² flops), for P poles and C outputs."""
    return 2 * P * b <= C * (2 * P + b)


class _Poles:
    """Per-t resolvent data for the leave-one-out correction (n training points, P poles, C outputs):
    R (n, P) = 1/(μ − z_j) = t/(μt − s_j); dG (n, P) = diag(G_j); E (n, P, C) = w_j (G_j y)_i / (G_j)_ii."""

    def __init__(self, R: torch.Tensor, dG: torch.Tensor, E: torch.Tensor, dG_self: torch.Tensor | None = None):
        self.R, self.dG, self.E = R, dG, E
        self.P = R.shape[1]
        self.dG_self = dG_self  # (G_j h_i)_i (n, P), for self-influence: lazy unless prefetched
        self.nbytes = sum(x.numel() * x.element_size() for x in (R, dG, E, dG_self) if x is not None)

    @classmethod
    def compute(cls, sp: Spectral, t: float, U: torch.Tensor | None = None) -> tuple[_Poles, torch.Tensor | None]:
        """The data at time t > 0, and for test rows U = k(X)ᵀV (b, n) their (G_j k)_i (n, b, P), pushed
        through the same product with V as G_j y (one pass over V instead of two); None without U."""
        rs = phi_resolvents()
        V = sp.V
        cdtype = torch.complex128 if V.dtype == torch.float64 else torch.complex64
        s = torch.as_tensor(rs.poles, dtype=cdtype, device=V.device)
        w = torch.as_tensor(rs.weights, dtype=cdtype, device=V.device)
        R = t / (sp.mu[:, None].to(cdtype) * t - s[None, :])
        P = R.shape[1]
        dG = _real_matmul(sp.VV, R)
        n, C = sp.yhat.shape
        b = 0 if U is None else U.shape[0]
        cols = [(sp.yhat[:, None, :] * R[:, :, None]).reshape(n, -1)]
        if b:
            cols.append((U.T[:, :, None] * R[:, None, :]).reshape(n, b * P))
        prod = _real_matmul(V, torch.cat(cols, dim=1))
        Gy = prod[:, : P * C].reshape(n, P, C)
        gk = prod[:, P * C:].reshape(n, b, P) if b else None
        return cls(R, dG, w[None, :, None] * Gy / dG[:, :, None]), gk

    def self_diag(self, sp: Spectral) -> torch.Tensor:
        """(G_j h_i)_i = ((V∘V)((μ − λ)/(μ − z_j)))_i, (n, P)."""
        if self.dG_self is None:
            h = (sp.mu - sp.reg).to(self.R.dtype)
            self.dG_self = _real_matmul(sp.VV, h[:, None] * self.R)
        return self.dG_self

    def delta(self, sp: Spectral, U: torch.Tensor, gk: torch.Tensor | None = None) -> torch.Tensor:
        """Δ (b, n, C) = f_t(x) − f_t⁻ⁱ(x) for test rows with U = k(X)ᵀV (b, n); gk = their (G_j k)_i
        (n, b, P) when already computed."""
        if gk is None and not _by_pole(self.P, U.shape[0], self.E.shape[2]):
            return self._delta_by_row(sp, U)
        if gk is None:
            # (G_j k)_i for every test row and pole: V @ (Vᵀk ∘ R_j), real and imaginary parts in one product.
            n, b = sp.V.shape[0], U.shape[0]
            W = (U.T[:, :, None] * self.R[:, None, :]).reshape(n, b * self.P)
            gk = _real_matmul(sp.V, W).reshape(n, b, self.P)
        return torch.einsum("ibj,ijc->bic", gk.real, self.E.real) - torch.einsum("ibj,ijc->bic", gk.imag, self.E.imag)

    def _delta_by_row(self, sp, U):
        # Δ_{x,i,c} = Σ_l V_il U_xl M_lic with M_lic = Re Σ_j R_lj E_ijc: one n×n pass per output, by row blocks.
        n, C = sp.V.shape[0], self.E.shape[2]
        out = torch.empty((U.shape[0], n, C), dtype=U.dtype, device=U.device)
        Rr, Ri = self.R.real.T.contiguous(), self.R.imag.T.contiguous()
        for start in range(0, n, ROW_BLOCK):
            rows = slice(start, min(start + ROW_BLOCK, n))
            E = self.E[rows]
            for c in range(C):
                M = E[:, :, c].real @ Rr - E[:, :, c].imag @ Ri  # (rows, n)
                out[:, rows, c] = U @ (sp.V[rows] * M).T
        return out


def _resolvent_factors(sp: Spectral, t: float) -> torch.Tensor:
    """R (n, P) = 1/(μ − z_j) = t/(μt − s_j) for the poles s_j of phi_resolvents()."""
    cdtype = torch.complex128 if sp.V.dtype == torch.float64 else torch.complex64
    s = torch.as_tensor(phi_resolvents().poles, dtype=cdtype, device=sp.V.device)
    return t / (sp.mu[:, None].to(cdtype) * t - s[None, :])


PREFETCH_BYTES = 1 << 30  # default memory for the pole data of prefetched times
PREFETCH_PRODUCT_BYTES = 256 * 2 ** 20  # right-hand side of one batched product


def prefetch_times(model, times, budget_bytes: int = PREFETCH_BYTES, progress=None, self_terms: bool = False) -> int:
    """Compute the test-independent per-t data (diag(G_j) and G_j y for every pole) for many times at
    once — batched products, one pass over V∘V and one over V per batch of times — and keep them in
    the model's pole cache (raised to budget_bytes). A later view at one of these times then costs
    only its test points' own pass over V (G_j k(x)): a slider on a fixed grid of times.
    times: finite t > 0 (others are skipped: t = 0 and the final state need no pole data).
    self_terms: also (G_j h_i)_i for self-influence and leave-one-out residuals at these times (the
    same pass over V∘V, twice its columns), so that those cost no pass over n² either. Returns
    how many times were prefetched (all that fit budget_bytes, in the order given)."""
    sp = model.spectral(progress)
    n, C = sp.yhat.shape
    rs = phi_resolvents()
    P = len(rs.poles)
    per_t = n * P * (2 + C + bool(self_terms)) * 16  # R, diag(G), E (and the self terms): complex
    todo = [t for t in dict.fromkeys(check_time(t) for t in np.ravel(times))
            if t > 0 and not TimeView(model, t).is_final and t not in sp._poles]
    todo = todo[: max(0, int(budget_bytes) // per_t)]
    sp.poles_budget = max(getattr(sp, "poles_budget", POLES_CACHE_BYTES), int(budget_bytes))
    chunk = max(1, PREFETCH_PRODUCT_BYTES // (n * P * (1 + C + bool(self_terms)) * 16))
    w = torch.as_tensor(rs.weights, dtype=torch.complex128 if sp.V.dtype == torch.float64 else torch.complex64,
                        device=sp.V.device)
    h = (sp.mu - sp.reg).to(w.dtype)[:, None]  # Vᵀh_i = (μ − λ)∘V_i: see _Poles.self_diag
    for start in range(0, len(todo), chunk):
        ts = todo[start:start + chunk]
        R = torch.cat([_resolvent_factors(sp, t) for t in ts], dim=1)  # (n, T·P)
        both = _real_matmul(sp.VV, torch.cat([R, h * R], dim=1) if self_terms else R)
        dG = both[:, :R.shape[1]].reshape(n, len(ts), P)
        dG_self = both[:, R.shape[1]:].reshape(n, len(ts), P) if self_terms else None
        Y = (sp.yhat[:, None, :] * R[:, :, None]).reshape(n, -1)  # (n, T·P·C)
        Gy = _real_matmul(sp.V, Y).reshape(n, len(ts), P, C)
        for j, t in enumerate(ts):
            dGj = dG[:, j].contiguous()
            E = w[None, :, None] * Gy[:, j] / dGj[:, :, None]
            selfj = dG_self[:, j].contiguous() if self_terms else None
            sp.store_poles(t, _Poles(R[:, j * P:(j + 1) * P].contiguous(), dGj, E.contiguous(), selfj))
        if progress is not None:
            done = start + len(ts)
            progress(done / len(todo), f"Training times prefetched: {done} of {len(todo)}")
    return len(todo)


def _real_matmul(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """A (real, n×n) @ B (complex, n×k) with one real product on [Re B, Im B]. Computed as
    ([Re B, Im B]ᵀ Aᵀ)ᵀ: for a skinny right-hand side this layout runs ~3× faster in MKL's dgemm."""
    k = B.shape[1]
    out = (torch.cat([B.real.T, B.imag.T], dim=0) @ A.T).T
    return torch.complex(out[:, :k], out[:, k:])


class TimeView:
    """The fitted NTKInfluence model as it is at gradient-flow time t (theory §6), with the same methods.

    t = 0 is the untrained network (f ≡ 0, every leave-one-out prediction 0, every influence 0);
    t = float('inf') delegates to the fitted model, and so does any t with λt ≥ FINAL_REG_TIME, where
    e^(−μt) ≤ e^(−λt) underflows to 0 for every mode of every leave-one-out model, so the state is the
    fitted one to the last digit. Leave-one-out is exact retraining without i for the same t (to the
    ≤ 1e-13 relative accuracy of the rational approximation of φ_t). A view belongs to one fit: after
    model.fit(...) again, its methods raise and model.at_time(t) gives a new view.
    """

    FINAL_REG_TIME = 800.0  # e^(−800) < 1e-347: below float64's smallest subnormal

    def __init__(self, model, t):
        model.check_fitted()
        self._model, self._fit_count = model, getattr(model, "fit_count_", 0)
        self.t = check_time(t) + 0.0  # + 0.0 turns −0.0 into 0.0
        self._beta = None
        self._poles = None

    def __repr__(self) -> str:
        return f"TimeView(t={self.t:g}, n={self._model.n_train_})"

    @property
    def model(self):
        """The fitted model this view was made from; ValueError once it has been refitted."""
        if getattr(self._model, "fit_count_", 0) != self._fit_count:
            raise ValueError(f"the model was fitted again after this view (t = {self.t:g}) was made; "
                             "call model.at_time(t) for a view of the new fit")
        return self._model

    @property
    def is_final(self) -> bool:
        return math.isinf(self.t) or self.t * self.model.reg_ >= self.FINAL_REG_TIME

    # ------------------------------------------------------------------------------ predictions
    def predict(self, X) -> np.ndarray:
        """f_t(x) = k(x)ᵀβ(t). X (m, d) -> (m,) or (m, C)."""
        if self.is_final:
            return self.model.predict(X)
        return self.model.to_output(self._f(self.model.check_inputs(X)))

    def train_predictions(self) -> np.ndarray:
        """f_t on the training set, Hβ(t) = V((μ − λ) φ_t(μ) ∘ ŷ). (n,) or (n, C)."""
        if self.is_final:
            return self.model.train_predictions()
        return self.model.to_output(self._f_train())

    def loo_predictions(self, X) -> np.ndarray:
        """f_t⁻ⁱ(x) for every test x and left-out i: (m, n) or (m, n, C)."""
        if self.is_final:
            return self.model.loo_predictions(X)
        m = self.model
        Xt = m.check_inputs(X)
        out = m.output_buffer((Xt.shape[0], m.n_train_, m.n_outputs_), "leave-one-out predictions")
        for rows, f, delta in self._blocks(Xt):
            out[rows] = (f[:, None, :] - delta).cpu().numpy()
        return m.to_output(out)

    def influence(self, X, y) -> np.ndarray:
        """I_t(i, x) = ½‖f_t⁻ⁱ(x) − y_x‖² − ½‖f_t(x) − y_x‖². (m, n); > 0 = helpful."""
        if self.is_final:
            return self.model.influence(X, y)
        m = self.model
        Xt = m.check_inputs(X)
        yt = m.check_targets(y, Xt.shape[0])
        out = m.output_buffer((Xt.shape[0], m.n_train_), "the influence matrix")
        for rows, f, delta in self._blocks(Xt):
            r = f - yt[rows]  # (b, C)
            out[rows] = (delta * (0.5 * delta - r[:, None, :])).sum(dim=2).cpu().numpy()
        return out

    def top_influences(self, x, y, k: int = 10) -> TopInfluences:
        """The k most helpful and k most harmful training points at time t for one test point x (d,)."""
        Xt = self.model.check_inputs(x)
        if Xt.shape[0] != 1:
            raise ValueError(f"top_influences takes one test point; got {Xt.shape[0]}")
        return top_influences(self.influence(Xt, np.reshape(np.asarray(y, dtype=np.float64), (1, -1)))[0], k)

    # ------------------------------------------------------------------ per-training-point scores
    def loo_residuals(self) -> np.ndarray:
        """y_i − f_t⁻ⁱ(x_i): the error on i of the model trained without it for time t. (n,) or (n, C)."""
        if self.is_final:
            return self.model.loo_residuals()
        resid, delta = self._self_terms()
        return self.model.to_output(resid + delta)

    def self_influence(self) -> np.ndarray:
        """I_t(i, x_i) = ½‖y_i − f_t⁻ⁱ(x_i)‖² − ½‖y_i − f_t(x_i)‖². (n,)."""
        if self.is_final:
            return self.model.self_influence()
        resid, delta = self._self_terms()
        return (delta * (0.5 * delta + resid)).sum(dim=1).cpu().numpy()

    # -------------------------------------------------------------------------------- internals
    def _spectral(self) -> Spectral:
        return self.model.spectral()

    def _coefficients(self) -> torch.Tensor:
        """φ_t ∘ ŷ (n, C)."""
        if self._beta is None:
            sp = self._spectral()
            self._beta = sp.coefficients(phi_exact(sp.mu_np, self.t))
        return self._beta

    def _f(self, Xt: torch.Tensor) -> torch.Tensor:
        if self.t == 0:
            return self._zeros(Xt.shape[0])
        return self._spectral().projected_kernel(Xt, self.model.kernel_blocks) @ self._coefficients()

    def _f_train(self) -> torch.Tensor:
        sp = self._spectral()
        return sp.V @ ((sp.mu - sp.reg)[:, None] * self._coefficients())

    def _zeros(self, *shape: int) -> torch.Tensor:
        """Zeros (*shape, C) in the model's dtype and on its device."""
        m = self.model
        return torch.zeros((*shape, m.n_outputs_), dtype=m.dtype_, device=m.device_)

    def _pole_data(self, U: torch.Tensor | None = None) -> tuple[_Poles, torch.Tensor | None]:
        """This time's resolvent data, and (G_j k)_i for the rows U when they rode along its first
        computation (else None; see Spectral.poles)."""
        gk = None
        if self._poles is None:
            self._poles, gk = self._spectral().poles(self.t, U)
        return self._poles, gk

    def _blocks(self, Xt: torch.Tensor):
        """Yield (row slice, f_t (b, C), Δ (b, n, C)) over blocks of test rows."""
        m = self.model
        if self.t == 0:
            for start in range(0, Xt.shape[0], ROW_BLOCK):
                b = min(ROW_BLOCK, Xt.shape[0] - start)
                yield slice(start, start + b), self._zeros(b), self._zeros(b, m.n_train_)
            return
        sp = self._spectral()
        U = sp.projected_kernel(Xt, m.kernel_blocks)
        coef = self._coefficients()
        share = _by_pole(len(phi_resolvents().poles), Xt.shape[0], m.n_outputs_)
        poles, gk = self._pole_data(U if share else None)
        block = max(1, min(Xt.shape[0], (64 * 2 ** 20) // (8 * m.n_train_ * m.n_outputs_)))
        for start in range(0, Xt.shape[0], block):
            Ub = U[start:start + block]
            gkb = None if gk is None else gk[:, start:start + block]
            yield slice(start, start + Ub.shape[0]), Ub @ coef, poles.delta(sp, Ub, gkb)

    def _self_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(y − f_t(X_train) (n, C), Δ_i at x_i (n, C))."""
        m = self.model
        if self.t == 0:
            return m.y_train_.clone(), torch.zeros_like(m.y_train_)
        poles, _ = self._pole_data()
        delta = (poles.self_diag(self._spectral())[:, :, None] * poles.E).real.sum(dim=1)
        return m.y_train_ - self._f_train(), delta
