"""Exact NTK influence (kernel ridge leave-one-out) and Koh & Liang's IHVP estimate, MATH.md §3–§5.

With A = H + λI = L Lᵀ (Cholesky), Q = A⁻¹, α = Q y:

    f(x)         = k(x)ᵀ α
    f⁻ⁱ(x)       = f(x) − (k(x)ᵀ Q)_i · α_i / Q_ii          (exact retraining without point i)
    I(i, x)      = ½‖f⁻ⁱ(x) − y_x‖² − ½‖f(x) − y_x‖²        (> 0: i is helpful to x)
    Δ_ihvp f(x)  = −λ α_i (k(x)ᵀ Q)_i                       (= λ Q_ii × the exact change)

diag(Q) is the squared column norms of L⁻¹; Q itself is never formed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .device import check_fits, resolve_device, resolve_dtype
from .kernels import DEFAULT_BLOCK_ROWS, ntk_relu
from .validation import as_matrix, as_targets, check_depth, check_positive

Progress = Callable[[float, str], None]
TEST_BLOCK_ROWS = 1024  # test points processed together: bounds device temporaries to O(block · n)


def _no_progress(fraction: float, message: str) -> None:
    pass


@dataclass(frozen=True)
class TopInfluences:
    """The k most helpful (largest I > 0) and most harmful (most negative I < 0) training points for
    one test point. Indices into the training set, scores in squared-loss units, sorted by |I|."""
    helpful: np.ndarray
    helpful_scores: np.ndarray
    harmful: np.ndarray
    harmful_scores: np.ndarray


@dataclass(frozen=True)
class ErrorBounds:
    """Theorem 3: λ_min/(λ+λ_min) ≤ 1 − λQ_ii ≤ λ_max/(λ+λ_max), from H's extreme eigenvalues."""
    lower: float
    upper: float
    eigenvalue_min: float
    eigenvalue_max: float


