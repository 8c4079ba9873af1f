"""Datasets for IF Explorer: real MNIST digits out of the box, scikit-learn's digits and iris, the
paper's simulated mixture on the sphere, Fashion-MNIST (Debian's dataset-fashion-mnist), and the
user's own images (folder, zip, npz, IDX, CIFAR-10 binary) — validated, split (stratified, seeded)
and optionally with label noise.

    ds = load_dataset("mnist")                       # 7 vs 9, all 1000 such digits, 800 / 200
    ds = load_dataset("mnist", classes="all", n_train=1000, n_test=200, label_noise=0.1, seed=3)
    ds = load_dataset("fashion_mnist", classes=("Pullover", "coat"), n_train=800, n_test=200)
    ds = load_dataset("folder", path="my_images", resize=(28, 28), color="gray")
    ds = load_uploaded_archive(uploaded.getvalue(), uploaded.name, resize=64)   # largest side ≤ 64 px
    n, h, w, c = inspect_upload(uploaded.getvalue(), uploaded.name, resize=64)  # headers only, no decoding

Conventions (theory §1): every feature row has unit Euclidean norm; targets are ±1 for two classes
(the second class in `class_names` order is +1) and one-hot for more. Every bad input raises
DataError (a ValueError) naming the file, entry or field; a loader either returns a complete Dataset
or raises, never half-loads.

Layout: `dataset` (the Dataset record and load_dataset: split, noise, features), `builtin` (mnist, digits,
iris, the mixture), `fashion` (Fashion-MNIST from its IDX files), `files` (folders, zip, npz, IDX,
CIFAR-10 readers), `images` (decoding with limits), `core` (the Source record, DataError, memory
checks, resizing).
"""
from .core import DataError, UploadInfo
from .dataset import Dataset, available_datasets, inspect_folder, inspect_upload, load_dataset, load_uploaded_archive

__all__ = ["Dataset", "DataError", "UploadInfo", "load_dataset", "load_uploaded_archive", "inspect_upload",
           "inspect_folder", "available_datasets"]
