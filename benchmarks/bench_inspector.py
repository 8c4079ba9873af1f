"""Timings of the inspector's-bench building blocks (own image, thumbnail page, reverse view, training-set map).

    python benchmarks/bench_inspector.py [--n-map 4000] [--n-fit 2000] [--skip-tsne]

Prints wall-clock medians and, for t-SNE, the process CPU seconds too: on a shared machine the wall time
grows with the load average (printed), the CPU time much less.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_seconds  # noqa: E402


def row(what: str, seconds: float, note: str = "") -> None:
    print(f"{what:<52} {seconds * 1e3:>10.1f} ms  {note}")


def bench_own_image(ds) -> None:
    from PIL import Image, ImageDraw

    from ifexplorer.data.own_image import prepare_own_image

    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).line([(60, 40), (150, 40), (90, 200)], fill=(0, 0, 0, 255), width=18)
    arr = np.asarray(canvas)
    photo = Image.new("RGB", (4000, 3000), (225, 222, 215))
    ImageDraw.Draw(photo).line([(1500, 800), (2400, 800), (1800, 2300)], fill=(40, 40, 50), width=120)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    prepare_own_image(arr, ds)  # imports
    row("prepare_own_image: 280×280 RGBA canvas", median_seconds(lambda: prepare_own_image(arr, ds), 15))
    row("prepare_own_image: 12 MP JPEG photo (bytes)", median_seconds(lambda: prepare_own_image(jpeg, ds), 5),
        f"{len(jpeg) / 1e6:.1f} MB")
    row("prepare_own_image: an MNIST test image", median_seconds(lambda: prepare_own_image(ds.images_test[0], ds), 15))


def bench_grid(ds) -> None:
    from PIL import Image

    from ifexplorer.plots.thumbnails import compose_grid

    images = ds.images_train[:50]
    frames = (["helpful", "harmful", "flipped", None, None] * 10)
    grid = compose_grid(images, per_row=10, size_px=96, frames=frames)

    def png():
        out = io.BytesIO()
        Image.fromarray(grid).save(out, format="PNG", compress_level=1)
        return out

    row("compose_grid: 50 thumbnails at 96 px", median_seconds(
        lambda: compose_grid(images, per_row=10, size_px=96, frames=frames), 15), f"{grid.shape[1]}×{grid.shape[0]} px")
    row("  + PNG encode (compress_level=1)", median_seconds(png, 9), f"{len(png().getvalue()) / 1e3:.0f} kB")


def bench_removal(n_fit: int) -> None:
    from ifexplorer import NTKInfluence, load_dataset

    ds = load_dataset("mnist", classes="all", n_train=n_fit, n_test=1000)
    model = NTKInfluence(reg=1e-3, device="cpu").fit(ds.X_train, ds.y_train)
    row(f"removal_effect (n={n_fit}, m=1000, 10 classes)",
        median_seconds(lambda: model.removal_effect(7, ds.X_test, ds.y_test), 5))
    row("  vs. the full influence matrix (m × n)", median_seconds(lambda: model.influence(ds.X_test, ds.y_test), 3))


def bench_map(n_map: int, skip_tsne: bool) -> None:
    import importlib.util

    from ifexplorer import load_dataset
    from ifexplorer.experiments.embedding import embed
    from ifexplorer.plots.map import training_map_figure

    ds = load_dataset("mnist", classes="all", n_train=n_map, n_test=100)
    X = ds.X_train
    embed(X[:50], "pca", cache=False)  # imports
    row(f"embed PCA (n={n_map}, d=784)", median_seconds(lambda: embed(X, "pca", cache=False), 3))
    backends = [] if skip_tsne else ["sklearn"] + (["opentsne"] if importlib.util.find_spec("openTSNE") else [])
    for backend in backends:
        wall, cpu = time.perf_counter(), time.process_time()
        embed(X, "tsne", cache=False, backend=backend)
        row(f"embed t-SNE {backend} (n={n_map}, PCA 50 first)", time.perf_counter() - wall,
            f"CPU {time.process_time() - cpu:.1f} s")
    xy = embed(X, "pca")
    t = time.perf_counter()
    embed(X, "pca")
    row("embed: disk-cache hit", time.perf_counter() - t)
    values = np.random.default_rng(0).normal(size=n_map)
    fig = training_map_figure(xy, values, "influence", labels=ds.labels_train, hover_ids=ds.ids_train)
    row(f"training_map_figure (n={n_map}) + to_json", median_seconds(
        lambda: training_map_figure(xy, values, "influence", labels=ds.labels_train, hover_ids=ds.ids_train).to_json(),
        5), f"{len(fig.to_json()) / 1e3:.0f} kB JSON")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-map", type=int, default=4000)
    parser.add_argument("--n-fit", type=int, default=2000)
    parser.add_argument("--skip-tsne", action="store_true")
    args = parser.parse_args()
    from ifexplorer import load_dataset

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ds = load_dataset("mnist", n_train=600, n_test=100)
    bench_own_image(ds)
    bench_grid(ds)
    bench_removal(args.n_fit)
    bench_map(args.n_map, args.skip_tsne)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
