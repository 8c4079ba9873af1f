"""Which datasets the sidebar offers, and loading one for an ExperimentConfig via ifexplorer.data.

The menu is the built-in sources, Fashion-MNIST (listed with its install command when Debian's package
is missing), every folder directly under the data root that holds MNIST-format IDX files or CIFAR-10
binary batches (by its folder name; found from file names and headers, never decoded, the scan cached
for SCAN_SECONDS), and "Your own images". `choices()` / `labels()` give the current menu; the module
attributes CHOICES and LABELS are the same, computed on access.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

DATA_ROOT_ENV = "IFEXPLORER_DATA_ROOT"
SCAN_SECONDS = 5.0
PAPER_SIZES = (5000, 1000)  # the paper's MNIST / CIFAR-10 tasks: 5,000 training and 1,000 test points


@dataclass(frozen=True)
class Choice:
    """One entry of the dataset menu: its label, the loader's name and classes, default sizes."""
    label: str
    name: str
    classes: object
    n_train: int
    n_test: int
    max_total: int | None
    dim: int = 784          # input features (for the memory estimate; own images: read from their headers)
    path: str | None = None  # the folder of an IDX / CIFAR-10 entry (becomes ExperimentConfig.source)


BUILTIN = (
    Choice("MNIST 7 vs 9 (real digits)", "mnist", (7, 9), 800, 200, 1000, 784),
    Choice("MNIST, all 10 digits", "mnist", "all", 2000, 500, 5000, 784),
    Choice("8×8 digits (scikit-learn)", "digits", None, 1000, 300, 1797, 64),
    Choice("Simulated mixture (true density known)", "mixture", None, 600, 200, None, 3),
    Choice("Iris flowers (tabular, 3 classes)", "iris", None, 120, 30, 150, 4),
)
FASHION_PAIR = ("T-shirt/top", "Shirt")  # Shirt is +1
OWN_CHOICE = Choice("Your own images", "own", None, 0, 0, None, 784)
OWN = OWN_CHOICE.label


def choices() -> tuple[Choice, ...]:
    """The menu as it is now (the data-root scan is at most SCAN_SECONDS old)."""
    return BUILTIN + fashion_choices() + scanned_choices(data_root()) + (OWN_CHOICE,)


def labels() -> list[str]:
    return [c.label for c in choices()]


def choice(label: str) -> Choice:
    menu = choices()
    for c in menu:
        if c.label == label:
            return c
    raise ValueError(f"unknown dataset {label!r}; choose one of {[c.label for c in menu]}")


def __getattr__(name: str):
    """CHOICES and LABELS, computed on access (the menu changes when folders or packages appear)."""
    if name == "CHOICES":
        return choices()
    if name == "LABELS":
        return labels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def data_root() -> Path:
    """Folder under which local image folders are accepted (env IFEXPLORER_DATA_ROOT)."""
    return Path(os.environ.get(DATA_ROOT_ENV, "~/ifexplorer-data")).expanduser().resolve()


# ---------------------------------------------------------------- Fashion-MNIST
def fashion_choices() -> tuple[Choice, ...]:
    """The default pair at 800 / 200 and all ten classes at 2000 / 500; the labels carry the install
    command while Debian's dataset-fashion-mnist is missing."""
    from ifexplorer.data import fashion

    tail = "" if fashion.missing() is None else f" (not installed: {fashion.INSTALL})"
    pair = " vs ".join(reversed(FASHION_PAIR))
    return (
        Choice(f"Fashion-MNIST {pair} (clothing){tail}", "fashion_mnist", FASHION_PAIR, 800, 200, 12_000, 784),
        Choice(f"Fashion-MNIST, all 10 classes{tail}", "fashion_mnist", "all", 2000, 500, 60_000, 784),
    )


# ---------------------------------------------------------------- folders under the data root
_scan_cache: dict[str, tuple[float, tuple[Choice, ...]]] = {}


def scanned_choices(root: Path) -> tuple[Choice, ...]:
    """One entry per folder directly under `root` holding MNIST-format IDX files or CIFAR-10 binary
    batches, sorted by folder name; rescanned when the last scan of `root` is SCAN_SECONDS old."""
    key, now = str(root), time.monotonic()
    hit = _scan_cache.get(key)
    if hit is not None and now - hit[0] < SCAN_SECONDS:
        return hit[1]
    found = _scan(root)
    _scan_cache[key] = (now, found)
    return found


