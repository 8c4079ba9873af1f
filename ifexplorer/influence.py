"""Exact NTK influence (kernel ridge leave-one-out) and Koh & Liang's IHVP estimate, docs/theory.md §3–§5.

With A = H + λI, Q = A⁻¹ = WᵀW (W = L⁻¹ from the Cholesky factor, in place; Q is applied, never
formed: ifexplorer.linalg), α = Q y:

    f(x)         = k(x)ᵀ α
    f⁻ⁱ(x)       = f(x) − (k(x)ᵀ Q)_i · α_i / Q_ii          (exact retraining without point i)
    I(i, x)      = ½‖f⁻ⁱ(x) − y_x‖² − ½‖f(x) − y_x‖²        (> 0: i is helpful to x)
    Δ_ihvp f(x)  = −λ α_i (k(x)ᵀ Q)_i                       (= λ Q_ii × the exact change)

The model keeps one n × n array, W (lower triangular, in the buffer where the upper triangle of
H + λI was computed and factored): a fit peaks at n² numbers plus O(n · block) panels, H is computed
again for the few studies that need it (kernel_train_), and k(x)ᵀQ = (k(x)ᵀWᵀ)W is two triangular
matrix-vector products (one pass over W).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import torch

from ._checks import as_matrix, as_targets, check_depth, check_int, check_positive
from .device import InsufficientMemoryError, check_fits, resolve_device, resolve_dtype
from .dynamics import Spectral, TimeView
from .kernels import ntk_relu
from .linalg import (
    gram_work_bytes,
    inverse_diagonal,
    inverse_factor_,
    inverse_work_bytes,
    symmetric_gram,
    times_inverse,
    upper_gram,
)
from .results import ErrorBounds, Progress, TopInfluences, TopInfluencesBatch, no_progress, top_influences

# fit time (kernel excluded) / one n³ GEMM: CPU from benchmarks/bench_scale.py on the 2-core box (0.57 at
# n = 12,000 and 0.61 at 8,000 with the kernel included, ≈ 0.47 without); GPU a guess until gpu_check.sh measures it
FIT_GEMM_RATIO = {"cpu": 0.5, "cuda": 1.5}
TEST_BLOCK_ROWS = 1024  # test points processed together: bounds device temporaries to O(block · n)


class NTKInfluence:
    """Exact leave-one-out influence of every training point on every test point for the NTK predictor
    (kernel ridge regression with the ReLU NTK).

    Parameters
    ----------
    reg : λ > 0, the pull of the weights to their initial value (theory §1).
    device : "auto" (cuda if present), "cpu" or "cuda[:k]".
    dtype : None (float64) or "float32" (GPU only).
    kernel : callable (X1, X2 or None) -> (m, n) tensor; default the ReLU NTK of the given depth.
    depth : L ≥ 1, the depth of the ReLU network whose NTK is used (theory §9); 1 is the two-layer network
        of theory §1–§2. Every method works for any depth.

    Learned attributes (after fit): ``X_train_`` (n, d), ``y_train_`` (n, C) tensors, ``inverse_factor_``
    W (n, n, lower triangular) with Q = (H + λI)⁻¹ = WᵀW (Q itself is never formed: linalg.times_inverse
    and linalg.inverse_columns apply it), ``alpha_`` = Qy (n, C), ``q_diag_`` diag(Q) (n,), ``n_outputs_``
    C. The fit keeps one n × n array, W; ``kernel_train_`` (the kernel H, n × n) is computed again on
    each access (2n²d flops) for the few studies that need H itself.

    The methods under "interface for the time views and the studies" (check_fitted, check_inputs,
    check_targets, kernel_blocks, output_buffer, to_output, spectral) are public so that dynamics.py and
    ifexplorer.experiments need no private attributes; they are not part of the stable API.
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
        # guards the lazy caches below (eigendecomposition, spectrum, Spectral): the app shares one fitted model
        # between the threads of all sessions, and two of them asking at once must compute it once
        self._lazy_lock = threading.RLock()

    # ----------------------------------------------------------------------------------- fitting
    def fit(self, X_train, y_train, progress: Progress | None = None) -> NTKInfluence:
        """Build H, factor A = H + λI, and solve for α. X_train (n, d), y_train (n,) or (n, C).
        progress(fraction in [0, 1], message) is called between stages."""
        progress = progress or no_progress
        self.reg_ = check_positive(self.reg, "reg (λ)")
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype, self.device_)
        X = as_matrix(X_train, "X_train", self.device_, self.dtype_)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"need at least 2 training points; got {n}")
        y, self._squeeze = as_targets(y_train, n, "y_train", self.device_, self.dtype_)
        self.estimate_fit_bytes(n, X.shape[1], check=True)
        self._eigh_cache = self._spectrum = self._spectral = None  # caches of the previous fit
        self.fit_count_ = getattr(self, "fit_count_", 0) + 1  # views made by at_time() check it

        progress(0.0, f"Computing the {n}×{n} NTK")
        A = upper_gram(self._kernel, X)  # H's upper triangle: all the factorization reads
        A.diagonal().add_(self.reg_)
        progress(0.3, "Factoring (H + λI)⁻¹ = WᵀW in place (Cholesky, triangular inverse)")
        W, info = inverse_factor_(A)
        if info:
            raise ValueError(
                f"H + λI is not numerically positive definite at λ = {self.reg_:g} (pivot {info} failed); "
                "increase λ or remove duplicate training points"
            )
        self.train_norms_ = torch.linalg.vector_norm(X, dim=1)
        self.X_train_, self.y_train_, self.inverse_factor_ = X, y, W
        self.alpha_ = times_inverse(y.mT, W).mT.contiguous()
        self.q_diag_ = inverse_diagonal(W)
        self.n_train_, self.n_outputs_ = n, y.shape[1]
        progress(1.0, "Done")
        return self

    def estimate_fit_bytes(self, n: int, d: int, check: bool = False) -> int:
        """Peak device memory of fit for n points of dimension d: the one n × n buffer (H's upper
        triangle, then W in place) plus the larger of the kernel's and the in-place inverse's
        temporaries (O(n · block)) and the inputs. With check=True raise InsufficientMemoryError if it
        does not fit."""
        device = resolve_device(self.device)
        itemsize = torch.finfo(resolve_dtype(self.dtype, device)).bits // 8
        work = max(gram_work_bytes(n, itemsize), inverse_work_bytes(n, itemsize))
        nbytes = itemsize * (n * n + 2 * n * d) + work
        if check:
            try:
                check_fits(nbytes, device, f"Fitting the NTK model on {n:,} training points (an n × n array)")
            except InsufficientMemoryError as exc:
                raise InsufficientMemoryError(f"{exc}; at most {self.largest_fit_size(d):,} training points of "
                                              f"{d:,} features fit now") from None
        return nbytes

    def largest_fit_size(self, d: int, nbytes: int | None = None) -> int:
        """The largest n whose fit (estimate_fit_bytes(n, d)) needs at most `nbytes` (default: 0.9 × the
        device's free memory, what fit's own check allows); 0 when not even one point fits."""
        d = check_int(d, "d", min_val=1)
        if nbytes is None:
            from .device import available_bytes

            nbytes = int(0.9 * available_bytes(resolve_device(self.device)))
        lo, hi = 0, 1
        while self.estimate_fit_bytes(hi, d) <= nbytes:
            lo, hi = hi, 2 * hi
        while hi - lo > 1:  # estimate_fit_bytes(lo) fits, (hi) does not
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.estimate_fit_bytes(mid, d) <= nbytes else (lo, mid)
        return lo

    def estimate_fit_seconds(self, n: int, d: int, rate: float | None = None) -> float:
        """Predicted fit time in seconds: FIT_GEMM_RATIO × one n³ matrix product plus the kernel's 2n²d
        product, at `rate` flop/s (default: spectral_store.recent_gemm_rate, measured on the device in the last
        five minutes)."""
        from .spectral_store import recent_gemm_rate

        n, d = check_int(n, "n", min_val=1), check_int(d, "d", min_val=1)
        device = resolve_device(self.device)
        rate = recent_gemm_rate(device) if rate is None else check_positive(rate, "rate")
        return (FIT_GEMM_RATIO[device.type] * 2.0 * n ** 3 + 2.0 * n * n * d) / rate

    def top_influences_all(self, X, y, k: int = 10, block: int | None = None,
                           memory_bytes: int = 256 * 2 ** 20, progress: Progress | None = None) -> TopInfluencesBatch:
        """The k most helpful and k most harmful training points for every test point, streamed in
        blocks of test rows so that no m × n array is held. X (m, d), y (m,) or (m, C).

        block: test rows per block (default: as many as fit memory_bytes, about 4 · block · n numbers).
        Returns arrays (m, k) of training indices and exact influences (−1 / NaN where fewer than k
        points are helpful or harmful), sorted by |I| within each row as top_influences does."""
        k = check_int(k, "k", min_val=1)
        Xt = self.check_inputs(X)
        yt = self.check_targets(y, Xt.shape[0])
        m, n = Xt.shape[0], self.n_train_
        block = _check_block(block, memory_bytes, n, torch.finfo(self.dtype_).bits // 8)
        kk = min(k, n)
        out = TopInfluencesBatch.empty(m, k)
        alpha_sq = self.alpha_.square().sum(dim=1)
        progress = progress or no_progress
        for start in range(0, m, block):
            stop = min(start + block, m)
            K = self._kernel(Xt[start:stop], self.X_train_)
            r_dot_alpha = (K @ self.alpha_ - yt[start:stop]) @ self.alpha_.T
            d = times_inverse(K, self.inverse_factor_, overwrite=self._fresh_kernels).div_(self.q_diag_)
            scores = d.mul_(0.5 * d * alpha_sq - r_dot_alpha)  # (b, n), as in influence()
            out.fill(start, torch.topk(scores, kk, dim=1), torch.topk(scores, kk, dim=1, largest=False))
            progress(stop / m, f"Top-{k} influences: {stop} of {m} test points")
        return out

    # ------------------------------------------------------------------------------ predictions
    def predict(self, X) -> np.ndarray:
        """NTK predictor f(x) = k(x)ᵀα. X (m, d) -> (m,) or (m, C)."""
        Xt = self.check_inputs(X)
        return self.to_output(torch.cat([K @ self.alpha_ for K in self.kernel_blocks(Xt)]))

    def train_predictions(self) -> np.ndarray:
        """f on the training set, = y − λα. (n,) or (n, C)."""
        self.check_fitted()
        return self.to_output(self.y_train_ - self.reg_ * self.alpha_)

    def loo_predictions(self, X) -> np.ndarray:
        """f⁻ⁱ(x) for every test x and every left-out i: (m, n) or (m, n, C)."""
        Xt = self.check_inputs(X)
        out = self.output_buffer((Xt.shape[0], self.n_train_, self.n_outputs_), "leave-one-out predictions")
        for rows, f, KQ in self._loo_blocks(Xt):
            d = KQ / self.q_diag_
            out[rows] = (f[:, None, :] - d[:, :, None] * self.alpha_[None, :, :]).cpu().numpy()
        return self.to_output(out)

    def influence(self, X, y) -> np.ndarray:
        """Exact influence I(i, x) = ℓ(f⁻ⁱ(x), y_x) − ℓ(f(x), y_x), ℓ = ½‖·‖². (m, n); > 0 = helpful."""
        return self._influence_matrix(X, y, exact=True)

    def ihvp_influence(self, X, y) -> np.ndarray:
        """Koh & Liang's first-order estimate (f(x) − y_x)·Δ_ihvp f(x), Δ_ihvp f(x) = −λα_i(k(x)ᵀQ)_i.
        (m, n)."""
        return self._influence_matrix(X, y, exact=False)

    def top_influences(self, x, y, k: int = 10) -> TopInfluences:
        """The k most helpful and k most harmful training points for one test point x (d,) with target y."""
        Xt = self.check_inputs(x)
        if Xt.shape[0] != 1:
            raise ValueError(f"top_influences takes one test point; got {Xt.shape[0]}")
        return top_influences(self.influence(Xt, np.reshape(np.asarray(y, dtype=np.float64), (1, -1)))[0], k)

    # ------------------------------------------------------------------ per-training-point scores
    def loo_residuals(self) -> np.ndarray:
        """y_i − f⁻ⁱ(x_i) = α_i / Q_ii: the error on i of the model trained without it. (n,) or (n, C)."""
        self.check_fitted()
        return self.to_output(self.alpha_ / self.q_diag_[:, None])

    def self_influence(self) -> np.ndarray:
        """I(i, x_i): how much i's own loss grows when i is removed,
        ½‖α_i/Q_ii‖² − ½‖λα_i‖² ≥ 0. Large values flag mislabeled or atypical points. (n,)."""
        self.check_fitted()
        sq = self.alpha_.square().sum(dim=1)
        s2 = (1.0 / self.q_diag_ - self.reg_).clamp_min(0.0)  # s_i² ≥ 0 exactly; rounding can dip below
        return (0.5 * sq * s2 * (1.0 / self.q_diag_ + self.reg_)).cpu().numpy()

    def complexity(self) -> np.ndarray:
        """RKHS-norm increment due to i (paper eq. 19): yᵀQy − y₋ᵢᵀ(H₋ᵢ + λI)⁻¹y₋ᵢ = ‖α_i‖²/Q_ii. (n,)."""
        self.check_fitted()
        return (self.alpha_.square().sum(dim=1) / self.q_diag_).cpu().numpy()

    def posterior_variance(self) -> np.ndarray:
        """s_i² = H_ii − h_iᵀ(H₋ᵢ + λI)⁻¹h_i = 1/Q_ii − λ: small in dense regions. (n,)."""
        self.check_fitted()
        return (1.0 / self.q_diag_ - self.reg_).cpu().numpy()

    def ihvp_error(self) -> np.ndarray:
        """Relative error of the IHVP output change for point i, e_i = 1 − λQ_ii (= leverage). (n,)."""
        self.check_fitted()
        return (1.0 - self.reg_ * self.q_diag_).cpu().numpy()

    def ihvp_error_bounds(self) -> ErrorBounds:
        """Theorem 3's bounds on e_i from the extreme eigenvalues of H."""
        lo, hi = self.kernel_spectrum()
        return ErrorBounds(lower=lo / (self.reg_ + lo), upper=hi / (self.reg_ + hi), eigenvalue_min=lo,
                           eigenvalue_max=hi)

    def kernel_spectrum(self) -> tuple[float, float]:
        """(λ_min(H), λ_max(H)); computed once (eigvalsh) unless the eigendecomposition is cached."""
        self.check_fitted()
        with self._lazy_lock:
            if self._eigh_cache is not None:
                mu = self._eigh_cache[0]
            else:
                if self._spectrum is None:
                    self._check_square_buffers(2, "The kernel's extreme eigenvalues")
                    self._spectrum = torch.linalg.eigvalsh(self.kernel_train_) + self.reg_
                mu = self._spectrum
        return float(mu[0]) - self.reg_, float(mu[-1]) - self.reg_

    @property
    def kernel_train_(self) -> torch.Tensor:
        """The training kernel H (n, n), exactly symmetric, computed anew on each access (2n²d flops and
        n² new numbers: the fit does not keep it)."""
        self.check_fitted()
        return symmetric_gram(self._kernel, self.X_train_)

    # --------------------------------------------------------------------------- training time
    def eigendecomposition(self, progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A = H + λI = V diag(μ) Vᵀ, computed once per fit and cached in memory and on disk
        (ifexplorer.spectral_store: a second model fitted on the same data, λ and kernel loads it).
        progress(fraction, message) hears the estimated time first, then ticks while LAPACK runs.
        Returns (μ (n,), V (n, n)) tensors."""
        self.check_fitted()
        with self._lazy_lock:  # a second caller waits for the first one's result
            if self._eigh_cache is None:
                from .spectral_store import eigendecomposition

                self._eigh_cache = eigendecomposition(self, progress or no_progress)
            return self._eigh_cache

    def at_time(self, t: float):
        """The gradient-flow state at time t (theory §6): a view with predict / loo_predictions /
        influence / self_influence / top_influences. t = inf is the fitted model itself."""
        self.check_fitted()
        return TimeView(self, t)

    # ---------------------------------------------------- interface for the time views and the studies
    def check_fitted(self) -> None:
        """ValueError unless fit has been called."""
        if not hasattr(self, "alpha_"):
            raise ValueError("this NTKInfluence is not fitted yet; call fit(X_train, y_train) first")

    def check_inputs(self, X) -> torch.Tensor:
        """Test inputs X (m, d) or one point (d,) as a (m, d) tensor on the model's device and dtype;
        ValueError if the model is not fitted or X is not finite, nonzero rows of the training width d."""
        self.check_fitted()
        Xt = as_matrix(X, "X", self.device_, self.dtype_)
        if Xt.shape[1] != self.X_train_.shape[1]:
            raise ValueError(f"X has {Xt.shape[1]} features but the model was fitted on {self.X_train_.shape[1]}")
        return Xt

    def check_targets(self, y, m: int) -> torch.Tensor:
        """Test targets y (m,) or (m, C) as a (m, C) tensor; ValueError unless there are m rows of C outputs."""
        yt, _ = as_targets(y, m, "y_test", self.device_, self.dtype_)
        if yt.shape[1] != self.n_outputs_:
            raise ValueError(f"y_test has {yt.shape[1]} output(s) per point; the model has {self.n_outputs_}")
        return yt

    def kernel_blocks(self, Xt: torch.Tensor) -> Iterator[torch.Tensor]:
        """k(X)ᵀ = H(X, X_train) in blocks (b, n) of at most TEST_BLOCK_ROWS rows, for checked inputs Xt (m, d)."""
        for start in range(0, Xt.shape[0], TEST_BLOCK_ROWS):
            yield self._kernel(Xt[start:start + TEST_BLOCK_ROWS], self.X_train_)

    def output_buffer(self, shape: tuple[int, ...], what: str) -> np.ndarray:
        """An empty float64 host array of `shape` for a result computed TEST_BLOCK_ROWS test rows at a
        time; InsufficientMemoryError (naming `what`) if it or the per-block temporaries do not fit."""
        nbytes = int(np.prod(shape)) * 8
        check_fits(nbytes + 3 * TEST_BLOCK_ROWS * self.n_train_ * 8, torch.device("cpu"), f"Returning {what} {shape}")
        if self.device_.type == "cuda":
            check_fits(3 * TEST_BLOCK_ROWS * self.n_train_ * (torch.finfo(self.dtype_).bits // 8),
                       self.device_, f"Computing {what}")
        return np.empty(shape, dtype=np.float64)

    def to_output(self, values: torch.Tensor | np.ndarray) -> np.ndarray:
        """A result (..., C) as a float64 numpy array; the trailing output axis is dropped when the model
        was fitted on 1-D targets y (n,), so outputs have the shape of the targets."""
        if isinstance(values, torch.Tensor):
            values = values.detach().to("cpu", torch.float64).numpy()
        return values[..., 0] if self._squeeze and values.ndim >= 2 and values.shape[-1] == 1 else values

    def spectral(self, progress: Progress | None = None) -> Spectral:
        """What every training time shares (dynamics.Spectral: μ, V, ŷ = Vᵀy and its caches), built on
        the cached eigendecomposition (progress is forwarded to it) and kept until the next fit."""
        with self._lazy_lock:
            eig = self.eigendecomposition(progress)
            if self._spectral is None:
                self._spectral = Spectral(eig, self.y_train_, self.reg_)
            return self._spectral

    # -------------------------------------------------------------------------------- internals
    def _kernel(self, X1: torch.Tensor, X2: torch.Tensor | None) -> torch.Tensor:
        if self.kernel is not None:
            return self.kernel(X1, X2)
        if X2 is not None and X2 is getattr(self, "X_train_", None):  # its norms are kept since the fit
            return ntk_relu(X1, X2, depth=self.depth, norms2=self.train_norms_)
        return ntk_relu(X1, X2, depth=self.depth)

    @property
    def _fresh_kernels(self) -> bool:
        """Whether kernel blocks are new arrays, free to overwrite once used (ours are; a user's kernel
        callable may return views of data it keeps)."""
        return self.kernel is None

    def _loo_blocks(self, Xt: torch.Tensor):
        """Yield (row slice, f (b, C), k(x)ᵀQ (b, n)) over blocks of test rows."""
        for start, K in zip(range(0, Xt.shape[0], TEST_BLOCK_ROWS), self.kernel_blocks(Xt)):
            f = K @ self.alpha_
            KQ = times_inverse(K, self.inverse_factor_, overwrite=self._fresh_kernels)
            yield slice(start, start + K.shape[0]), f, KQ

    def _influence_matrix(self, X, y, exact: bool) -> np.ndarray:
        Xt = self.check_inputs(X)
        yt = self.check_targets(y, Xt.shape[0])
        out = self.output_buffer((Xt.shape[0], self.n_train_), "the influence matrix")
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

    def _check_square_buffers(self, count: int, what: str) -> None:
        """Refuse (InsufficientMemoryError) before allocating `count` more n × n arrays on the device."""
        itemsize = torch.finfo(self.dtype_).bits // 8
        check_fits(count * self.n_train_ ** 2 * itemsize, self.device_, what + f" on {self.n_train_} training points")

    # ------------------------------------------------------------------------ the reverse view
    def removal_effect(self, i: int, X_test, y_test, k: int = 10):
        """Training point i seen from the test set (removal.RemovalEffect): its influence on every test point (m,)
        (column i of influence(X_test, y_test), from the column Q e_i: O(m·n·d), no m × n matrix), the k test
        points it helps and hurts most, and the test loss and accuracy before and after retraining without it."""
        from .removal import removal_effect

        return removal_effect(self, i, X_test, y_test, k)


def _check_block(block, memory_bytes: int, n: int, itemsize: int) -> int:
    """Test rows per block: the given positive integer, or as many as fit memory_bytes (≥ 1)."""
    if block is None:
        return max(1, int(memory_bytes) // (4 * n * itemsize))
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer (test rows per block) or None; got {block!r}")
    return int(block)
