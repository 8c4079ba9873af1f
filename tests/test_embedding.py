"""The training-set map's 2-D embeddings: PCA against an SVD, t-SNE keeps clusters apart, the disk cache."""
import importlib.util

import numpy as np
import pytest

from ifexplorer.experiments.embedding import cache_dir, embed, tsne_perplexity

BACKENDS = ["sklearn"] + (["opentsne"] if importlib.util.find_spec("openTSNE") else [])


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IFEXPLORER_CACHE_DIR", str(tmp_path / "cache"))


def _blobs(n_per=10, d=60, seed=0):
    """Three tight clusters in d > PCA_DIMS dimensions (so t-SNE runs on the 50 leading components)."""
    rng = np.random.default_rng(seed)
    centres = 5.0 * rng.normal(size=(3, d))
    X = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres])
    return X, np.repeat(np.arange(3), n_per)


def test_pca_is_the_two_leading_principal_components():
    X, _ = _blobs(d=8)
    xy = embed(X, "pca", cache=False)
    U, S, _ = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    reference = U[:, :2] * S[:2]
    assert xy.shape == (len(X), 2) and xy.dtype == np.float64
    for k in range(2):  # each axis up to its sign
        assert min(np.max(np.abs(xy[:, k] - reference[:, k])), np.max(np.abs(xy[:, k] + reference[:, k]))) < 1e-8
    one_d = embed(np.arange(6.0)[:, None], "pca", cache=False)  # one feature: a second axis of zeros
    assert one_d.shape == (6, 2) and np.all(one_d[:, 1] == 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tsne_keeps_clusters_apart_and_is_seeded(backend):
    X, labels = _blobs()
    seen = []
    xy = embed(X, "tsne", seed=1, cache=False, backend=backend, progress=lambda f, msg: seen.append(f))
    again = embed(X, "tsne", seed=1, cache=False, backend=backend)
    np.testing.assert_array_equal(xy, again)
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    assert np.mean(labels[dist.argmin(axis=1)] == labels) == 1.0  # every point's nearest neighbour shares its blob
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_maps_are_cached_on_disk_by_data_and_settings():
    X, _ = _blobs(d=5)
    first = embed(X, "pca", seed=0)
    messages = []
    second = embed(X, "pca", seed=0, progress=lambda f, msg: messages.append(msg))
    np.testing.assert_array_equal(first, second)
    assert any("cache" in m for m in messages) and any(cache_dir().rglob("*.pkl"))
    messages.clear()
    embed(X + 1e-9, "pca", seed=0, progress=lambda f, msg: messages.append(msg))  # other data: computed again
    assert not any("cache" in m for m in messages)


def test_perplexity_and_bad_input():
    assert tsne_perplexity(4000) == 30.0 and tsne_perplexity(31) == 10.0
    with pytest.raises(ValueError, match="method must be one of"):
        embed(np.eye(3), "umap")
    with pytest.raises(ValueError, match="at least 5 points"):
        embed(np.eye(4), "tsne")
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        embed(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        embed(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="seed"):
        embed(np.eye(3), seed=-1)
    with pytest.raises(ValueError, match="backend"):
        embed(np.eye(6), "tsne", backend="cuml")
