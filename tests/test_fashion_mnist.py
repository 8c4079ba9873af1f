"""Fashion-MNIST (Debian's dataset-fashion-mnist) and the dataset menu's data-root scan.

Tests marked `real` read the installed files and skip without them; the rest use small synthetic
IDX folders written to tmp_path (via data_dir= or $IFEXPLORER_FASHION_MNIST_DIR)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from ifexplorer.data import DataError, load_dataset
from ifexplorer.data import fashion as F
from ifexplorer.ui import dataset_menu
from ifexplorer.ui.experiment import ExperimentConfig

INSTALLED = F.missing(F.DEFAULT_DIR) is None
real = pytest.mark.skipif(not INSTALLED, reason=f"Fashion-MNIST is not installed ({F.INSTALL})")
FILE_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(F.DIR_ENV, raising=False)


def _raises(words, fn, *args, **kwargs):
    with pytest.raises(DataError) as err:
        fn(*args, **kwargs)
    for w in words:
        assert w in str(err.value), (w, str(err.value))
    return str(err.value)


def _idx_images(arr) -> bytes:
    n, r, c = arr.shape
    return (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, r, c)) + arr.tobytes()


def _idx_labels(lab) -> bytes:
    return (2049).to_bytes(4, "big") + len(lab).to_bytes(4, "big") + np.asarray(lab, np.uint8).tobytes()


def _fake_fashion(d: Path, n_train=40, n_test=20, size=(28, 28), prefixes=("train", "t10k")) -> dict:
    """A Fashion-MNIST-shaped folder: every class 0..9 equally often, random nonzero images."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    parts = {}
    for prefix, n in zip(prefixes, (n_train, n_test)):
        imgs = rng.integers(1, 256, size=(n, *size), dtype=np.uint8)
        labs = rng.permutation(np.arange(n) % 10)
        (d / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_images(imgs)))
        (d / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_labels(labs)))
        parts[prefix] = (imgs, labs)
    return parts


def _index(ids, part):
    assert all(s.startswith(f"fashion_mnist:{part}:") for s in ids), ids[:3]
    return np.array([int(s.rsplit(":", 1)[1]) for s in ids])


# ---------------------------------------------------------------- the real files
def _decode(name) -> np.ndarray:
    """Obviously-correct reference: the whole file through gzip, the header skipped by hand."""
    raw = gzip.decompress((Path(F.DEFAULT_DIR) / name).read_bytes())
    values = np.frombuffer(raw, np.uint8)
    return values[16:].reshape(-1, 28, 28) if "images" in name else values[8:]


@real
def test_real_fashion_mnist_keeps_its_split_names_and_stratifies():
    ds = load_dataset("fashion_mnist", classes="all", n_train=1000, n_test=200, seed=3)
    assert ds.class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                              "Bag", "Ankle boot")
    assert (ds.n_train, ds.n_test, ds.image_shape, ds.y_train.shape) == (1000, 200, (28, 28), (1000, 10))
    # 6,000 / 1,000 images per class: a stratified draw takes exactly 100 / 20 of each
    assert np.bincount(ds.labels_train, minlength=10).tolist() == [100] * 10
    assert np.bincount(ds.labels_test, minlength=10).tolist() == [20] * 10
    for part, images, labels, ids, n in (("train", ds.images_train, ds.labels_train, ds.ids_train, 60_000),
                                         ("test", ds.images_test, ds.labels_test, ds.ids_test, 10_000)):
        idx = _index(ids, part)  # train points come from the train file, test points from the t10k file
        prefix = "train" if part == "train" else "t10k"
        ref_images, ref_labels = _decode(f"{prefix}-images-idx3-ubyte.gz"), _decode(f"{prefix}-labels-idx1-ubyte.gz")
        assert len(ref_labels) == n and idx.max() < n and len(set(idx)) == len(idx)
        np.testing.assert_array_equal(images, ref_images[idx])
        np.testing.assert_array_equal(labels, ref_labels[idx])


@real
def test_real_default_pair_is_shirt_vs_tshirt_with_all_of_each_part():
    ds = load_dataset("fashion_mnist")
    assert ds.class_names == ("T-shirt/top", "Shirt") and (ds.n_train, ds.n_test) == (12_000, 2_000)
    assert set(ds.y_train.tolist()) == {-1.0, 1.0}
    sub = load_dataset("fashion_mnist", n_train=800, n_test=200, seed=0)
    assert sub.info["classes"] == ("T-shirt/top", "Shirt") and np.bincount(sub.labels_train).tolist() == [400, 400]
    assert F.load_fashion_mnist().images is F.load_fashion_mnist().images  # decoded once per process


