"""The user's own data: a folder of class sub-folders, the same as a .zip, an .npz (X, y), MNIST IDX
files and CIFAR-10 binary batches. Every loader validates everything (names, sizes, headers,
memory) before it decodes, and raises DataError naming the file, entry or field.

Safety rules: nothing is unpickled (npz with allow_pickle=False, CIFAR only as binary batches),
zips are read in memory and never extracted, zip entries with absolute paths or ".." are refused,
the total (uncompressed) size is capped, and so is each image file (a zip member's declared size
and the bytes actually read); images are read in two passes (images.py): headers first, from the
stream, with every budget checked (pixels per image, features per image after resize, pixel memory
of the decoder in all, memory of the result), then one image decoded at a time. Messages name files
as the user knows them (the upload's name, the path inside the zip or relative to the data root),
never by server paths or object reprs.
"""
from __future__ import annotations

import gzip
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import (
    DEFAULT_MAX_FILE_BYTES,
    DataError,
    Source,
    UploadInfo,
    check_features,
    check_file_count,
    check_memory,
    check_options,
    check_total_bytes,
    fit_size,
    reason,
)
from .images import CappedReader, ImagePlan, decode_images, is_image_name, plan_images

_FILE_LIMITS = ("max_memory_gb", "max_total_bytes", "max_image_pixels", "max_files", "max_file_bytes",
                "max_features", "max_decoded_bytes")


@dataclass(frozen=True)
class _Layout:
    """A folder's or zip's images before decoding: entries are (class, name, open) with open() giving
    a fresh size-capped stream; name is the path inside the folder / zip."""
    name: str
    what: str  # how messages name it: "zip 'photos.zip'", "folder 'my-images'"
    description: str
    class_names: tuple[str, ...]
    entries: list
    skipped: list


def _from_layout(layout: _Layout, resize, color, options) -> Source:
    """Headers (every check), then decode: a Source."""
    plan = plan_images(layout.entries, resize=resize, color=color, options=options, what=layout.what)
    images = decode_images(layout.entries, plan)
    index = {c: k for k, c in enumerate(layout.class_names)}
    labels = np.array([index[cls] for cls, _, _ in layout.entries], dtype=np.int64)
    return Source(name=layout.name, description=layout.description, images=images, labels=labels,
                  class_names=layout.class_names, ids=np.array([n for _, n, _ in layout.entries], dtype=str),
                  skipped=tuple(layout.skipped), info=dict(color=plan.color))


def _info(layout: _Layout, resize, color, options) -> UploadInfo:
    plan: ImagePlan = plan_images(layout.entries, resize=resize, color=color, options=options, what=layout.what)
    return UploadInfo(len(layout.entries), plan.size[0], plan.size[1], plan.channels)


def _file_cap(options) -> int:
    cap = options.get("max_file_bytes")
    return DEFAULT_MAX_FILE_BYTES if cap is None else int(cap)


def _too_big(shown: str, size: int, cap: int) -> DataError:
    return DataError(f"{shown} is {size:,} bytes, more than the {cap:,}-byte limit per image file "
                     f"(max_file_bytes={cap}); refusing to read it")


# ---------------------------------------------------------------- folder / zip of class folders
def load_folder(*, resize=None, color=None, path=None, data_root=None, **options) -> Source:
    """A local folder with one sub-folder per class (sorted names = class order; hidden folders
    ignored). Files outside class folders and non-image files are skipped and reported. With
    data_root, `path` (relative paths are taken from the current directory) and every file in it
    (symlinks resolved) must lie under data_root, and messages show paths relative to data_root."""
    check_options("folder", options, _FILE_LIMITS)
    return _from_layout(_folder_layout(path, data_root, options), resize, color, options)


def inspect_folder(*, resize=None, color=None, path=None, data_root=None, **options) -> UploadInfo:
    """What load_folder would give — (n_images, height, width, channels) after resize — from the
    image headers alone, with every check load_folder makes before decoding."""
    check_options("folder", options, _FILE_LIMITS)
    return _info(_folder_layout(path, data_root, options), resize, color, options)


