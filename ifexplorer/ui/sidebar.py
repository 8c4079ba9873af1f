"""The shared sidebar: which experiment every page shows (dataset, sizes, λ, noise, seed, device)."""
from __future__ import annotations

import streamlit as st

from ifexplorer import NTKInfluence, device_label
from ifexplorer.device import format_bytes
from ifexplorer.ui import dataset_menu, url_state
from ifexplorer.ui.experiment import ExperimentConfig, configure_threads, sha256, show_memory_caption, start_run
from ifexplorer.ui.text import md_escape

DEPTHS = (1, 2, 3, 4, 6, 8)  # L of the depth-L ReLU NTK (theory §9)
REGS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
DEFAULT_REG = 1e-3
RESIZE_SIDES = (16, 28, 32, 48, 64, 0)  # own images: "Resize to" choices, the largest side in px (0 = keep)
DEFAULT_RESIZE = 64
RESIZE_KEY = "own_resize"    # own images: the "Resize to" choice
INSPECT_KEY = "own_inspect"  # own images: UploadInfo read from the headers, or the loader's message (memo: +"_memo")


def _reset_sizes() -> None:
    """When the dataset changes, put its default sizes into the size inputs."""
    c = dataset_menu.choice(st.session_state["dataset"])
    if c.n_train:
        st.session_state["n_train"], st.session_state["n_test"] = c.n_train, c.n_test


def sidebar() -> tuple[ExperimentConfig | None, bytes | None]:
    """Draw the sidebar; return the chosen config (None while an own-data source is missing) and
    the uploaded archive's bytes, if any. Starts the session's run in the shared store (releases what its
    previous run pinned)."""
    start_run()
    url_state.restore()  # a link's settings, once per session, before any widget is drawn
    st.session_state.pop(url_state.NO_DATA_KEY, None)
    for key, default in (("reg", DEFAULT_REG), ("noise", 0.0), ("seed", 0)):
        st.session_state.setdefault(key, default)  # defaults here, not in the widgets: a link may have set them
    with st.sidebar:
        st.subheader("Experiment")
        _link_notices()
        label = st.selectbox("Dataset", dataset_menu.LABELS, key="dataset", on_change=_reset_sizes)
        c = dataset_menu.choice(label)
        source, filename, upload, name = c.path, None, None, c.name  # c.path: an IDX / CIFAR-10 folder entry
        if label == dataset_menu.OWN:
            name, source, filename, upload = _own_data()
        n_train = n_test = 0  # own data: the loader's default split (80 / 20)
        if label != dataset_menu.OWN:
            # the sizes live in session state only (set here once, and by _reset_sizes): a widget given both a
            # value and a state makes Streamlit warn on every dataset change
            st.session_state.setdefault("n_train", c.n_train)
            st.session_state.setdefault("n_test", c.n_test)
            col1, col2 = st.columns(2)
            n_train = col1.number_input("Training points", 10, c.max_total or 20000, step=50, key="n_train")
            n_test = col2.number_input("Test points", 2, c.max_total or 5000, step=50, key="n_test")
        reg = st.select_slider("λ (regularization)", REGS, key="reg", format_func=lambda v: f"{v:g}",
                               help="Pull of the weights towards their initial value (log scale).")
        depth = st.selectbox("Depth (hidden layers)", DEPTHS, key="depth",
                             help="L of the depth-L ReLU network whose NTK is used (theory §9): 1 is the paper's "
                                  "two-layer network; deeper kernels are what the Fragility story is about.")
        noise = st.slider("Label noise (fraction flipped)", 0.0, 0.5, step=0.05, key="noise",
                          help="Flip this share of training labels to see how influence finds them.")
        seed = st.number_input("Seed", 0, 10_000, step=1, key="seed")
        _resources(int(n_train) or 1000, c.dim, own=label == dataset_menu.OWN)
        show_memory_caption(st.empty())  # redrawn after a fit in this run
        _display()
    folder = source if name == "folder" else None
    url_state.publish_experiment(c, n_train, n_test, reg, depth, noise, seed,
                                 upload=(source, filename) if name == "upload" and source else None,
                                 folder=st.session_state.get("folder") if folder else None)
    if label == dataset_menu.OWN and source is None:
        return None, None
    resize = (st.session_state.get(RESIZE_KEY) or None) if label == dataset_menu.OWN else None
    config = ExperimentConfig(name, c.classes, int(n_train), int(n_test), float(reg), float(noise), int(seed),
                              source, filename, resize=resize, depth=int(depth))
    return config, upload


