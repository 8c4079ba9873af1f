"""The test-image browser's scores, filters, sort orders and pages, against loops written out point by point."""
import numpy as np
import pytest

from ifexplorer.experiments.browse import SORT_KEYS, page, page_count, score_test_points, select_test_points


def _reference_scores(f, labels):
    out = []
    for fx, c in zip(f, labels):
        if np.ndim(fx) == 0:
            y = 1.0 if c == 1 else -1.0
            out.append((0.5 * (fx - y) ** 2, y * fx, abs(fx), int(fx > 0), y * fx > 0))
        else:
            y = np.eye(len(fx))[c]
            other = max(v for k, v in enumerate(fx) if k != c)
            out.append((0.5 * np.sum((fx - y) ** 2), fx[c] - other, max(fx), int(np.argmax(fx)), np.argmax(fx) == c))
    return [np.array(col) for col in zip(*out)]


@pytest.mark.parametrize("C", [None, 4])
def test_scores_match_a_point_by_point_reference(C):
    rng = np.random.default_rng(0)
    f = rng.normal(size=40) if C is None else rng.normal(size=(40, C))
    labels = rng.integers(0, 2 if C is None else C, size=40)
    s = score_test_points(f, labels)
    loss, margin, confidence, predicted, correct = _reference_scores(f, labels)
    np.testing.assert_allclose(s.loss, loss, rtol=1e-15)
    np.testing.assert_allclose(s.margin, margin, rtol=1e-15)
    np.testing.assert_allclose(s.confidence, confidence, rtol=1e-15)
    np.testing.assert_array_equal(s.predicted, predicted)
    np.testing.assert_array_equal(s.correct, correct)
    np.testing.assert_array_equal(s.correct, s.margin > 0)
    assert len(s) == 40


def test_sort_keys_and_their_default_directions():
    f = np.array([0.9, -0.2, 0.1, -1.5, 0.4])
    labels = np.array([1, 1, 0, 0, 0])  # margins 0.9, -0.2, -0.1, 1.5, -0.4
    s = score_test_points(f, labels)
    assert set(SORT_KEYS) == {"loss", "margin", "confidence", "index"}
    np.testing.assert_array_equal(select_test_points(s, "margin"), [4, 1, 2, 0, 3])  # most wrong first
    np.testing.assert_array_equal(select_test_points(s, "loss"), np.argsort(-s.loss))
    np.testing.assert_array_equal(select_test_points(s, "confidence"), [2, 1, 4, 0, 3])  # least confident first
    np.testing.assert_array_equal(select_test_points(s, "index"), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(select_test_points(s, "index", descending=True), [4, 3, 2, 1, 0])
    np.testing.assert_array_equal(select_test_points(s, "margin", descending=True), [3, 0, 2, 1, 4])
    ties = score_test_points(np.zeros(4), np.array([0, 1, 0, 1]))
    np.testing.assert_array_equal(select_test_points(ties, "loss"), [0, 1, 2, 3])  # ties keep index order


def test_filters_combine_class_misclassified_and_least_confident():
    rng = np.random.default_rng(1)
    f, labels = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    s = score_test_points(f, labels)
    picked = select_test_points(s, "index", classes=[0, 2], misclassified=True)
    np.testing.assert_array_equal(picked, [i for i in range(60) if labels[i] in (0, 2) and not s.correct[i]])
    five = select_test_points(s, "index", classes=[2], least_confident=5)
    pool = [i for i in range(60) if labels[i] == 2]
    np.testing.assert_array_equal(five, sorted(sorted(pool, key=lambda i: s.confidence[i])[:5]))
    assert select_test_points(s, classes=[], misclassified=True).size == 0
    with pytest.raises(ValueError, match="sort must be one of"):
        select_test_points(s, "name")
    with pytest.raises(ValueError, match="least_confident"):
        select_test_points(s, least_confident=0)


def test_pages_cover_the_order_once():
    order = np.arange(23)[::-1]
    assert page_count(23, 10) == 3 and page_count(0, 10) == 0 and page_count(20, 10) == 2
    np.testing.assert_array_equal(np.concatenate([page(order, 10, p) for p in range(3)]), order)
    np.testing.assert_array_equal(page(order, 10, 2), [2, 1, 0])
    assert page(np.array([], dtype=int), 10, 0).size == 0
    for bad in (3, -1, 1.0):
        with pytest.raises(ValueError, match="page_index"):
            page(order, 10, bad)
    with pytest.raises(ValueError, match="page_size"):
        page(order, 0, 0)


def test_bad_scores_input_is_refused():
    with pytest.raises(ValueError, match="labels must be integer"):
        score_test_points(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="class indices in 0..1"):
        score_test_points(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="predictions must be"):
        score_test_points(np.zeros((2, 2, 2)), np.array([0, 1]))