def _folder_layout(path, data_root, options) -> _Layout:
    if path is None:
        raise DataError("folder: give path= (a folder with one sub-folder per class)")
    root = Path(path)
    shown = _shown_folder(path, data_root)
    if data_root is not None:
        _check_inside(root, Path(data_root), shown)
    if not root.is_dir():
        raise DataError(f"folder {shown!r} does not exist or is not a folder")
    what = f"folder {shown!r}"
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    skipped = [f"{p.name} (not in a class folder)" for p in sorted(root.iterdir()) if p.is_file()]
    if not class_dirs:
        raise DataError(f"{what} has no class sub-folders (expected one sub-folder per class)")
    cap, entries, total = _file_cap(options), [], 0
    for cdir in class_dirs:
        for f in sorted(p for p in cdir.rglob("*") if p.is_file()):
            rel = f.relative_to(root).as_posix()
            if data_root is not None:
                _check_inside(f, Path(data_root), rel)
            if not is_image_name(f.name):
                skipped.append(rel)
                continue
            size = f.stat().st_size
            if size > cap:
                raise _too_big(f"{what}: file {rel!r}", size, cap)
            entries.append((cdir.name, rel, _file_opener(f, rel, cap)))
            total += size
            check_file_count(len(entries), what, options.get("max_files"))
    check_total_bytes(total, what, options.get("max_total_bytes"))
    return _Layout(f"folder:{root.name}", what, f"images from the folder {root.name!r}",
                   tuple(d.name for d in class_dirs), entries, skipped)


def _shown_folder(path, data_root) -> str:
    """The folder as the user should read it: relative to the data root when there is one (never the
    server's absolute path), else as the caller gave it."""
    if data_root is None:
        return str(path)
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(data_root))).as_posix()


def _file_opener(f: Path, rel: str, cap: int):
    def opener():
        try:
            return CappedReader(open(f, "rb"), cap, rel)
        except OSError as exc:
            raise DataError(f"{rel}: cannot be read ({reason(exc)})") from None
    return opener


def _check_inside(p: Path, root: Path, shown: str) -> None:
    try:
        p.resolve().relative_to(root.resolve())
    except ValueError:
        raise DataError(f"{shown!r} is outside the allowed data folder (the data root; symlinks resolved); "
                        "refusing to read it") from None


def load_zip(*, resize=None, color=None, path=None, data=None, filename=None, **options) -> Source:
    """A .zip (path= or data=bytes) holding one folder per class, possibly inside one top folder."""
    check_options("zip", options, _FILE_LIMITS)
    label = _label(path, data, filename, "zip")
    with _open_zip(path, data, label) as zf:
        return _from_layout(_zip_layout(zf, label, options), resize, color, options)


def inspect_zip(*, resize=None, color=None, path=None, data=None, filename=None, **options) -> UploadInfo:
    """What load_zip would give — (n_images, height, width, channels) after resize — from the central
    directory and the image headers alone (each member decompressed only as far as its header)."""
    check_options("zip", options, _FILE_LIMITS)
    label = _label(path, data, filename, "zip")
    with _open_zip(path, data, label) as zf:
        return _info(_zip_layout(zf, label, options), resize, color, options)


def _zip_layout(zf: zipfile.ZipFile, label: str, options) -> _Layout:
    what = f"zip {label!r}"
    infos = zf.infolist()
    check_file_count(len(infos), what, options.get("max_files"))
    _check_zip_names(infos, label)
    check_total_bytes(sum(i.file_size for i in infos), what, options.get("max_total_bytes"))
    files, dirs, skipped = _zip_members(infos)
    if not files and not dirs:
        raise DataError(f"{what} is empty: expected one folder per class")
    class_names = sorted({p[0] for p, _ in files if len(p) > 1} | {d[0] for d in dirs})
    if not class_names:
        raise DataError(f"{what} has no class folders (expected one folder per class)")
    cap, entries = _file_cap(options), []
    for parts, info in files:
        name = info.filename
        if len(parts) < 2:
            skipped.append(f"{name} (not in a class folder)")
        elif not is_image_name(parts[-1]):
            skipped.append(name)
        elif info.file_size > cap:  # the declared size; CappedReader bounds the bytes actually read
            raise _too_big(f"{what}: entry {name!r}", info.file_size, cap)
        else:
            entries.append((parts[0], name, _member_opener(zf, info, f"{what}: entry {name!r}", cap)))
    return _Layout(f"zip:{label}", what, f"images from the zip {label!r}", tuple(class_names), entries, skipped)