THUMB_KEY = "thumb_size"  # the Display section's thumbnail size (px), read by the pages through thumb_size()
THUMB_SIZES = (48, 160, 8, 72)  # min, max, step, default


def _display() -> None:
    """The "Display" section: how big thumbnails are drawn (a projector wants them large)."""
    st.subheader("Display")
    low, high, step, default = THUMB_SIZES
    value = st.session_state.get(THUMB_KEY, default)
    st.session_state[THUMB_KEY] = min(high, max(low, int(value) // step * step))
    size = st.slider("Thumbnail size (px)", low, high, step=step, key=THUMB_KEY,
                     help="Every grid of images uses it; 120-160 px reads well on a projector.")
    url_state.publish(size=None if size == default else int(size))
    st.caption("Light or dark: ⋮ menu → Settings (follows the system by default).")


def thumb_size() -> int:
    """The thumbnail size in px chosen in the sidebar's Display section."""
    return int(st.session_state.get(THUMB_KEY, THUMB_SIZES[3]))


def _link_notices() -> None:
    """What could not be used from the link this session was opened with (once, in the sidebar)."""
    problems = st.session_state.pop(url_state.NOTICES_KEY, None)
    if problems:
        st.warning("This link had settings that could not be used:\n\n" +
                   "\n".join(f"- {md_escape(p.text())}" for p in problems), icon=":material/link:")


def _own_data():
    """Upload (zip / npz) or a local folder under the data root, and the size the images are shrunk to.
    Returns (name, source, filename, bytes); leaves in session state the resize (RESIZE_KEY) and what
    the images' headers say (INSPECT_KEY: UploadInfo or the loader's message, for the memory estimate). An
    upload's source is the sha256 of its bytes (the same file under two names is one experiment)."""
    how = st.radio("Your images from", ["Upload an archive", "A folder on this machine"], key="own_how",
                   horizontal=True)
    resize = st.selectbox("Resize to", RESIZE_SIDES, index=RESIZE_SIDES.index(DEFAULT_RESIZE), key=RESIZE_KEY,
                          format_func=lambda s: f"largest side ≤ {s} px" if s else "original size",
                          help="Images are shrunk before anything is fitted (aspect kept; images of different "
                               "sizes become squares): each gives height × width × channels features.")
    st.session_state[INSPECT_KEY] = None
    if how == "Upload an archive":
        file = st.file_uploader("Zip of class folders, or .npz", type=["zip", "npz"], key="upload",
                                help="Zip: one sub-folder per class with PNG/JPEG images. "
                                     "npz: arrays `X` (n, H, W[, 3]) and `y` (n,).")
        wanted = url_state.wanted_upload()
        if file is None:
            if wanted:
                st.warning(url_state.missing_upload(wanted), icon=":material/link_off:")
                st.session_state[url_state.NO_DATA_KEY] = url_state.missing_upload(wanted)
            else:
                st.caption("Upload a file to use it.")
            return "upload", None, None, None
        data = file.getvalue()
        st.caption(f"Using **{md_escape(file.name)}** ({format_bytes(len(data))}).")
        name, source, filename = "upload", sha256(data), file.name
        if url_state.upload_matches(source) is False:
            st.toast(f"{md_escape(file.name)} is not the archive the link was made with: showing your file.",
                     icon=":material/info:")
        inspect = lambda mod: mod.inspect_upload(data, filename, resize=resize or None)  # noqa: E731
    else:
        path = st.text_input("Folder (inside the data root)", key="folder", placeholder="my-images",
                             help="A folder with one sub-folder per class, relative to the data root "
                                  "(set IFEXPLORER_DATA_ROOT on the server to change the root).")
        if not path:
            st.caption("Name a folder inside the data root to use it.")
            return "folder", None, None, None
        root = dataset_menu.data_root()
        full = (root / path).resolve()
        try:
            shown = full.relative_to(root).as_posix()
        except ValueError:
            st.caption(f"**{md_escape(path)}** is outside the data root; name a folder inside it.")
            return "folder", None, None, None
        if not full.is_dir():
            st.caption(f"No folder **{md_escape(shown)}** in the data root.")
            return "folder", None, None, None
        st.caption(f"Using the folder **{md_escape(shown)}** of the data root.")
        name, source, filename, data = "folder", str(full), None, None
        inspect = lambda mod: mod.inspect_folder(source, resize=resize or None, data_root=str(root))  # noqa: E731
    # the headers, read once per (source, resize): the estimate in _resources, and early refusals
    memo = st.session_state.get(INSPECT_KEY + "_memo")
    if memo is None or memo[0] != (source, resize):
        from ifexplorer import data as mod

        try:
            memo = (source, resize), inspect(mod)
        except ValueError as exc:  # DataError included
            memo = (source, resize), str(exc)
        st.session_state[INSPECT_KEY + "_memo"] = memo
    st.session_state[INSPECT_KEY] = memo[1]
    return name, source, filename, data


def _resources(n_train: int, dim: int, own: bool = False) -> None:
    """The device in use, the memory and time the chosen size needs before anything is fitted, and the largest
    size that fits (the device's free memory and the server's result budget, whichever is smaller); own images:
    their real count and size after resize, read from the headers."""
    configure_threads()  # before device_label(), which reports the thread count
    info = st.session_state.get(INSPECT_KEY) if own else None
    if isinstance(info, str):
        st.caption(f"Device: **{device_label()}** · these images cannot be used: {md_escape(info)}")
        return
    if own and info is None:
        st.caption(f"Device: **{device_label()}** · choose your images to see the memory the fit needs")
        return
    try:
        if own:
            n_train = info.n_images - max(1, int(0.2 * info.n_images + 0.5))  # the loader's default 80 / 20 split
            dim = info.n_features
        n_train = max(n_train, 1)
        model = NTKInfluence(reg=1.0)
        need, seconds = model.estimate_fit_bytes(n_train, dim), model.estimate_fit_seconds(n_train, dim)
        largest = largest_fit(dim)
        size = (f"for {n_train:,} training points × {dim:,} features ({info.height}×{info.width}"
                f"{'' if info.channels == 1 else '×3'} after resizing)" if own
                else f"for {n_train:,} points × {dim} features")
        text = (f"Device: **{device_label()}** · the fit needs about **{format_bytes(need)}** and "
                f"**{_duration(seconds)}** {size}; at most **{largest:,}** training points fit")
        if n_train > largest:
            st.error(f"{n_train:,} training points are more than fit this device and the server's memory budget. "
                     f"Choose at most {largest:,}.", icon=":material/memory:")
        st.caption(text)
    except ValueError as exc:
        st.caption(f"Device: {exc}")


def largest_fit(dim: int) -> int:
    """The largest training set of `dim` features whose fit fits both the device's free memory (what fit checks)
    and the server's result budget (the fitted experiment is stored in it)."""
    from ifexplorer.ui.experiment import largest_setting

    return largest_setting(dim)


def _duration(seconds: float) -> str:
    """'under a second', '12 s', '3.5 min'."""
    if seconds < 1:
        return "under a second"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