def _scan(root: Path) -> tuple[Choice, ...]:
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # no data root (the usual case) or unreadable
        return ()
    out = []
    for d in folders:
        try:
            d.resolve().relative_to(root.resolve())  # a symlink out of the data root is not offered
            entry = _idx_choice(d) or _cifar_choice(d)
        except (OSError, ValueError):
            continue
        if entry is not None:
            out.append(entry)
    return tuple(out)


def _idx_choice(d: Path) -> Choice | None:
    """An IDX folder: image/label pairs by prefix (train + t10k keep their split). Sizes from the label
    headers; classes: the paper's 7 vs 9 for a folder named mnist*, else the first two (labels 0 and 1)."""
    from ifexplorer.data.files import _IDX_IMAGES, _IDX_LABELS, _idx_header

    names = [p.name for p in d.iterdir() if p.is_file()]
    images = {m.group(1): n for n in names if (m := _IDX_IMAGES.match(n))}
    labels = {m.group(1): n for n in names if (m := _IDX_LABELS.match(n))}
    if not images or not labels:
        return None
    try:
        counts = {k: _idx_header(d / labels[k], 2049, 1)[0] for k in images if k in labels}
        rows, cols = _idx_header(d / images[min(images)], 2051, 3)[1:]
    except ValueError:  # an unreadable header: offer the folder anyway, loading it names the problem
        counts, rows, cols = {}, 28, 28
    test = sum(n for k, n in counts.items() if k.lower().startswith(("t10k", "test")))
    train = sum(counts.values()) - test
    pools = (train, test) if train and test else (int(0.8 * train), train - int(0.8 * train))
    classes = (7, 9) if d.name.casefold().startswith("mnist") else (0, 1)
    what = f"{sum(counts.values()):,} images" if counts else "headers unreadable"
    return _folder_choice(f"{d.name}: {classes[0]} vs {classes[1]} (IDX files, {what})", "idx", classes,
                          pools, rows * cols, d)


def _cifar_choice(d: Path) -> Choice | None:
    """A CIFAR-10 binary folder (or its cifar-10-batches-bin sub-folder): automobile vs airplane, the
    paper's task; record counts from the file sizes."""
    inner = d / "cifar-10-batches-bin"
    batches = inner if inner.is_dir() else d
    train = [p for p in batches.iterdir() if re.fullmatch(r"data_batch_.*\.bin", p.name) and p.is_file()]
    test = [p for p in batches.iterdir() if p.name == "test_batch.bin" and p.is_file()]
    if not train and not test:
        return None
    n_tr, n_te = (sum(p.stat().st_size for p in part) // 3073 for part in (train, test))
    pools = (n_tr, n_te) if n_tr and n_te else (int(0.8 * (n_tr + n_te)), n_tr + n_te - int(0.8 * (n_tr + n_te)))
    return _folder_choice(f"{d.name}: automobile vs airplane (CIFAR-10 binary, {n_tr + n_te:,} images)", "cifar10",
                          ("airplane", "automobile"), pools, 3 * 32 * 32, d)


def _folder_choice(label, name, classes, pools, dim, d: Path) -> Choice:
    """Default sizes: the paper's 5,000 / 1,000, at most a fifth of each pool (a pair of ten classes),
    at least the sidebar's minimum (10 / 2)."""
    n_train = max(10, min(PAPER_SIZES[0], pools[0] // 5))
    n_test = max(2, min(PAPER_SIZES[1], pools[1] // 5))
    return Choice(label, name, classes, n_train, n_test, max(pools[0], n_train, n_test), dim, str(d))


# ---------------------------------------------------------------- loading
def load(config, upload: bytes | None = None):
    """The Dataset for an ExperimentConfig (see ifexplorer.data)."""
    from ifexplorer import data as mod

    common = dict(n_train=config.n_train or None, n_test=config.n_test or None,
                  label_noise=config.label_noise, seed=config.seed)
    if config.dataset == "upload":
        if upload is None:
            raise ValueError("The uploaded archive is no longer in this session; upload it again.")
        return mod.load_uploaded_archive(upload, config.filename or "upload.zip", resize=config.resize, **common)
    if config.dataset == "folder":
        return mod.load_dataset("folder", path=config.source, data_root=str(data_root()), resize=config.resize,
                                **common)
    if config.dataset in ("idx", "cifar10"):
        return mod.load_dataset(config.dataset, path=_inside_data_root(config.source), classes=config.classes,
                                **common)
    return mod.load_dataset(config.dataset, classes=config.classes, **common)


def _inside_data_root(path) -> str:
    root = data_root()
    if path is None:
        raise ValueError("This entry needs a folder under the data root; choose it again in the sidebar.")
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        raise ValueError(f"{str(path)!r} is not under the data root {str(root)!r}; choose a folder there.") from None
    return str(path)