def _member_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, cap: int):
    def opener():
        try:
            return CappedReader(zf.open(info), cap, shown)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise DataError(f"{shown} could not be read ({reason(exc)})") from None
    return opener


def _label(path, data, filename, kind) -> str:
    if (path is None) == (data is None):
        raise DataError(f"{kind}: give exactly one of path= (a file) or data= (its bytes)")
    if filename is not None:
        return str(filename)
    return Path(path).name if path is not None else f"uploaded.{kind}"


def _open_zip(path, data, label) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data) if data is not None else path)
    except FileNotFoundError:
        raise DataError(f"{label!r}: file not found") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{label!r} is not a valid zip archive ({reason(exc)})") from None


def _check_zip_names(infos, label) -> None:
    """Refuse the whole archive if any entry is absolute, escapes with '..', or is encrypted."""
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise DataError(f"zip {label!r}: entry {info.filename!r} has an absolute path; refusing the archive")
        if ".." in name.split("/"):
            raise DataError(f"zip {label!r}: entry {info.filename!r} escapes its folder with '..'; "
                            "refusing the archive")
        if info.flag_bits & 0x1:
            raise DataError(f"zip {label!r}: entry {info.filename!r} is encrypted; encrypted zips are not supported")


def _zip_members(infos):
    """Split entries into (parts, info) files and dir part-lists, dropping one or more wrapping
    top folders (a zip of a folder). macOS metadata and symlinks are skipped."""
    files, dirs, skipped = [], [], []
    for info in infos:
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            continue
        if "__MACOSX" in parts or parts[-1].startswith("._"):
            if not info.is_dir():
                skipped.append(f"{info.filename} (macOS metadata)")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            skipped.append(f"{info.filename} (symlink)")
        elif info.is_dir():
            dirs.append(parts)
        else:
            files.append((parts, info))
    # a single top folder with sub-folders below it is a wrapper (a zipped folder), not a class
    while any(len(p) >= 3 for p, _ in files) and len({p[0] for p, _ in files} | {d[0] for d in dirs}) == 1:
        files = [(p[1:], i) for p, i in files]
        dirs = [d[1:] for d in dirs if len(d) > 1]
    return files, dirs, skipped


# ---------------------------------------------------------------- npz
def load_npz(*, resize=None, color=None, path=None, data=None, filename=None, **options) -> Source:
    """An .npz with X: images (n, H, W), (n, H, W, 1) or (n, H, W, 3) and y: (n,) labels (ints or
    strings), optionally class_names: (C,) strings when y holds indices. Display images are 8-bit:
    uint8 kept; other numbers in [0, 1] are scaled by 255, in [0, 255] rounded, anything else min–max
    scaled over the whole array to 0..255. The kernel sees the arrays' own values: a non-uint8 X is
    used as float64 features exactly (no rounding, no shift), unless resize or color asks to convert
    the images, which then works on the 8-bit images. Never unpickles."""
    label = _label(path, data, filename, "npz")
    shape = _npz_check(path, data, label, resize, color, options)
    arrays = _read_npz(path, data, label)
    X, y = arrays["X"], arrays["y"]
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise DataError(f"npz {label!r}: y must be 1-D with one label per image; X has {X.shape[0]} images, "
                        f"y has shape {y.shape}")
    labels, class_names = _npz_labels(y, arrays.get("class_names"), label)
    images = _npz_images(X, label)
    exact = X.dtype != np.uint8 and fit_size(resize, [shape[1:3]]) == shape[1:3] and color is None
    features = X.reshape(X.shape[0], -1).astype(np.float64) if exact else None
    return Source(name=f"npz:{label}", description=f"arrays from {label!r}", images=images, labels=labels,
                  class_names=class_names, ids=np.array([f"{label}:{i}" for i in range(len(labels))]),
                  features=features)