# ---------------------------------------------------------------- synthetic folders: the loader's logic
def test_classes_by_name_any_case_or_index_and_the_split_is_seeded(tmp_path):
    parts = _fake_fashion(tmp_path / "f")
    by_name = load_dataset("fashion_mnist", data_dir=tmp_path / "f", classes=["shirt", "T-SHIRT/TOP"], n_train=6,
                           n_test=4, seed=1)
    by_index = load_dataset("fashion_mnist", data_dir=tmp_path / "f", classes=[6, 0], n_train=6, n_test=4, seed=1)
    assert by_name.class_names == by_index.class_names == ("Shirt", "T-shirt/top")
    np.testing.assert_array_equal(by_name.ids_train, by_index.ids_train)
    assert np.bincount(by_name.labels_train).tolist() == [3, 3] and np.bincount(by_name.labels_test).tolist() == [2, 2]
    idx = _index(by_name.ids_test, "test")
    np.testing.assert_array_equal(by_name.images_test, parts["t10k"][0][idx])
    np.testing.assert_array_equal(np.array([6, 0])[by_name.labels_test], parts["t10k"][1][idx])
    other = load_dataset("fashion_mnist", data_dir=tmp_path / "f", classes=[6, 0], n_train=6, n_test=4, seed=2)
    assert not np.array_equal(other.ids_train, by_name.ids_train)


def test_label_noise_as_for_every_source(tmp_path):
    _fake_fashion(tmp_path / "f")
    clean = load_dataset("fashion_mnist", data_dir=tmp_path / "f", classes="all", n_train=30, n_test=10)
    noisy = load_dataset("fashion_mnist", data_dir=tmp_path / "f", classes="all", n_train=30, n_test=10,
                         label_noise=0.2)
    np.testing.assert_array_equal(noisy.ids_train, clean.ids_train)  # the same split
    assert noisy.n_noisy == 6 and np.all(noisy.labels_train[noisy.noisy_train] != clean.labels_train[noisy.noisy_train])
    np.testing.assert_array_equal(noisy.true_labels_train, clean.labels_train)


def test_unknown_class_lists_the_valid_ones(tmp_path):
    _fake_fashion(tmp_path / "f")
    message = _raises(["unknown class 'shirts'", "'T-shirt/top'", "'Ankle boot'"], load_dataset, "fashion_mnist",
                      data_dir=tmp_path / "f", classes=["shirts", "Coat"])
    assert all(name in message for name in F.FASHION_NAMES)
    _raises(["unknown class 10"], load_dataset, "fashion_mnist", data_dir=tmp_path / "f", classes=[10, 1])
    _raises(["unknown option", "data_root", "accepted: data_dir"], load_dataset, "fashion_mnist", data_root=tmp_path)


def test_missing_folder_or_file_names_it_and_the_install_command(tmp_path):
    (tmp_path / "empty").mkdir()
    _raises(["not installed", "train-images-idx3-ubyte.gz", str(tmp_path / "empty"), F.INSTALL], load_dataset,
            "fashion_mnist", data_dir=tmp_path / "empty")
    _raises(["not installed", str(tmp_path / "nowhere"), "does not exist", F.INSTALL], load_dataset,
            "fashion_mnist", data_dir=tmp_path / "nowhere")
    _fake_fashion(tmp_path / "f")
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").unlink()
    _raises(["t10k-labels-idx1-ubyte.gz is missing", F.INSTALL], load_dataset, "fashion_mnist", data_dir=tmp_path / "f")


def test_environment_variable_chooses_the_folder(tmp_path, monkeypatch):
    _fake_fashion(tmp_path / "f", n_train=30, n_test=10)
    monkeypatch.setenv(F.DIR_ENV, str(tmp_path / "f"))
    ds = load_dataset("fashion_mnist", classes="all")
    assert (ds.n_train, ds.n_test) == (30, 10) and str(tmp_path / "f") in ds.source
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(F.DIR_ENV, str(tmp_path / "empty"))
    _raises([str(tmp_path / "empty"), F.INSTALL], load_dataset, "fashion_mnist")
    assert load_dataset("fashion_mnist", data_dir=tmp_path / "f", classes="all").n_train == 30  # the option wins


