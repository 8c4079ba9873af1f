"""User data loaders (folder, zip, npz, IDX, CIFAR-10 binary) on tiny files made here, and every
bad input: each must raise DataError (a ValueError) whose message names the file or field."""
from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from PIL import Image

from ifexplorer.data import DataError, UploadInfo, inspect_folder, inspect_upload, load_dataset, load_uploaded_archive
from ifexplorer.data.core import fit_size
from ifexplorer.data.images import CappedReader


def _img(seed, size=(6, 5), rgb=False):
    """A distinctive, never all-black uint8 image of size (H, W)."""
    rng = np.random.default_rng(seed)
    shape = size + ((3,) if rgb else ())
    return rng.integers(1, 256, size=shape, dtype=np.uint8)


def _png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _make_folder(root, per_class=3, classes=("cats", "dogs"), size=(6, 5), rgb=False):
    """root/<class>/<k>.png plus a notes.txt in a class and a README at the top.
    Returns {relative path: array}."""
    written = {}
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for k in range(per_class):
            arr = _img(10 * c + k, size, rgb)
            (root / cls / f"{k}.png").write_bytes(_png_bytes(arr))
            written[f"{cls}/{k}.png"] = arr
    (root / classes[0] / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("hello")
    return written


def _check_images_by_id(ds, written):
    for ids, images in ((ds.ids_train, ds.images_train), (ds.ids_test, ds.images_test)):
        for i, name in enumerate(ids):
            np.testing.assert_array_equal(images[i], written[name])


def _raises(words, fn, *args, **kwargs):
    with pytest.raises(DataError) as err:
        fn(*args, **kwargs)
    msg = str(err.value)
    for w in words:
        assert w in msg, (w, msg)
    return msg


# ---------------------------------------------------------------- folder
def test_folder_loads_classes_ids_and_reports_skipped(tmp_path):
    written = _make_folder(tmp_path / "data")
    ds = load_dataset("folder", path=tmp_path / "data", n_test=2, seed=0)
    assert ds.class_names == ("cats", "dogs")
    assert (ds.n_train, ds.n_test, ds.image_shape) == (4, 2, (6, 5))
    assert sorted(ds.labels_test.tolist()) == [0, 1] and sorted(ds.labels_train.tolist()) == [0, 0, 1, 1]
    _check_images_by_id(ds, written)
    for ids, labels in ((ds.ids_train, ds.labels_train), (ds.ids_test, ds.labels_test)):
        assert [ds.class_names[k] for k in labels] == [s.split("/")[0] for s in ids]
    flat = ds.images_train.reshape(4, -1).astype(float)
    np.testing.assert_allclose(ds.X_train, flat / np.linalg.norm(flat, axis=1, keepdims=True), atol=1e-15)
    np.testing.assert_array_equal(ds.y_train, np.where(ds.labels_train == 1, 1.0, -1.0))
    assert "cats/notes.txt" in ds.skipped and any("README.md" in s for s in ds.skipped)


def test_folder_rgb_to_gray_and_resize(tmp_path):
    written = _make_folder(tmp_path / "d", rgb=True)
    ds = load_dataset("folder", path=tmp_path / "d", n_test=2)
    assert ds.image_shape == (6, 5, 3)
    _check_images_by_id(ds, written)
    gray = load_dataset("folder", path=tmp_path / "d", n_test=2, color="gray")
    for i, name in enumerate(gray.ids_train):
        np.testing.assert_array_equal(gray.images_train[i], np.asarray(Image.fromarray(written[name]).convert("L")))
    small = load_dataset("folder", path=tmp_path / "d", n_test=2, color="gray", resize=(3, 4))
    name = small.ids_train[0]
    expected = Image.fromarray(written[name]).convert("L").resize((4, 3), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(small.images_train[0], np.asarray(expected))
    assert small.n_features == 12


def test_folder_mixed_sizes_need_resize(tmp_path):
    _make_folder(tmp_path / "d")
    (tmp_path / "d" / "dogs" / "big.png").write_bytes(_png_bytes(_img(99, (9, 9))))
    _raises(["different sizes", "9×9", "dogs/big.png", "resize"], load_dataset, "folder", path=tmp_path / "d")
    ds = load_dataset("folder", path=tmp_path / "d", resize=(6, 5), n_test=2)
    assert ds.image_shape == (6, 5) and ds.n_train + ds.n_test == 7


def test_folder_corrupt_and_truncated_images_are_named(tmp_path):
    _make_folder(tmp_path / "a")
    (tmp_path / "a" / "dogs" / "bad.png").write_bytes(b"this is not a png at all")
    _raises(["dogs/bad.png", "not a readable image"], load_dataset, "folder", path=tmp_path / "a")
    _make_folder(tmp_path / "b")
    good = _png_bytes(_img(5, (60, 50)))
    (tmp_path / "b" / "cats" / "cut.png").write_bytes(good[: len(good) // 2])
    _raises(["cats/cut.png"], load_dataset, "folder", path=tmp_path / "b", resize=(6, 5))


@pytest.mark.parametrize("case, words", [
    ("no_folders", ["no class sub-folders"]),
    ("empty_class", ["'dogs'", "empty"]),
    ("only_text", ["'dogs'", "empty"]),
    ("single_class", ["only one class", "'cats'"]),
    ("one_image", ["'dogs'", "only 1"]),
    ("missing", ["does not exist"]),
])
def test_folder_structure_errors(tmp_path, case, words):
    root = tmp_path / "d"
    root.mkdir()
    if case == "no_folders":
        (root / "x.png").write_bytes(_png_bytes(_img(1)))
    elif case in ("empty_class", "only_text", "one_image"):
        _make_folder(root, classes=("cats",))
        (root / "dogs").mkdir()
        if case == "only_text":
            (root / "dogs" / "a.txt").write_text("x")
        if case == "one_image":
            (root / "dogs" / "a.png").write_bytes(_png_bytes(_img(2)))
    elif case == "single_class":
        _make_folder(root, classes=("cats",))
    elif case == "missing":
        root = tmp_path / "nowhere"
    _raises(words, load_dataset, "folder", path=root)


def test_folder_more_than_available(tmp_path):
    _make_folder(tmp_path / "d")
    _raises(["n_train + n_test", "6"], load_dataset, "folder", path=tmp_path / "d", n_train=5, n_test=2)


def test_folder_all_black_image_is_named(tmp_path):
    _make_folder(tmp_path / "d")
    (tmp_path / "d" / "dogs" / "black.png").write_bytes(_png_bytes(np.zeros((6, 5), np.uint8)))
    _raises(["dogs/black.png", "all zero"], load_dataset, "folder", path=tmp_path / "d", n_test=1, n_train=6)


def test_folder_data_root_refuses_paths_outside(tmp_path):
    root = tmp_path / "allowed"
    _make_folder(root / "mine")
    _make_folder(tmp_path / "secret")
    ds = load_dataset("folder", path=root / "mine", data_root=root, n_test=2)
    assert ds.n_train == 4
    _raises(["outside", "allowed"], load_dataset, "folder", path=tmp_path / "secret", data_root=root)
    _raises(["outside"], load_dataset, "folder", path=root / ".." / "secret", data_root=root)
    os.symlink(tmp_path / "secret", root / "link")  # a symlink inside the root pointing out
    _raises(["outside"], load_dataset, "folder", path=root / "link", data_root=root)
    os.symlink(tmp_path / "secret" / "cats" / "0.png", root / "mine" / "cats" / "leak.png")
    _raises(["cats/leak.png", "outside"], load_dataset, "folder", path=root / "mine", data_root=root)


def test_decompression_bomb_and_pixel_limit(tmp_path, monkeypatch):
    _make_folder(tmp_path / "d")
    _raises(["0.png", "over the limit", "decompression bomb"], load_dataset, "folder", path=tmp_path / "d",
            max_image_pixels=20)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)  # 30 px > 20: Pillow warns; we make it an error
    _raises(["0.png", "decompression bomb"], load_dataset, "folder", path=tmp_path / "d")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 30 px > 2 × 10: Pillow's own error
    _raises(["0.png", "decompression bomb"], load_dataset, "folder", path=tmp_path / "d")


def test_memory_estimate_refuses_before_decoding(tmp_path):
    _make_folder(tmp_path / "d")
    msg = _raises(["6 images", "GB", "max_memory_gb"], load_dataset, "folder", path=tmp_path / "d",
                  max_memory_gb=1e-7)
    assert "0.00 GB" in msg  # 6 × 30 values × 10 bytes = 1800 bytes


def test_folder_size_cap(tmp_path):
    _make_folder(tmp_path / "d")
    _raises(["folder", "cap", "max_total_bytes=50"], load_dataset, "folder", path=tmp_path / "d", max_total_bytes=50)
    _raises(["folder", "at least 6 files", "max_files=5"], load_dataset, "folder", path=tmp_path / "d", max_files=5)
    assert load_dataset("folder", path=tmp_path / "d", max_files=6, n_test=2).n_train == 4


# ---------------------------------------------------------------- zip
def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _zip_of(written, top="photos/"):
    files = {f"{top}{name}": _png_bytes(arr) for name, arr in written.items()}
    files[f"{top}cats/notes.txt"] = b"text"
    files["__MACOSX/photos/._x.png"] = b"junk"
    return _zip_bytes(files)


def test_zip_matches_the_folder(tmp_path):
    written = _make_folder(tmp_path / "d")
    data = _zip_of(written)
    (tmp_path / "photos.zip").write_bytes(data)
    by_path = load_dataset("zip", path=tmp_path / "photos.zip", n_test=2, seed=4)
    by_bytes = load_uploaded_archive(data, "photos.zip", n_test=2, seed=4)
    assert by_path.class_names == by_bytes.class_names == ("cats", "dogs")
    np.testing.assert_array_equal(by_path.images_train, by_bytes.images_train)
    assert all(s.startswith("photos/") for s in by_path.ids_train)
    _check_images_by_id(by_path, {f"photos/{k}": v for k, v in written.items()})
    assert "photos/cats/notes.txt" in by_path.skipped and any("__MACOSX" in s for s in by_path.skipped)
    flat = load_uploaded_archive(_zip_of(written, top=""), "flat.zip", n_test=2)  # no wrapping folder
    assert flat.class_names == ("cats", "dogs") and flat.n_train == 4


def test_zip_made_by_shutil_with_directory_entries_and_a_readme(tmp_path):
    import shutil

    written = _make_folder(tmp_path / "src" / "pets")  # pets/README.md sits beside the class folders
    archive = shutil.make_archive(str(tmp_path / "pets"), "zip", root_dir=tmp_path / "src", base_dir="pets")
    ds = load_dataset("zip", path=archive, n_test=2)
    assert ds.class_names == ("cats", "dogs") and ds.n_train + ds.n_test == 6
    assert "pets/README.md (not in a class folder)" in ds.skipped and "pets/cats/notes.txt" in ds.skipped
    _check_images_by_id(ds, {f"pets/{k}": v for k, v in written.items()})


@pytest.mark.parametrize("entry, words", [
    ("../evil.png", ["'../evil.png'", "escapes"]),
    ("cats/../../evil.png", ["'cats/../../evil.png'", "escapes"]),
    ("/etc/evil.png", ["'/etc/evil.png'", "absolute"]),
    ("C:/evil.png", ["'C:/evil.png'", "absolute"]),
])
def test_zip_entries_escaping_are_refused(tmp_path, entry, words):
    written = _make_folder(tmp_path / "d")
    files = {name: _png_bytes(arr) for name, arr in written.items()}
    files[entry] = _png_bytes(_img(3))
    _raises(words, load_uploaded_archive, _zip_bytes(files), "up.zip")


def test_zip_bad_inputs(tmp_path):
    written = _make_folder(tmp_path / "d")
    data = _zip_of(written)
    _raises(["'up.zip'", "cap", "max_total_bytes=100"], load_uploaded_archive, data, "up.zip", max_total_bytes=100)
    _raises(["'up.zip'", "files", "max_files=3"], load_uploaded_archive, data, "up.zip", max_files=3)
    _raises(["'up.zip'", "not a valid zip"], load_uploaded_archive, b"PK-not-really", "up.zip")
    _raises(["'up.zip'", "not a valid zip"], load_uploaded_archive, data[: len(data) // 2], "up.zip")
    bad = _zip_bytes({"cats/a.png": _png_bytes(_img(1)), "cats/b.png": _png_bytes(_img(2)),
                      "dogs/a.png": _png_bytes(_img(3)), "dogs/broken.png": b"\x89PNG garbage"})
    _raises(["dogs/broken.png"], load_uploaded_archive, bad, "up.zip")
    one = _zip_bytes({"cats/a.png": _png_bytes(_img(1)), "cats/b.png": _png_bytes(_img(2))})
    _raises(["only one class", "'cats'"], load_uploaded_archive, one, "up.zip")
    empty_class = _zip_bytes({"cats/a.png": _png_bytes(_img(1)), "cats/b.png": _png_bytes(_img(2)), "dogs/": b""})
    _raises(["'dogs'", "empty"], load_uploaded_archive, empty_class, "up.zip")
    _raises(["up.rar", ".zip", ".npz"], load_uploaded_archive, data, "up.rar")
    _raises(["exactly one of path=", "or data="], load_dataset, "zip")


# ---------------------------------------------------------------- npz
def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_uint8_string_labels_and_path(tmp_path):
    X = np.stack([_img(k, (4, 4)) for k in range(10)])
    y = np.array(["b", "a"] * 5)
    (tmp_path / "d.npz").write_bytes(_npz_bytes(X=X, y=y))
    ds = load_dataset("npz", path=tmp_path / "d.npz", n_test=4, seed=1)
    assert ds.class_names == ("a", "b") and (ds.n_train, ds.n_test) == (6, 4)
    for ids, images, labels in ((ds.ids_train, ds.images_train, ds.labels_train),
                                (ds.ids_test, ds.images_test, ds.labels_test)):
        idx = np.array([int(s.split(":")[1]) for s in ids])
        np.testing.assert_array_equal(images, X[idx])
        np.testing.assert_array_equal(np.array(ds.class_names)[labels], y[idx])
    assert ds.ids_train[0].startswith("d.npz:")


def test_npz_float_rgb_and_class_names():
    X = np.random.default_rng(0).uniform(0.01, 1, size=(8, 3, 2, 3))
    ds = load_uploaded_archive(_npz_bytes(X=X, y=np.array([0, 1] * 4), class_names=np.array(["no", "yes"])),
                               "f.npz", n_test=2)
    assert ds.class_names == ("no", "yes") and ds.image_shape == (3, 2, 3)
    idx = np.array([int(s.split(":")[1]) for s in ds.ids_train])
    np.testing.assert_array_equal(ds.images_train, np.rint(X[idx] * 255).astype(np.uint8))
    big = load_uploaded_archive(_npz_bytes(X=X * 1000 - 3, y=np.array([0, 1] * 4)), "g.npz", n_test=2)
    assert big.images_train.min() >= 0 and big.images_test.max() <= 255
    gray = load_uploaded_archive(_npz_bytes(X=X[..., :1], y=np.array([0, 1] * 4)), "h.npz", n_test=2)
    assert gray.image_shape == (3, 2)


def test_npz_float_values_reach_the_kernel_exactly_not_rounded_or_shifted():
    X = np.random.default_rng(1).normal(size=(10, 4, 3))  # z-scored pixels: negative values, not 8-bit
    ds = load_uploaded_archive(_npz_bytes(X=X, y=np.array([0, 1] * 5)), "z.npz", n_test=4)
    for ids, feats in ((ds.ids_train, ds.X_train), (ds.ids_test, ds.X_test)):
        rows = X[[int(s.split(":")[1]) for s in ids]].reshape(len(ids), -1)
        np.testing.assert_allclose(feats, rows / np.linalg.norm(rows, axis=1, keepdims=True), rtol=1e-15, atol=0)
    assert ds.images_train.dtype == np.uint8 and ds.images_train.shape[1:] == (4, 3)  # display only
    resized = load_uploaded_archive(_npz_bytes(X=X, y=np.array([0, 1] * 5)), "z.npz", n_test=4, resize=(2, 2))
    assert resized.X_train.shape[1] == 4  # converting the images works on the 8-bit display images


def test_npz_bad_inputs():
    X = np.stack([_img(k, (4, 4)) for k in range(6)]).astype(np.float64)
    y = np.array([0, 1] * 3)
    nan = X.copy()
    nan[4, 1, 1] = np.nan
    _raises(["'x.npz'", "X", "NaN or inf", "index 4"], load_uploaded_archive, _npz_bytes(X=nan, y=y), "x.npz")
    inf = X.copy()
    inf[2, 0, 0] = np.inf
    _raises(["X", "NaN or inf"], load_uploaded_archive, _npz_bytes(X=inf, y=y), "x.npz")
    _raises(["'x.npz'", "y", "6 images", "(5,)"], load_uploaded_archive, _npz_bytes(X=X, y=y[:5]), "x.npz")
    _raises(["missing array 'y'"], load_uploaded_archive, _npz_bytes(X=X), "x.npz")
    _raises(["X must have shape"], load_uploaded_archive, _npz_bytes(X=X.reshape(6, -1), y=y), "x.npz")
    _raises(["y", "NaN"], load_uploaded_archive, _npz_bytes(X=X, y=np.array([0, 1, np.nan, 0, 1, 0])), "x.npz")
    obj = np.empty(6, dtype=object)
    obj[:] = [{"a": 1}] * 6  # needs pickle to load: must be refused, never unpickled
    _raises(["'x.npz'", "pickle"], load_uploaded_archive, _npz_bytes(X=X, y=obj), "x.npz")
    data = _npz_bytes(X=X, y=y)
    _raises(["'x.npz'"], load_uploaded_archive, data[: len(data) - 40], "x.npz")
    _raises(["'x.npz'", "GB"], load_uploaded_archive, data, "x.npz", max_memory_gb=1e-9)
    _raises(["'x.npz'", "cap"], load_uploaded_archive, data, "x.npz", max_total_bytes=10)


# ---------------------------------------------------------------- IDX
def _idx_images(arr) -> bytes:
    n, r, c = arr.shape
    return (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, r, c)) + arr.tobytes()


def _idx_labels(lab) -> bytes:
    return (2049).to_bytes(4, "big") + len(lab).to_bytes(4, "big") + lab.astype(np.uint8).tobytes()


def _write(path, data, gz):
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _make_idx(d, gz, n_train=12, n_test=6):
    d.mkdir()
    rng = np.random.default_rng(0)
    parts = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(1, 256, size=(n, 5, 4), dtype=np.uint8)
        labs = np.array([3, 5, 8] * (n // 3))
        _write(d / f"{prefix}-images-idx3-ubyte", _idx_images(imgs), gz)
        _write(d / f"{prefix}-labels-idx1-ubyte", _idx_labels(labs), gz)
        parts[prefix] = (imgs, labs)
    return parts


@pytest.mark.parametrize("gz", [False, True])
def test_idx_keeps_the_train_t10k_split(tmp_path, gz):
    parts = _make_idx(tmp_path / "m", gz)
    ds = load_dataset("idx", path=tmp_path / "m")
    assert ds.class_names == ("3", "5", "8") and (ds.n_train, ds.n_test, ds.image_shape) == (12, 6, (5, 4))
    suffix = ".gz" if gz else ""
    assert all(s.startswith(f"t10k-images-idx3-ubyte{suffix}:") for s in ds.ids_test)
    idx = np.array([int(s.split(":")[1]) for s in ds.ids_test])
    np.testing.assert_array_equal(ds.images_test, parts["t10k"][0][idx])
    np.testing.assert_array_equal(np.array(ds.class_names)[ds.labels_test].astype(int), parts["t10k"][1][idx])
    sub = load_dataset("idx", path=tmp_path / "m", n_train=6, n_test=3, classes=["3", "8"])
    assert (sub.n_train, sub.n_test) == (6, 3) and sub.class_names == ("3", "8")


def test_idx_single_pair_is_split_randomly(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    imgs = np.random.default_rng(1).integers(1, 256, size=(10, 3, 3), dtype=np.uint8)
    (d / "my-images.idx3-ubyte").write_bytes(_idx_images(imgs))
    (d / "my-labels.idx1-ubyte").write_bytes(_idx_labels(np.array([0, 1] * 5)))
    ds = load_dataset("idx", path=d)
    assert (ds.n_train, ds.n_test) == (8, 2)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_bad_files(tmp_path, gz):
    parts = _make_idx(tmp_path / "a", gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    imgs = parts["train"][0]
    bad_magic = (2049).to_bytes(4, "big") + _idx_images(imgs)[4:]
    _write(tmp_path / "a" / "train-images-idx3-ubyte", bad_magic, gz)
    _raises([name, "magic number", "0x00000801", "0x00000803"], load_dataset, "idx", path=tmp_path / "a")
    _write(tmp_path / "a" / "train-images-idx3-ubyte", _idx_images(imgs)[:-7], gz)
    _raises([name, "header promises 240", "233"], load_dataset, "idx", path=tmp_path / "a")
    _write(tmp_path / "a" / "train-images-idx3-ubyte", _idx_images(imgs) + b"xx", gz)
    _raises([name, "more"], load_dataset, "idx", path=tmp_path / "a")
    _write(tmp_path / "a" / "train-images-idx3-ubyte", _idx_images(imgs[:11]), gz)
    _raises([name, "11 images", "12 labels"], load_dataset, "idx", path=tmp_path / "a")


def test_idx_missing_files(tmp_path):
    (tmp_path / "e").mkdir()
    _raises(["no *-images-idx3-ubyte"], load_dataset, "idx", path=tmp_path / "e")
    (tmp_path / "e" / "train-images-idx3-ubyte").write_bytes(_idx_images(np.ones((2, 2, 2), np.uint8)))
    _raises(["'train-images-idx3-ubyte'", "no matching"], load_dataset, "idx", path=tmp_path / "e")


# ---------------------------------------------------------------- CIFAR-10 binary
def _cifar_batch(labels, seed):
    imgs = np.random.default_rng(seed).integers(1, 256, size=(len(labels), 32, 32, 3), dtype=np.uint8)
    planes = imgs.transpose(0, 3, 1, 2).reshape(len(labels), -1)  # R, G, B planes, row-major
    return np.column_stack([np.asarray(labels, np.uint8), planes]).tobytes(), imgs


def test_cifar10_binary_batches(tmp_path):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    train_bytes, train_imgs = _cifar_batch([0, 3, 0, 3, 0, 3, 0, 3], seed=1)
    test_bytes, test_imgs = _cifar_batch([3, 0, 3, 0], seed=2)
    (d / "data_batch_1.bin").write_bytes(train_bytes)
    (d / "test_batch.bin").write_bytes(test_bytes)
    ds = load_dataset("cifar10", path=tmp_path)  # finds the cifar-10-batches-bin sub-folder
    assert ds.class_names == ("airplane", "cat") and (ds.n_train, ds.n_test) == (8, 4)
    assert ds.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(ds.images_train, train_imgs)
    np.testing.assert_array_equal(ds.images_test, test_imgs)
    np.testing.assert_array_equal(ds.labels_test, [1, 0, 1, 0])
    assert ds.ids_test[1] == "test_batch.bin:1"
    (d / "batches.meta.txt").write_text("\n".join(f"c{k}" for k in range(10)) + "\n")
    gray = load_dataset("cifar10", path=d, color="gray", resize=(8, 8))
    assert gray.class_names == ("c0", "c3") and gray.image_shape == (8, 8)


def test_cifar10_bad_inputs(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    (d / "data_batch_1").write_bytes(b"pickled")  # the python version: never loaded
    _raises(["pickle", "binary"], load_dataset, "cifar10", path=d)
    good, _ = _cifar_batch([0, 1, 0, 1], seed=0)
    (d / "data_batch_1.bin").write_bytes(good[:-5])
    _raises(["'data_batch_1.bin'", "multiple of the 3073"], load_dataset, "cifar10", path=d)
    bad = bytearray(good)
    bad[0] = 12
    (d / "data_batch_1.bin").write_bytes(bytes(bad))
    _raises(["'data_batch_1.bin'", "label 12"], load_dataset, "cifar10", path=d)
    (d / "data_batch_1.bin").write_bytes(good)
    _raises(["cifar10", "GB"], load_dataset, "cifar10", path=d, max_memory_gb=1e-9)
    _raises(["does not exist"], load_dataset, "cifar10", path=tmp_path / "nowhere")


# ---------------------------------------------------------------- resize, inspection, budgets
def test_fit_size_rules():
    assert fit_size(None, [(6, 5)]) == (6, 5) and fit_size(None, [(6, 5), (9, 9)]) is None
    assert fit_size((3, 4), [(6, 5), (9, 9)]) == (3, 4)
    assert fit_size(64, [(30, 20)]) == (30, 20)  # never scaled up
    assert fit_size(64, [(9000, 9000)]) == (64, 64)
    assert fit_size(10, [(30, 20)]) == (10, 7)  # 20 · 10/30 = 6.67
    assert fit_size(64, [(1000, 3)]) == (64, 1)  # each side at least 1 px
    assert fit_size(16, [(30, 20), (40, 40)]) == (16, 16)  # different sizes: squares
    assert fit_size(64, [(6, 5), (9, 9)]) == (9, 9)  # … no larger than the largest side found


def test_resize_to_a_largest_side_keeps_the_aspect(tmp_path):
    written = _make_folder(tmp_path / "d", size=(6, 5))
    ds = load_dataset("folder", path=tmp_path / "d", n_test=2, resize=4)
    assert ds.image_shape == (4, 3) and ds.n_features == 12 and ds.info["resize"] == (4, 3)
    name = ds.ids_train[0]
    expected = Image.fromarray(written[name]).resize((3, 4), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(ds.images_train[0], np.asarray(expected))
    assert load_dataset("folder", path=tmp_path / "d", n_test=2, resize=64).image_shape == (6, 5)
    (tmp_path / "d" / "dogs" / "big.png").write_bytes(_png_bytes(_img(99, (9, 9))))
    assert load_dataset("folder", path=tmp_path / "d", n_test=2, resize=64).image_shape == (9, 9)
    assert load_dataset("mnist", n_train=20, n_test=10, resize=14).image_shape == (14, 14)  # built-ins too
    _raises(["resize", "positive"], load_dataset, "folder", path=tmp_path / "d", resize=0)


def test_npz_resize_to_a_largest_side_keeps_exact_features_when_nothing_shrinks():
    X = np.random.default_rng(2).normal(size=(8, 4, 3))
    data = _npz_bytes(X=X, y=np.array([0, 1] * 4))
    ds = load_uploaded_archive(data, "z.npz", n_test=2, resize=64)  # 4×3 is already small: values kept exactly
    rows = X[[int(s.split(":")[1]) for s in ds.ids_train]].reshape(ds.n_train, -1)
    np.testing.assert_allclose(ds.X_train, rows / np.linalg.norm(rows, axis=1, keepdims=True), rtol=1e-15, atol=0)
    assert load_uploaded_archive(data, "z.npz", n_test=2, resize=2).image_shape == (2, 2)  # 3 · 2/4 = 1.5 → 2


def test_inspect_upload_reads_the_numbers_the_loader_gives(tmp_path):
    written = _make_folder(tmp_path / "d", per_class=4, size=(30, 20), rgb=True)
    data = _zip_of(written)
    for kwargs, expected in (({}, (8, 30, 20, 3)), (dict(resize=10), (8, 10, 7, 3)),
                             (dict(resize=10, color="gray"), (8, 10, 7, 1)), (dict(resize=(5, 5)), (8, 5, 5, 3))):
        info = inspect_upload(data, "pets.zip", **kwargs)
        assert isinstance(info, UploadInfo) and tuple(info) == expected, (kwargs, info)
        ds = load_uploaded_archive(data, "pets.zip", n_test=2, **kwargs)
        channels = 1 if len(ds.image_shape) == 2 else 3
        assert (ds.n_train + ds.n_test, *ds.image_shape[:2], channels) == expected
        assert info.n_features == ds.n_features
    assert tuple(inspect_folder(tmp_path / "d", resize=10)) == (8, 10, 7, 3)
    X = np.random.default_rng(0).integers(1, 256, size=(9, 40, 20), dtype=np.uint8)
    npz = _npz_bytes(X=X, y=np.array([0, 1, 2] * 3))
    assert tuple(inspect_upload(npz, "x.npz")) == (9, 40, 20, 1)
    assert tuple(inspect_upload(npz, "x.npz", resize=16, color="rgb")) == (9, 16, 8, 3)
    assert load_uploaded_archive(npz, "x.npz", n_test=3, resize=16).image_shape == (16, 8)
    mixed = _zip_bytes({"a/1.png": _png_bytes(_img(1, (6, 5))), "a/2.png": _png_bytes(_img(2, (6, 5))),
                        "b/1.png": _png_bytes(_img(3, (9, 9))), "b/2.png": _png_bytes(_img(4, (9, 9)))})
    _raises(["different sizes", "9×9", "resize"], inspect_upload, mixed, "m.zip")
    assert tuple(inspect_upload(mixed, "m.zip", resize=8)) == (4, 8, 8, 1)
    _raises(["m.rar", ".zip"], inspect_upload, mixed, "m.rar")


def test_inspect_upload_reads_headers_only(monkeypatch):
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("inspect_upload decoded an image")

    data = _zip_bytes({f"{c}/{k}.png": _png_bytes(_img(k, (12, 10))) for c in "ab" for k in range(3)})
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert tuple(inspect_upload(data, "h.zip", resize=5)) == (6, 5, 4, 1)


def test_feature_and_decoding_budgets_are_checked_from_headers_and_name_their_limit(tmp_path):
    _make_folder(tmp_path / "d", size=(6, 5))
    _raises(["folder", "6×5×1 = 30 features", "max_features=29", "resize"], load_dataset, "folder",
            path=tmp_path / "d", max_features=29)
    assert load_dataset("folder", path=tmp_path / "d", max_features=29, resize=5, n_test=2).n_features == 20
    _raises(["decoding the 6 images", "pixel memory", "max_decoded_bytes=100"], load_dataset, "folder",
            path=tmp_path / "d", max_decoded_bytes=100)  # 6 images × 30 px × 1 byte = 180 bytes
    assert load_dataset("folder", path=tmp_path / "d", max_decoded_bytes=180, n_test=2).n_train == 4
    X = np.ones((4, 100, 100), np.uint8)
    _raises(["'x.npz'", "100×100×1 = 10,000 features", "max_features=9999"], load_uploaded_archive,
            _npz_bytes(X=X, y=np.array([0, 1] * 2)), "x.npz", max_features=9999)
    big = _zip_bytes({f"{c}/{k}.png": _png_bytes(_img(k, (80, 80), rgb=True)) for c in "ab" for k in range(2)})
    _raises(["'big.zip'", "80×80×3 = 19,200 features", "12,288"], load_uploaded_archive, big, "big.zip")


def test_image_file_size_cap_declared_and_read(tmp_path):
    written = _make_folder(tmp_path / "d")
    size = (tmp_path / "d" / "cats" / "0.png").stat().st_size
    _raises(["'cats/0.png'", "limit per image file", f"max_file_bytes={size - 1}"], load_dataset, "folder",
            path=tmp_path / "d", max_file_bytes=size - 1)
    _raises(["'photos/cats/0.png'", f"max_file_bytes={size - 1}"], load_uploaded_archive, _zip_of(written),
            "p.zip", max_file_bytes=size - 1)
    reader = CappedReader(io.BytesIO(bytes(100)), 100, "entry 'a.png'")
    assert len(reader.read()) == 100  # exactly the cap is fine
    reader = CappedReader(io.BytesIO(bytes(101)), 100, "entry 'a.png'")
    with pytest.raises(DataError, match="entry 'a.png': holds more than 100 bytes"):
        reader.read()
    with pytest.raises(DataError, match="more than 100 bytes"):
        CappedReader(io.BytesIO(bytes(101)), 100, "x").seek(0, io.SEEK_END)


def test_only_well_known_formats_are_read(tmp_path):
    _make_folder(tmp_path / "d")
    Image.fromarray(_img(7)).save(tmp_path / "d" / "dogs" / "x.tga")  # Pillow opens TGA; we do not
    ds = load_dataset("folder", path=tmp_path / "d", n_test=2)
    assert "dogs/x.tga" in ds.skipped and ds.n_train + ds.n_test == 6
    Image.fromarray(_img(7)).save(tmp_path / "d" / "dogs" / "y.png", format="TGA")  # a TGA named .png
    _raises(["dogs/y.png", "not a readable image", "PNG, JPEG"], load_dataset, "folder", path=tmp_path / "d")


def test_messages_name_files_as_the_user_knows_them(tmp_path):
    """No object reprs (0x… addresses) and no server paths: the upload's name, paths inside the zip,
    paths relative to the data root."""
    root = tmp_path / "data-root"
    _make_folder(root / "mine")
    _make_folder(root / "ok")
    (root / "mine" / "dogs" / "bad.png").write_bytes(b"this is not a png at all")
    (root / "elsewhere.zip").mkdir()
    good = {f"{c}/{k}.png": _png_bytes(_img(k)) for c in ("cats", "dogs") for k in range(2)}
    npz = _npz_bytes(X=np.ones((4, 3, 3)), y=np.array([0, 1] * 2))
    messages = [
        _raises(["dogs/bad.png"], load_uploaded_archive, _zip_bytes({**good, "dogs/bad.png": b"not a png"}), "u.zip"),
        _raises(["dogs/bad.png", "not a readable image"], load_dataset, "folder", path=root / "mine", data_root=root),
        _raises(["folder 'ok'", "features"], load_dataset, "folder", path=root / "ok", data_root=root, max_features=1),
        _raises(["'nowhere'", "does not exist"], load_dataset, "folder", path=root / "nowhere", data_root=root),
        _raises(["'../outside'", "outside"], load_dataset, "folder", path=root / ".." / "outside", data_root=root),
        _raises(["'elsewhere.zip'", "not a valid zip"], load_dataset, "zip", path=root / "elsewhere.zip"),
        _raises(["'u.npz'"], load_uploaded_archive, npz[:-40], "u.npz"),
        _raises(["'u.zip'"], load_uploaded_archive, b"PK\x03\x04 not really", "u.zip"),
    ]
    for msg in messages:
        assert "0x" not in msg and str(tmp_path) not in msg and "BytesIO" not in msg, msg


# ---------------------------------------------------------------- hostile uploads, memory measured in a child process
_MEASURE = textwrap.dedent("""
    import json, sys
    from ifexplorer.data import DataError, inspect_upload, load_uploaded_archive

    def kib(field):
        with open("/proc/self/status") as fh:
            return int(fh.read().split(field + ":")[1].split()[0])

    out = []
    for path, name, kwargs in json.loads(sys.argv[1]):
        data = open(path, "rb").read()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak (VmHWM) to the current RSS
        base, results = kib("VmRSS"), []
        for fn in (inspect_upload, load_uploaded_archive):
            try:
                r = fn(data, name, **kwargs)
                results.append(list(r) if fn is inspect_upload else [r.n_train + r.n_test, *r.image_shape])
            except DataError as exc:
                results.append(str(exc))
        out.append(dict(results=results, growth_mb=(kib("VmHWM") - base) / 1024))
    print(json.dumps(out))
""")


def _measure(jobs):
    """For each (path, upload name, kwargs) job, in one fresh process: inspect_upload and then
    load_uploaded_archive(bytes of path, name, **kwargs). Returns per job (their results or DataError
    messages, the peak RSS growth in MB during the two calls)."""
    jobs = [(str(p), name, kw) for p, name, kw in jobs]
    proc = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(jobs)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [(r["results"], r["growth_mb"]) for r in json.loads(proc.stdout.strip().splitlines()[-1])]


def test_six_huge_constant_pngs_are_refused_or_resized_without_decoding_them_whole(tmp_path):
    """The 4 KB zip that once cost 9 GB: six constant 9000×9000 PNGs (81,000,000 pixels each, under
    the per-image pixel cap)."""
    for mode, fill in (("L", 7), ("RGB", (7, 8, 9))):
        buf = io.BytesIO()
        Image.new(mode, (9000, 9000), fill).save(buf, format="PNG", compress_level=1)
        with zipfile.ZipFile(tmp_path / f"{mode}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for k in range(6):
                zf.writestr(f"{'ab'[k % 2]}/{k}.png", buf.getvalue())
        del buf
        assert (tmp_path / f"{mode}.zip").stat().st_size < 100_000
    jobs = [(tmp_path / f"{mode}.zip", "big.zip", kw) for mode in ("L", "RGB") for kw in ({}, {"resize": 64})]
    (full_l, _), (small_l, grow_l), (full_rgb, _), (small_rgb, grow_rgb) = measured = _measure(jobs)
    for msg in full_l + full_rgb:  # at full size: 81,000,000 features per image, refused from the headers
        assert "9000×9000" in msg and "max_features=12288" in msg and "'big.zip'" in msg, msg
    assert small_l == [[6, 64, 64, 1], [6, 64, 64]]  # 6 × 81 MB of pixels in all: decoded one at a time
    for msg in small_rgb:  # 6 × 324 MB: over the 1 GiB decoding budget, refused from the headers
        assert "decoding the 6 images" in msg and "max_decoded_bytes" in msg, msg
    for _, growth in measured:
        assert growth < 300, f"peak memory grew by {growth:.0f} MB"
    assert grow_l > 50 and grow_rgb < 50  # the measurement sees one 81 MB decoded image; no RGB one is decoded


def _cd_size_offset(data: bytes, member: str) -> int:
    """Byte offset of a member's uncompressed size in the zip's central directory."""
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack("<H", data[pos + 28: pos + 30])[0]
        if data[pos + 46: pos + 46 + name_len] == member.encode():
            return pos + 24
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(member)


def test_a_900_mb_member_is_refused_from_its_size_even_when_the_size_lies(tmp_path):
    """919 KB-class zip whose image member inflates to 900 MB of zeros (written in 1 MB chunks; never held)."""
    zpath = tmp_path / "huge.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for c in ("cats", "dogs"):
            for k in range(2):
                zf.writestr(f"{c}/{k}.png", _png_bytes(_img(k)))
        with zf.open("cats/huge.png", "w") as fh:
            chunk = bytes(1 << 20)
            for _ in range(900):
                fh.write(chunk)
    data = zpath.read_bytes()
    assert len(data) < 8_000_000
    offset = _cd_size_offset(data, "cats/huge.png")
    assert struct.unpack("<I", data[offset: offset + 4])[0] == 900 << 20
    lies = []
    for declared in (1000, 60_000_000):  # the central directory lies: a small size, or one just under the cap
        lies.append(tmp_path / f"lie{declared}.zip")
        lies[-1].write_bytes(data[:offset] + struct.pack("<I", declared) + data[offset + 4:])
    (honest, growth), *lied = _measure([(p, "huge.zip", {}) for p in [zpath, *lies]])
    for msg in honest:
        assert "'huge.zip'" in msg and "'cats/huge.png'" in msg and "943,718,400 bytes" in msg, msg
        assert "max_file_bytes=67108864" in msg, msg
    assert growth < 50, growth
    for results, growth in lied:  # read only as far as the header, or as far as the declared size
        for msg in results:
            assert "cats/huge.png" in msg and ("not a readable image" in msg or "could not be read" in msg), msg
        assert growth < 50, growth