def inspect_npz(*, resize=None, color=None, path=None, data=None, filename=None, **options) -> UploadInfo:
    """What load_npz would give — (n_images, height, width, channels) after resize — from X's header."""
    label = _label(path, data, filename, "npz")
    shape = _npz_check(path, data, label, resize, color, options)
    size = fit_size(resize, [shape[1:3]])
    return UploadInfo(shape[0], size[0], size[1], _npz_channels(shape, color))


def _npz_check(path, data, label, resize, color, options) -> tuple[int, ...]:
    """X's shape from its header, after every check that needs no decoding (names, sizes, features, memory)."""
    check_options("npz", options, ("max_memory_gb", "max_total_bytes", "max_features"))
    with _open_zip(path, data, label) as zf:
        check_total_bytes(sum(i.file_size for i in zf.infolist()), f"npz {label!r}", options.get("max_total_bytes"))
        names = {i.filename for i in zf.infolist()}
        for key in ("X", "y"):
            if f"{key}.npy" not in names:
                raise DataError(f"npz {label!r}: missing array {key!r} (found {sorted(n[:-4] for n in names)})")
        shape = _npy_shape(zf, "X.npy", label)
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
        raise DataError(f"npz {label!r}: X must have shape (n, H, W), (n, H, W, 1) or (n, H, W, 3); got {shape}")
    size = fit_size(resize, [shape[1:3]])
    check_features(size, _npz_channels(shape, color), f"npz {label!r}", options.get("max_features"))
    check_memory(shape[0], int(np.prod(shape[1:])), f"npz {label!r}", options.get("max_memory_gb"))
    return shape


def _npz_channels(shape, color) -> int:
    if color is not None:
        return 1 if color == "gray" else 3
    return 3 if len(shape) == 4 and shape[3] == 3 else 1


def _npy_shape(zf, member, label) -> tuple[int, ...]:
    """Shape from the .npy header, read without loading the array."""
    try:
        with zf.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = reader(fh)
    except Exception as exc:  # noqa: BLE001 - any header problem is a bad file
        raise DataError(f"npz {label!r}: cannot read the header of {member!r} ({reason(exc)})") from None
    return tuple(int(s) for s in shape)


def _read_npz(path, data, label) -> dict:
    try:
        with np.load(io.BytesIO(data) if data is not None else path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files if k in ("X", "y", "class_names")}
    except ValueError as exc:
        raise DataError(f"npz {label!r}: {reason(exc)} (object arrays need pickle, which is not allowed)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"npz {label!r} is corrupt or truncated ({reason(exc)})") from None


def _npz_labels(y, names, label):
    if names is not None:
        names = tuple(str(n) for n in np.asarray(names).ravel())
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(names):
            raise DataError(f"npz {label!r}: with class_names, y must hold integers 0..{len(names) - 1}")
        return y.astype(np.int64), names
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DataError(f"npz {label!r}: y contains NaN or inf")
    if y.dtype.kind not in "iubUSf":
        raise DataError(f"npz {label!r}: y must hold integer or string labels; got dtype {y.dtype}")
    values, labels = np.unique(y, return_inverse=True)
    return labels.astype(np.int64), tuple(str(v) for v in values)


def _npz_images(X, label) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise DataError(f"npz {label!r}: X must be numeric; got dtype {X.dtype}")
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.dtype == np.uint8:
        return X
    bad = ~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1)
    if bad.any():
        raise DataError(f"npz {label!r}: X contains NaN or inf in {int(bad.sum())} image(s) "
                        f"(first: index {int(np.argmax(bad))})")
    lo, hi = float(X.min()), float(X.max())
    if lo >= 0 and hi <= 1 and X.dtype.kind in "bf":
        out = X * 255.0
    elif lo >= 0 and hi <= 255:
        out = X
    else:
        out = (X - lo) * (255.0 / (hi - lo or 1.0))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- MNIST IDX