def test_truncated_files_are_named_with_the_sizes(tmp_path):
    parts = _fake_fashion(tmp_path / "f", n_train=20, n_test=10)
    path = tmp_path / "f" / "train-images-idx3-ubyte.gz"
    full = _idx_images(parts["train"][0])
    assert len(full) == 16 + 20 * 784
    path.write_bytes(gzip.compress(full[:-1000]))  # a complete gzip stream of too few bytes
    _raises([f"train-images-idx3-ubyte.gz is truncated: expected {16 + 20 * 784:,} bytes, got {len(full) - 1000:,}",
             F.REINSTALL], load_dataset, "fashion_mnist", data_dir=tmp_path / "f")
    packed = gzip.compress(full, compresslevel=0)  # stored blocks: a cut compressed file keeps a known prefix
    path.write_bytes(packed[: len(packed) // 2])
    message = _raises([f"train-images-idx3-ubyte.gz is truncated: expected {16 + 20 * 784:,} bytes, got "],
                      load_dataset, "fashion_mnist", data_dir=tmp_path / "f")
    got = int(message.split("got ")[1].split(" ")[0].replace(",", ""))
    assert 0 < got < len(full) and got <= len(packed) // 2
    path.write_bytes(gzip.compress(full[:10]))  # not even a header: the released dataset's size is expected
    _raises(["train-images-idx3-ubyte.gz is truncated: expected 47,040,016 bytes, got 10"], load_dataset,
            "fashion_mnist", data_dir=tmp_path / "f")


def test_a_changed_file_is_read_again_and_other_idx_files_are_refused(tmp_path):
    _fake_fashion(tmp_path / "f", n_train=20, n_test=10)
    first = F.load_fashion_mnist(data_dir=tmp_path / "f")
    assert F.load_fashion_mnist(data_dir=tmp_path / "f").images is first.images  # cached
    assert not first.images.flags.writeable and not first.labels.flags.writeable
    _fake_fashion(tmp_path / "f", n_train=30, n_test=10)
    assert (first.n, F.load_fashion_mnist(data_dir=tmp_path / "f").n) == (30, 40)
    (tmp_path / "f" / "extra-images-idx3-ubyte").write_bytes(_idx_images(np.ones((2, 28, 28), np.uint8)))
    (tmp_path / "f" / "extra-labels-idx1-ubyte").write_bytes(_idx_labels([0, 1]))
    _raises(["other IDX files", "extra-images-idx3-ubyte"], load_dataset, "fashion_mnist", data_dir=tmp_path / "f")


def test_labels_outside_0_to_9_are_refused(tmp_path):
    _fake_fashion(tmp_path / "f", n_train=20, n_test=10)
    (tmp_path / "f" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_labels([11] * 10)))
    _raises(["labels must be 0..9", "11"], load_dataset, "fashion_mnist", data_dir=tmp_path / "f")


# ---------------------------------------------------------------- the dataset menu
def _cifar_batch(labels, seed=0) -> bytes:
    imgs = np.random.default_rng(seed).integers(1, 256, size=(len(labels), 3 * 32 * 32), dtype=np.uint8)
    return np.column_stack([np.asarray(labels, np.uint8), imgs]).tobytes()


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A data root with an IDX folder (kmnist), a full-MNIST-named one, a CIFAR-10 folder and noise."""
    r = tmp_path / "root"
    _fake_fashion(r / "kmnist", n_train=60, n_test=20, size=(6, 5))
    _fake_fashion(r / "MNIST", n_train=100, n_test=50)
    (r / "cifar" / "cifar-10-batches-bin").mkdir(parents=True)
    (r / "cifar" / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(_cifar_batch([0, 1, 2] * 20))
    (r / "cifar" / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(_cifar_batch([1, 0] * 10, seed=1))
    (r / "photos" / "cats").mkdir(parents=True)  # a class-folder dataset: not an IDX / CIFAR entry
    _fake_fashion(r / ".hidden")
    monkeypatch.setenv(dataset_menu.DATA_ROOT_ENV, str(r))
    monkeypatch.setattr(dataset_menu, "SCAN_SECONDS", 0.0)
    return r


def _entry(prefix):
    found = [c for c in dataset_menu.choices() if c.label.startswith(prefix)]
    assert len(found) == 1, (prefix, dataset_menu.LABELS)
    return found[0]


def _config(c: dataset_menu.Choice, n_train, n_test) -> ExperimentConfig:
    return ExperimentConfig(c.name, c.classes, n_train, n_test, source=c.path)


def test_menu_lists_idx_and_cifar_folders_of_the_data_root(root):
    labels = dataset_menu.LABELS
    assert labels[-1] == dataset_menu.OWN and labels[:5] == [c.label for c in dataset_menu.BUILTIN]
    kmnist, mnist, cifar = _entry("kmnist:"), _entry("MNIST:"), _entry("cifar:")
    assert kmnist.label == "kmnist: 0 vs 1 (IDX files, 80 images)" and (kmnist.name, kmnist.classes) == ("idx", (0, 1))
    assert (kmnist.dim, kmnist.n_train, kmnist.n_test, kmnist.max_total) == (30, 12, 4, 60)
    assert mnist.classes == (7, 9) and mnist.dim == 784  # the paper's task for a full MNIST folder
    assert cifar.label == "cifar: automobile vs airplane (CIFAR-10 binary, 80 images)"
    assert (cifar.name, cifar.classes, cifar.dim, cifar.path) == ("cifar10", ("airplane", "automobile"), 3072,
                                                                  str(root / "cifar"))
    assert not [c for c in dataset_menu.choices() if c.label.startswith(("photos", ".hidden"))]
    assert dataset_menu.choice(kmnist.label) == kmnist
    ds = dataset_menu.load(_config(kmnist, 12, 4))
    assert ds.class_names == ("0", "1") and (ds.n_train, ds.n_test, ds.image_shape) == (12, 4, (6, 5))
    assert all(s.startswith("train-images-idx3-ubyte.gz:") for s in ds.ids_train)
    ds = dataset_menu.load(_config(cifar, 20, 6))
    assert ds.class_names == ("airplane", "automobile") and ds.image_shape == (32, 32, 3)
    assert all(s.startswith("test_batch.bin:") for s in ds.ids_test)
    with pytest.raises(ValueError, match="not under the data root"):
        dataset_menu.load(ExperimentConfig("idx", (0, 1), 12, 4, source=str(root.parent)))


def test_paper_sizes_for_full_size_folders(root):
    c = dataset_menu._folder_choice("x", "idx", (7, 9), (60_000, 10_000), 784, root)
    assert (c.n_train, c.n_test, c.max_total) == (5000, 1000, 60_000)


def test_menu_scan_is_cached_for_a_few_seconds(root, monkeypatch):
    monkeypatch.setattr(dataset_menu, "SCAN_SECONDS", 60.0)
    before = dataset_menu.LABELS
    _fake_fashion(root / "later", n_train=20, n_test=10)
    assert before == dataset_menu.LABELS  # the cached scan
    monkeypatch.setattr(dataset_menu, "SCAN_SECONDS", 0.0)
    assert any(label.startswith("later: 0 vs 1") for label in dataset_menu.LABELS)


def test_menu_offers_fashion_mnist_and_says_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(F.DIR_ENV, str(tmp_path / "empty"))
    pair, everything = dataset_menu.fashion_choices()
    assert pair.label == f"Fashion-MNIST Shirt vs T-shirt/top (clothing) (not installed: {F.INSTALL})"
    assert everything.label.endswith(f"(not installed: {F.INSTALL})") and everything.classes == "all"
    with pytest.raises(DataError, match="sudo apt-get install -y dataset-fashion-mnist"):
        dataset_menu.load(_config(pair, 800, 200))
    _fake_fashion(tmp_path / "f", n_train=40, n_test=20)
    monkeypatch.setenv(F.DIR_ENV, str(tmp_path / "f"))
    pair, everything = dataset_menu.fashion_choices()
    assert pair.label == "Fashion-MNIST Shirt vs T-shirt/top (clothing)" and pair.classes == ("T-shirt/top", "Shirt")
    assert (pair.n_train, pair.n_test, everything.n_train, everything.n_test) == (800, 200, 2000, 500)
    assert pair.label in dataset_menu.LABELS and everything.label in dataset_menu.LABELS
    ds = dataset_menu.load(_config(pair, 6, 4))
    assert ds.class_names == ("T-shirt/top", "Shirt") and (ds.n_train, ds.n_test) == (6, 4)
