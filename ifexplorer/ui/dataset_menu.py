"""Which datasets the sidebar offers, and loading one for an ExperimentConfig via ifexplorer.data."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ROOT_ENV = "IFEXPLORER_DATA_ROOT"


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


CHOICES = (
    Choice("MNIST 7 vs 9 (real digits)", "mnist", (7, 9), 800, 200, 1000, 784),
    Choice("MNIST, all 10 digits", "mnist", "all", 2000, 500, 5000, 784),
    Choice("8×8 digits (scikit-learn)", "digits", None, 1000, 300, 1797, 64),
    Choice("Simulated mixture (true density known)", "mixture", None, 600, 200, None, 3),
    Choice("Iris flowers (tabular, 3 classes)", "iris", None, 120, 30, 150, 4),
    Choice("Your own images", "own", None, 0, 0, None, 784),
)
LABELS = [c.label for c in CHOICES]
OWN = CHOICES[-1].label


def choice(label: str) -> Choice:
    for c in CHOICES:
        if c.label == label:
            return c
    raise ValueError(f"unknown dataset {label!r}; choose one of {LABELS}")


def data_root() -> Path:
    """Folder under which local image folders are accepted (env IFEXPLORER_DATA_ROOT)."""
    return Path(os.environ.get(DATA_ROOT_ENV, "~/ifexplorer-data")).expanduser().resolve()


def data_module():
    """ifexplorer.data, or None while it has not landed."""
    try:
        from ifexplorer import data
    except ImportError:
        return None
    return data if hasattr(data, "load_dataset") else None


def data_errors() -> tuple:
    """Exception types that mean "the user should change the input"."""
    mod = data_module()
    return (ValueError,) + ((mod.DataError,) if mod is not None and hasattr(mod, "DataError") else ())


def load(config, upload: bytes | None = None):
    """The Dataset for an ExperimentConfig (see ifexplorer.data)."""
    mod = data_module()
    if mod is None:
        raise ValueError("This dataset needs ifexplorer.data, which is not installed yet — coming soon.")
    common = dict(n_train=config.n_train or None, n_test=config.n_test or None,
                  label_noise=config.label_noise, seed=config.seed)
    if config.dataset == "upload":
        if upload is None:
            raise ValueError("The uploaded archive is no longer in this session; upload it again.")
        return mod.load_uploaded_archive(upload, config.filename or "upload.zip", resize=config.resize, **common)
    if config.dataset == "folder":
        return mod.load_dataset("folder", path=config.source, data_root=str(data_root()), resize=config.resize,
                                **common)
    return mod.load_dataset(config.dataset, classes=config.classes, **common)