_IDX_IMAGES = re.compile(r"^(.*)images[.-]idx3-ubyte(\.gz)?$")
_IDX_LABELS = re.compile(r"^(.*)labels[.-]idx1-ubyte(\.gz)?$")


def load_idx(*, resize=None, color=None, path=None, **options) -> Source:
    """A directory with MNIST-format pairs <prefix>images-idx3-ubyte[.gz] and <prefix>labels-idx1-
    ubyte[.gz] (e.g. train-… and t10k-…). With both a train and a t10k/test pair that split is
    kept; class names are the label values."""
    check_options("idx", options, ("max_memory_gb",))
    d = _existing_dir(path, "idx")
    images = {m.group(1): p for p in sorted(d.iterdir()) if (m := _IDX_IMAGES.match(p.name))}
    labels = {m.group(1): p for p in sorted(d.iterdir()) if (m := _IDX_LABELS.match(p.name))}
    if not images:
        raise DataError(f"idx: no *-images-idx3-ubyte[.gz] file in {str(path)!r}")
    for prefix, p in list(images.items()) + list(labels.items()):
        if prefix not in images or prefix not in labels:
            raise DataError(f"idx: {p.name!r} has no matching images/labels file (same prefix {prefix!r})")
    headers = {k: (_idx_header(images[k], 2051, 3), _idx_header(labels[k], 2049, 1)) for k in images}
    for k, (hi, hl) in headers.items():
        if hi[0] != hl[0]:
            raise DataError(f"idx: {images[k].name!r} holds {hi[0]} images but {labels[k].name!r} holds {hl[0]} labels")
    check_memory(sum(h[0][0] for h in headers.values()), max(h[0][1] * h[0][2] for h in headers.values()),
                 f"idx {str(path)!r}", options.get("max_memory_gb"))
    parts = []
    for k in sorted(images):
        n, r, c = headers[k][0]
        imgs = _idx_body(images[k], 16, n * r * c).reshape(n, r, c)
        labs = _idx_body(labels[k], 8, n)
        parts.append((k, imgs, labs, [f"{images[k].name}:{i}" for i in range(n)]))
    shapes = {p[1].shape[1:] for p in parts}
    if len(shapes) > 1:
        raise DataError(f"idx: the image files have different sizes {sorted(shapes)}")
    is_test_part = [k.lower().startswith(("t10k", "test")) for k, *_ in parts]
    values, labels_all = np.unique(np.concatenate([p[2] for p in parts]), return_inverse=True)
    is_test = np.concatenate([np.full(len(p[2]), t) for p, t in zip(parts, is_test_part)])
    return Source(name=f"idx:{d.name}", description=f"MNIST-format IDX files from {d.name!r}",
                  images=np.concatenate([p[1] for p in parts]), labels=labels_all.astype(np.int64),
                  class_names=tuple(str(v) for v in values), ids=np.array(sum((p[3] for p in parts), [])),
                  is_test=is_test if 0 < sum(is_test_part) < len(parts) else None)


def _open_maybe_gz(p: Path):
    return gzip.open(p, "rb") if p.name.endswith(".gz") else open(p, "rb")


def _idx_header(p: Path, magic: int, ndim: int) -> tuple[int, ...]:
    try:
        with _open_maybe_gz(p) as fh:
            head = fh.read(4 + 4 * ndim)
    except (OSError, EOFError) as exc:
        raise DataError(f"idx: cannot read {p.name!r} ({reason(exc)})") from None
    if len(head) < 4 + 4 * ndim:
        raise DataError(f"idx: {p.name!r} is too short for an IDX header")
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        raise DataError(f"idx: {p.name!r} has magic number {found:#010x}, expected {magic:#010x} "
                        f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})")
    return tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))