def top_influences(scores, k: int = 10) -> TopInfluences:
    """Split one test point's influence row (n,) into the k most helpful and k most harmful points."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer ≥ 1; got {k!r}")
    order = np.argsort(-scores, kind="stable")
    helpful = order[: int(k)]
    helpful = helpful[scores[helpful] > 0]
    harmful = order[::-1][: int(k)]
    harmful = harmful[scores[harmful] < 0]
    return TopInfluences(helpful, scores[helpful], harmful, scores[harmful])


class NTKInfluence:
    """Exact leave-one-out influence of every training point on every test point for the NTK predictor
    (kernel ridge regression with the ReLU NTK).

    Parameters
    ----------
    reg : λ > 0, the pull of the weights to their initial value (MATH §1).
    device : "auto" (cuda if present), "cpu" or "cuda[:k]".
    dtype : None (float64) or "float32" (GPU only).
    kernel : callable (X1, X2 or None) -> (m, n) tensor; default the ReLU NTK of the given depth.
    depth : L ≥ 1, the depth of the ReLU network whose NTK is used (MATH §9); 1 is the two-layer network
        of MATH §1–§2. Every method works for any depth.

    Learned attributes (after fit): ``X_train_`` (n, d), ``y_train_`` (n, C) tensors, ``kernel_train_`` H
    (n, n), ``cholesky_`` L (n, n), ``alpha_`` (n, C), ``q_diag_`` diag(Q) (n,), ``n_outputs_`` C.
    """

    def __init__(self, reg: float = 1e-3, device: str = "auto", dtype=None, kernel=None, depth: int = 1):
        self.depth = check_depth(depth)
        if kernel is not None and self.depth != 1:
            raise ValueError(f"give either a kernel or a depth, not both (got a kernel and depth {self.depth})")
        self.reg = reg
        self.device = device
        self.dtype = dtype
        self.kernel = kernel
        self._eigh_cache = None

    # ----------------------------------------------------------------------------------- fitting
    def fit(self, X_train, y_train, progress: Progress | None = None) -> "NTKInfluence":
        """Build H, factor A = H + λI, and solve for α. X_train (n, d), y_train (n,) or (n, C).
        progress(fraction in [0, 1], message) is called between stages."""
        progress = progress or _no_progress
        self.reg_ = check_positive(self.reg, "reg (λ)")
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype, self.device_)
        X = as_matrix(X_train, "X_train", self.device_, self.dtype_)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"need at least 2 training points; got {n}")
        y, self._squeeze = as_targets(y_train, n, "y_train", self.device_, self.dtype_)
        self.estimate_fit_bytes(n, X.shape[1], check=True)
        self._eigh_cache = self._spectrum = self._spectral_cache = None
        self.fit_count_ = getattr(self, "fit_count_", 0) + 1  # views made by at_time() check it

        progress(0.0, f"Computing the {n}×{n} NTK")
        H = self._kernel(X, None)
        progress(0.35, "Factoring H + λI (Cholesky)")
        A = H.clone()
        A.diagonal().add_(self.reg_)
        L, info = torch.linalg.cholesky_ex(A)
        del A
        if int(info) != 0:
            raise ValueError(
                f"H + λI is not numerically positive definite at λ = {self.reg_:g} (pivot {int(info)} failed); "
                "increase λ or remove duplicate training points"
            )
        progress(0.65, "Diagonal of (H + λI)⁻¹")
        self.X_train_, self.y_train_, self.kernel_train_, self.cholesky_ = X, y, H, L
        self.alpha_ = torch.cholesky_solve(y, L)
        self.q_diag_ = _inverse_diagonal(L)
        self.n_train_, self.n_outputs_ = n, y.shape[1]
        progress(1.0, "Done")
        return self

    def estimate_fit_bytes(self, n: int, d: int, check: bool = False) -> int:
        """Peak device memory of fit for n points of dimension d: H, L and L⁻¹ (n² each) plus
        kernel temporaries. With check=True raise InsufficientMemoryError if it does not fit."""
        device = resolve_device(self.device)
        itemsize = torch.finfo(resolve_dtype(self.dtype, device)).bits // 8
        nbytes = itemsize * (3 * n * n + 3 * min(n, DEFAULT_BLOCK_ROWS) * n + 2 * n * d)
        if check:
            check_fits(nbytes, device, f"Fitting the NTK model on {n} training points")
        return nbytes

    # ------------------------------------------------------------------------------ predictions
    def predict(self, X) -> np.ndarray:
        """NTK predictor f(x) = k(x)ᵀα. X (m, d) -> (m,) or (m, C)."""
        self._check_fitted()
        Xt = self._inputs(X)
        f = torch.cat([K @ self.alpha_ for K in self._kernel_blocks(Xt)])
        return self._out(f)

    def train_predictions(self) -> np.ndarray:
        """f on the training set, = y − λα. (n,) or (n, C)."""
        self._check_fitted()
        return self._out(self.y_train_ - self.reg_ * self.alpha_)

    def loo_predictions(self, X) -> np.ndarray:
        """f⁻ⁱ(x) for every test x and every left-out i: (m, n) or (m, n, C)."""
        self._check_fitted()
        Xt = self._inputs(X)
        C, n = self.n_outputs_, self.n_train_
        out = self._host_output((Xt.shape[0], n, C), "leave-one-out predictions")
        for rows, f, KQ in self._loo_blocks(Xt):
            d = KQ / self.q_diag_
            out[rows] = (f[:, None, :] - d[:, :, None] * self.alpha_[None, :, :]).cpu().numpy()
        return out[..., 0] if self._squeeze else out

    def influence(self, X, y) -> np.ndarray:
        """Exact influence I(i, x) = ℓ(f⁻ⁱ(x), y_x) − ℓ(f(x), y_x), ℓ = ½‖·‖². (m, n); > 0 = helpful."""
        return self._influence_matrix(X, y, exact=True)

    def ihvp_influence(self, X, y) -> np.ndarray:
        """Koh & Liang's first-order estimate (f(x) − y_x)·Δ_ihvp f(x), Δ_ihvp f(x) = −λα_i(k(x)ᵀQ)_i.
        (m, n)."""
        return self._influence_matrix(X, y, exact=False)

    def top_influences(self, x, y, k: int = 10) -> TopInfluences:
        """The k most helpful and k most harmful training points for one test point x (d,) with target y."""
        Xt = self._inputs(x)
        if Xt.shape[0] != 1:
            raise ValueError(f"top_influences takes one test point; got {Xt.shape[0]}")
        return top_influences(self.influence(Xt, np.reshape(np.asarray(y, dtype=np.float64), (1, -1)))[0], k)

    # ------------------------------------------------------------------ per-training-point scores
    def loo_residuals(self) -> np.ndarray:
        """y_i − f⁻ⁱ(x_i) = α_i / Q_ii: the error on i of the model trained without it. (n,) or (n, C)."""
        self._check_fitted()
        return self._out(self.alpha_ / self.q_diag_[:, None])

    def self_influence(self) -> np.ndarray:
        """I(i, x_i): how much i's own loss grows when i is removed,
        ½‖α_i/Q_ii‖² − ½‖λα_i‖² ≥ 0. Large values flag mislabeled or atypical points. (n,)."""
        self._check_fitted()
        sq = self.alpha_.square().sum(dim=1)
        s2 = (1.0 / self.q_diag_ - self.reg_).clamp_min(0.0)  # s_i² ≥ 0 exactly; rounding can dip below
        return (0.5 * sq * s2 * (1.0 / self.q_diag_ + self.reg_)).cpu().numpy()

    def complexity(self) -> np.ndarray:
        """RKHS-norm increment due to i (paper eq. 19): yᵀQy − y₋ᵢᵀ(H₋ᵢ + λI)⁻¹y₋ᵢ = ‖α_i‖²/Q_ii. (n,)."""
        self._check_fitted()
        return (self.alpha_.square().sum(dim=1) / self.q_diag_).cpu().numpy()

    def posterior_variance(self) -> np.ndarray:
        """s_i² = H_ii − h_iᵀ(H₋ᵢ + λI)⁻¹h_i = 1/Q_ii − λ: small in dense regions. (n,)."""
        self._check_fitted()
        return (1.0 / self.q_diag_ - self.reg_).cpu().numpy()

    def ihvp_error(self) -> np.ndarray:
        """Relative error of the IHVP output change for point i, e_i = 1 − λQ_ii (= leverage). (n,)."""
        self._check_fitted()
        return (1.0 - self.reg_ * self.q_diag_).cpu().numpy()

    def ihvp_error_bounds(self) -> ErrorBounds:
        """Theorem 3's bounds on e_i from the extreme eigenvalues of H."""
        lo, hi = self.kernel_spectrum()
        return ErrorBounds(lo / (self.reg_ + lo), hi / (self.reg_ + hi), lo, hi)

    def kernel_spectrum(self) -> tuple[float, float]:
        """(λ_min(H), λ_max(H)); computed once (eigvalsh) unless the eigendecomposition is cached."""
        self._check_fitted()
        if self._eigh_cache is not None:
            mu = self._eigh_cache[0]
        else:
            if getattr(self, "_spectrum", None) is None:
                self._check_square_buffers(2, "The kernel's extreme eigenvalues")
                self._spectrum = torch.linalg.eigvalsh(self.kernel_train_) + self.reg_
            mu = self._spectrum
        return float(mu[0]) - self.reg_, float(mu[-1]) - self.reg_

    # --------------------------------------------------------------------------- training time
    def eigendecomposition(self, progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A = H + λI = V diag(μ) Vᵀ, computed once and cached. Returns (μ (n,), V (n, n)) tensors."""
        self._check_fitted()
        if self._eigh_cache is None:
            progress = progress or _no_progress
            self._check_square_buffers(5, "The eigendecomposition for training-time queries")
            progress(0.0, f"Eigendecomposition of the {self.n_train_}×{self.n_train_} kernel (once)")
            A = self.kernel_train_.clone()
            A.diagonal().add_(self.reg_)
            self._eigh_cache = torch.linalg.eigh(A)
            progress(1.0, "Done")
        return self._eigh_cache

    def _check_square_buffers(self, count: int, what: str) -> None:
        """Refuse (InsufficientMemoryError) before allocating `count` more n × n arrays on the device."""
        itemsize = torch.finfo(self.dtype_).bits // 8
        check_fits(count * self.n_train_ ** 2 * itemsize, self.device_, what + f" on {self.n_train_} training points")

    def at_time(self, t: float):
        """The gradient-flow state at time t (MATH §6): a view with predict / loo_predictions /
        influence / self_influence / top_influences. t = inf is the fitted model itself."""
        from .dynamics import TimeView

        self._check_fitted()
        return TimeView(self, t)

    # -------------------------------------------------------------------------------- internals
    def _kernel(self, X1: torch.Tensor, X2: torch.Tensor | None) -> torch.Tensor:
        if self.kernel is not None:
            return self.kernel(X1, X2)
        return ntk_relu(X1, X2, depth=self.depth)

    def _inputs(self, X) -> torch.Tensor:
        self._check_fitted()
        Xt = as_matrix(X, "X", self.device_, self.dtype_)
        if Xt.shape[1] != self.X_train_.shape[1]:
            raise ValueError(f"X has {Xt.shape[1]} features but the model was fitted on {self.X_train_.shape[1]}")
        return Xt

    def _test_targets(self, y, m: int) -> torch.Tensor:
        yt, squeeze = as_targets(y, m, "y_test", self.device_, self.dtype_)
        if yt.shape[1] != self.n_outputs_:
            raise ValueError(f"y_test has {yt.shape[1]} output(s) per point; the model has {self.n_outputs_}")
        return yt

    def _kernel_blocks(self, Xt: torch.Tensor):
        """Yield k(X)ᵀ blocks (b, n) over the test rows."""
        for start in range(0, Xt.shape[0], TEST_BLOCK_ROWS):
            yield self._kernel(Xt[start:start + TEST_BLOCK_ROWS], self.X_train_)

    def _loo_blocks(self, Xt: torch.Tensor):
        """Yield (row slice, f (b, C), k(x)ᵀQ (b, n)) over blocks of test rows."""
        for start, K in zip(range(0, Xt.shape[0], TEST_BLOCK_ROWS), self._kernel_blocks(Xt)):
            KQ = torch.cholesky_solve(K.T, self.cholesky_).T
            yield slice(start, start + K.shape[0]), K @ self.alpha_, KQ

    def _influence_matrix(self, X, y, exact: bool) -> np.ndarray:
        self._check_fitted()
        Xt = self._inputs(X)
        yt = self._test_targets(y, Xt.shape[0])
        out = self._host_output((Xt.shape[0], self.n_train_), "the influence matrix")
        alpha_sq = self.alpha_.square().sum(dim=1)
        for rows, f, KQ in self._loo_blocks(Xt):
            r_dot_alpha = (f - yt[rows]) @ self.alpha_.T  # (b, n): (f(x) − y_x)ᵀ α_i
            if exact:
                # I = rᵀΔ + ½‖Δ‖² with Δ = −d α_i, d = (k(x)ᵀQ)_i / Q_ii
                d = KQ / self.q_diag_
                block = d * (0.5 * d * alpha_sq - r_dot_alpha)
            else:
                block = -self.reg_ * KQ * r_dot_alpha
            out[rows] = block.cpu().numpy()
        return out

    def _host_output(self, shape, what: str) -> np.ndarray:
        nbytes = int(np.prod(shape)) * 8
        check_fits(nbytes + 3 * TEST_BLOCK_ROWS * self.n_train_ * 8, torch.device("cpu"), f"Returning {what} {shape}")
        if self.device_.type == "cuda":
            check_fits(3 * TEST_BLOCK_ROWS * self.n_train_ * (torch.finfo(self.dtype_).bits // 8),
                       self.device_, f"Computing {what}")
        return np.empty(shape, dtype=np.float64)

    def _out(self, t: torch.Tensor) -> np.ndarray:
        arr = t.detach().to("cpu", torch.float64).numpy()
        return arr[..., 0] if self._squeeze and arr.ndim >= 2 and arr.shape[-1] == 1 else arr

    def _check_fitted(self) -> None:
        if not hasattr(self, "alpha_"):
            raise ValueError("this NTKInfluence is not fitted yet; call fit(X_train, y_train) first")


def _inverse_diagonal(L: torch.Tensor) -> torch.Tensor:
    """diag((L Lᵀ)⁻¹) = squared column norms of L⁻¹. On the CPU, LAPACK's trtri (n³/3 flops);
    on a GPU, a triangular solve against the identity."""
    if L.device.type == "cpu" and L.dtype == torch.float64:
        from scipy.linalg.lapack import dtrtri

        # Lᵀ viewed from the row-major L is a Fortran-ordered upper factor: no copy. inv(Lᵀ) = (L⁻¹)ᵀ,
        # so the column norms of L⁻¹ are the row norms of the result.
        inv_t, info = dtrtri(L.numpy().T, lower=0, overwrite_c=0)
        if info != 0:
            raise ValueError(f"triangular inverse failed (LAPACK info {info}); increase λ")
        return torch.from_numpy(np.einsum("ij,ij->i", inv_t, inv_t))
    eye = torch.eye(L.shape[0], dtype=L.dtype, device=L.device)
    inv = torch.linalg.solve_triangular(L, eye, upper=False)
    return inv.square().sum(dim=0)
