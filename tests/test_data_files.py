"""User data loaders (folder, zip, npz, IDX, CIFAR-10 binary) on tiny files made here, and every
bad input: each must raise DataError (a ValueError) whose message names the file or field."""
from __future__ import annotations

import gzip
import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from ifexplorer.data import DataError, load_dataset, load_uploaded_archive


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
    for ids, images, labels in ((ds.ids_train, ds.images_train, ds.labels_train), (ds.ids_test, ds.images_test, ds.labels_test)):
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