def _idx_body(p: Path, offset: int, count: int) -> np.ndarray:
    """The `count` data bytes after the header; the file must hold exactly that many."""
    try:
        with _open_maybe_gz(p) as fh:
            fh.read(offset)
            body = fh.read(count + 1)  # never more than the header promises (+1 to detect extra)
    except (OSError, EOFError) as exc:
        raise DataError(f"idx: {p.name!r} is corrupt or truncated ({reason(exc)})") from None
    if len(body) != count:
        raise DataError(f"idx: {p.name!r}: the header promises {count} data bytes but the file holds "
                        f"{'more' if len(body) > count else len(body)}")
    return np.frombuffer(body, dtype=np.uint8)


def _existing_dir(path, kind) -> Path:
    if path is None:
        raise DataError(f"{kind}: give path= (a directory)")
    d = Path(path)
    if not d.is_dir():
        raise DataError(f"{kind}: {str(path)!r} does not exist or is not a directory")
    return d


# ---------------------------------------------------------------- CIFAR-10 binary
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_RECORD = 1 + 3 * 32 * 32


def load_cifar10(*, resize=None, color=None, path=None, **options) -> Source:
    """CIFAR-10's *binary* version: data_batch_*.bin and/or test_batch.bin in `path` (or in its
    cifar-10-batches-bin sub-folder); records are 1 label byte + 3072 pixel bytes (R, G, B planes of
    32×32). Class names from batches.meta.txt when present. The python (pickle) version is refused."""
    check_options("cifar10", options, ("max_memory_gb",))
    d = _existing_dir(path, "cifar10")
    if (d / "cifar-10-batches-bin").is_dir():
        d = d / "cifar-10-batches-bin"
    train = sorted(d.glob("data_batch_*.bin"))
    test = [d / "test_batch.bin"] if (d / "test_batch.bin").is_file() else []
    if not train and not test:
        pickled = any(d.glob("data_batch_*")) or (d / "test_batch").exists()
        hint = " (found the python/pickle version, which is never loaded: use the binary version)" if pickled else ""
        raise DataError(f"cifar10: no data_batch_*.bin or test_batch.bin in {str(path)!r}{hint}")
    for f in train + test:
        size = f.stat().st_size
        if size == 0 or size % _CIFAR_RECORD:
            raise DataError(f"cifar10: {f.name!r} has {size} bytes, not a multiple of the {_CIFAR_RECORD}-byte record")
    counts = [f.stat().st_size // _CIFAR_RECORD for f in train + test]
    check_memory(sum(counts), 3 * 32 * 32, f"cifar10 {str(path)!r}", options.get("max_memory_gb"))
    images, labels, ids = [], [], []
    for f, n in zip(train + test, counts):
        rec = np.fromfile(f, dtype=np.uint8).reshape(n, _CIFAR_RECORD)
        if rec[:, 0].max() > 9:
            raise DataError(f"cifar10: {f.name!r} has label {int(rec[:, 0].max())}; CIFAR-10 labels are 0..9")
        labels.append(rec[:, 0].astype(np.int64))
        images.append(rec[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1))
        ids += [f"{f.name}:{i}" for i in range(n)]
    is_test = np.concatenate([np.full(n, f in test) for f, n in zip(train + test, counts)])
    # keep only the classes present (a hand-made subset need not hold all ten)
    present, labels = np.unique(np.concatenate(labels), return_inverse=True)
    names = _cifar_names(d)
    return Source(name="cifar10", description=f"CIFAR-10 binary batches from {d.name!r}",
                  images=np.ascontiguousarray(np.concatenate(images)), labels=labels.astype(np.int64),
                  class_names=tuple(names[k] for k in present), ids=np.array(ids),
                  is_test=is_test if (train and test) else None)


def _cifar_names(d: Path) -> tuple[str, ...]:
    meta = d / "batches.meta.txt"
    if meta.is_file() and meta.stat().st_size < 10_000:
        names = [ln.strip() for ln in meta.read_text(errors="replace").splitlines() if ln.strip()]
        if len(names) >= 10:
            return tuple(names[:10])
    return CIFAR10_NAMES

