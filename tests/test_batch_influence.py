import csv
import io

import numpy as np
import pytest
from reference import brute_force_loo, krr_fit, ntk_reference, random_unit_rows

from ifexplorer import NTKInfluence, TopInfluencesBatch


def _problem(n=60, m=23, d=5, C=None, seed=0):
    rng = np.random.default_rng(seed)
    X, Xt = random_unit_rows(rng, n, d), random_unit_rows(rng, m, d)
    if C is None:
        return X, np.sign(X[:, 0] + 0.3 * rng.normal(size=n)), Xt, np.sign(Xt[:, 0])
    return X, np.eye(C)[rng.integers(0, C, n)], Xt, np.eye(C)[rng.integers(0, C, m)]


@pytest.mark.parametrize("C", [None, 3])
@pytest.mark.parametrize("block", [1, 4, None])
def test_top_influences_all_matches_the_full_influence_matrix(C, block):
    X, y, Xt, yt = _problem(C=C, seed=2)
    model = NTKInfluence(reg=0.01).fit(X, y)
    full = model.influence(Xt, yt)
    top = model.top_influences_all(Xt, yt, k=7, block=block)
    assert top.helpful.shape == top.harmful.shape == (len(Xt), 7)
    for i, row in enumerate(full):
        ref = model.top_influences(Xt[i], yt[i], k=7)
        got = top.row(i)
        np.testing.assert_array_equal(got.helpful, ref.helpful)
        np.testing.assert_array_equal(got.harmful, ref.harmful)
        scale = np.max(np.abs(row))  # one row by trmv, blocks by trmm: rounding differs at ~1e-15 · scale
        np.testing.assert_allclose(got.helpful_scores, row[ref.helpful], rtol=1e-10, atol=1e-13 * scale)
        np.testing.assert_allclose(got.harmful_scores, row[ref.harmful], rtol=1e-10, atol=1e-13 * scale)


def test_top_influences_all_against_brute_force_refits():
    X, y, Xt, yt = _problem(n=30, m=4, seed=3)
    lam = 0.05
    H, K = ntk_reference(X, X), ntk_reference(Xt, X)
    np.fill_diagonal(H, 0.5)
    f = K @ krr_fit(H, y, lam)
    brute = 0.5 * (brute_force_loo(H, K, y, lam) - yt[:, None]) ** 2 - 0.5 * ((f - yt) ** 2)[:, None]
    top = NTKInfluence(reg=lam).fit(X, y).top_influences_all(Xt, yt, k=30)
    for i in range(len(Xt)):
        order = np.argsort(-brute[i])
        pos = order[brute[i][order] > 0]
        np.testing.assert_array_equal(top.row(i).helpful, pos)
        np.testing.assert_allclose(top.row(i).helpful_scores, brute[i][pos], rtol=1e-8)
        # padding where fewer than k points are helpful / harmful
        assert np.all(top.helpful[i, len(pos):] == -1) and np.all(np.isnan(top.helpful_scores[i, len(pos):]))
    assert np.all((top.harmful >= 0).sum(axis=1) + (top.helpful >= 0).sum(axis=1) <= 30)


def test_top_influences_all_k_larger_than_n_and_bad_arguments():
    X, y, Xt, yt = _problem(n=8, m=3, seed=4)
    model = NTKInfluence(reg=0.1).fit(X, y)
    top = model.top_influences_all(Xt, yt, k=20)
    assert top.helpful.shape == (3, 20) and np.all(top.helpful[:, 8:] == -1)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            model.top_influences_all(Xt, yt, k=bad)
    for bad in (0, -3, 1.5, False):
        with pytest.raises(ValueError, match="block must be"):
            model.top_influences_all(Xt, yt, k=2, block=bad)
    with pytest.raises(ValueError, match="features"):
        model.top_influences_all(Xt[:, :3], yt, k=2)


def test_memory_budget_sets_the_block_and_progress_is_reported():
    X, y, Xt, yt = _problem(n=50, m=10, seed=5)
    model = NTKInfluence(reg=0.1).fit(X, y)
    seen = []
    small = model.top_influences_all(Xt, yt, k=3, memory_bytes=4 * 50 * 8 * 3, progress=lambda f, msg: seen.append(f))
    assert seen == pytest.approx([0.3, 0.6, 0.9, 1.0])  # 3 rows per block
    big = model.top_influences_all(Xt, yt, k=3)
    np.testing.assert_array_equal(small.helpful, big.helpful)
    np.testing.assert_allclose(small.harmful_scores, big.harmful_scores, rtol=1e-12)


def test_csv_export_lists_every_entry(tmp_path):
    X, y, Xt, yt = _problem(n=12, m=5, seed=6)
    top = NTKInfluence(reg=0.1).fit(X, y).top_influences_all(Xt, yt, k=4)
    path = tmp_path / "top.csv"
    lines = top.to_csv(path)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert tuple(rows[0]) == TopInfluencesBatch.CSV_HEADER and len(rows) == lines + 1
    assert lines == int((top.helpful >= 0).sum() + (top.harmful >= 0).sum())
    for test_index, rank, kind, train_index, score in rows[1:]:
        idx, sc = (top.helpful, top.helpful_scores) if kind == "helpful" else (top.harmful, top.harmful_scores)
        assert int(train_index) == idx[int(test_index), int(rank) - 1]
        assert float(score) == sc[int(test_index), int(rank) - 1]  # repr round-trips exactly
    buf = io.StringIO()
    assert top.to_csv(buf) == lines and buf.getvalue() == path.read_bytes().decode("utf-8")
