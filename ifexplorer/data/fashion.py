"""Fashion-MNIST (Zalando's 70,000 clothing images, 28×28 gray, ten classes) from Debian's package
dataset-fashion-mnist: the four IDX files in /usr/share/datasets/fashion-mnist, read with the IDX
reader of `files` and cached per process. The dataset's own split is kept: training points come from
the 60,000 train images, test points from the 10,000 t10k images.

The folder is, in order: the loader's data_dir= option, $IFEXPLORER_FASHION_MNIST_DIR, the Debian path.
"""
from __future__ import annotations

import functools
import os
import zlib
from pathlib import Path

import numpy as np

from .core import DataError, Source, check_options
from .files import load_idx

FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
DIR_ENV = "IFEXPLORER_FASHION_MNIST_DIR"
INSTALL = "sudo apt-get install -y dataset-fashion-mnist"
REINSTALL = "sudo apt-get install --reinstall -y dataset-fashion-mnist"
# base name → (IDX header bytes, data bytes per item, items in the released dataset)
FILES = {
    "train-images-idx3-ubyte": (16, 28 * 28, 60_000),
    "train-labels-idx1-ubyte": (8, 1, 60_000),
    "t10k-images-idx3-ubyte": (16, 28 * 28, 10_000),
    "t10k-labels-idx1-ubyte": (8, 1, 10_000),
}


def fashion_dir(data_dir=None) -> Path:
    """The folder the files are read from: data_dir, else $IFEXPLORER_FASHION_MNIST_DIR, else Debian's."""
    return Path(data_dir if data_dir is not None else os.environ.get(DIR_ENV) or DEFAULT_DIR).expanduser()


def missing(data_dir=None) -> str | None:
    """Why Fashion-MNIST cannot be loaded (a missing folder or file, with the install command), or None
    when all four files are there. Only looks at file names: cheap enough for every menu redraw."""
    d = fashion_dir(data_dir)
    if not d.is_dir():
        return f"the folder {str(d)!r} does not exist"
    for base in FILES:
        if _file(d, base) is None:
            return f"{base}.gz is missing from {str(d)!r}"
    return None


def not_installed_message(data_dir=None) -> str | None:
    """The full DataError text for a missing installation, or None when the files are there."""
    why = missing(data_dir)
    if why is None:
        return None
    return (f"fashion_mnist: Fashion-MNIST is not installed ({why}); install it with: {INSTALL} "
            f"(or point data_dir= or the environment variable {DIR_ENV} at a folder holding the four IDX files "
            f"{', '.join(b + '.gz' for b in FILES)})")


def load_fashion_mnist(**options) -> Source:
    """The 70,000 images (uint8 (70000, 28, 28)), labels 0..9 into FASHION_NAMES, ids
    "fashion_mnist:train:123" / "fashion_mnist:test:45" (the index inside its IDX file) and is_test.
    Option: data_dir (the folder of the four files; default fashion_dir())."""
    check_options("fashion_mnist", options, ("data_dir",))
    data_dir = options.get("data_dir")
    message = not_installed_message(data_dir)
    if message is not None:
        raise DataError(message)
    d = fashion_dir(data_dir)
    files = [p for p in d.iterdir() if p.is_file()]
    stamp = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    images, labels, is_test, ids = _decoded(str(d.resolve()), stamp)
    return Source(
        name="fashion_mnist",
        description=f"Fashion-MNIST (Zalando's clothing images, 28×28 gray), the dataset's own "
        f"{int((~is_test).sum()):,} / {int(is_test.sum()):,} train / test split, from {str(d)!r}",
        images=images, labels=labels, class_names=FASHION_NAMES, ids=ids, is_test=is_test,
    )


def _file(d: Path, base: str) -> Path | None:
    for name in (base + ".gz", base):
        if (d / name).is_file():
            return d / name
    return None


@functools.lru_cache(maxsize=2)
def _decoded(directory: str, stamp: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read-only (images, labels, is_test, ids) of the folder; `stamp` (its files' names, sizes, mtimes)
    makes a changed, added or removed file a cache miss. About 55 MB for the full dataset."""
    d = Path(directory)
    try:
        src = load_idx(path=d)
    except DataError as exc:
        raise DataError(_diagnose(d) or f"fashion_mnist: cannot load the files in {directory!r}: {exc}") from None
    file_and_index = np.char.rpartition(src.ids, ":")  # load_idx's ids are "<file name>:<index in the file>"
    unexpected = sorted(set(file_and_index[:, 0].tolist()) - {_file(d, base).name for base in FILES})
    if unexpected:
        raise DataError(f"fashion_mnist: {directory!r} holds other IDX files too ({unexpected}); use a folder "
                        "with only Fashion-MNIST's four files")
    values = np.array([int(v) for v in src.class_names])
    if values.min() < 0 or values.max() >= len(FASHION_NAMES):
        raise DataError(f"fashion_mnist: labels must be 0..9; {directory!r} holds {values.tolist()}")
    labels = values[src.labels].astype(np.int64)
    part = np.where(src.is_test, "test", "train")
    ids = np.char.add(np.char.add("fashion_mnist:", part), np.char.add(":", file_and_index[:, 2]))
    for a in (src.images, labels, src.is_test, ids):
        a.flags.writeable = False
    return src.images, labels, src.is_test, ids


def _diagnose(d: Path) -> str | None:
    """A message naming the first truncated or corrupt file (its decompressed size against the size its
    header, or the released dataset, implies), or None when every file is complete."""
    for base, (head, per_item, n_items) in FILES.items():
        p = _file(d, base)
        body, complete = p.read_bytes(), True
        if p.name.endswith(".gz"):
            inflate = zlib.decompressobj(wbits=31)  # gzip framing; keeps what precedes a cut
            try:
                body = inflate.decompress(body)
            except zlib.error as exc:
                return f"fashion_mnist: {p.name} in {str(d)!r} is corrupt ({exc}); reinstall with: {REINSTALL}"
            complete = inflate.eof
        if len(body) >= head:
            n_items = int.from_bytes(body[4:8], "big")
        expected = head + n_items * per_item
        if len(body) < expected or not complete:
            return (f"fashion_mnist: {p.name} is truncated: expected {expected:,} bytes, got {len(body):,}"
                    f"{'' if len(body) < expected else ' and no end of its gzip stream'} (in {str(d)!r}); "
                    f"reinstall with: {REINSTALL}")
    return None
