"""experiments/lesson.py: the curated picks against brute force."""
import numpy as np

from ifexplorer.experiments.lesson import flipped_example, misclassified_example, share_flipped_among_top


def test_misclassified_example_is_the_worst_wrong_image_of_the_class():
    rng = np.random.default_rng(3)
    f = rng.normal(size=50)
    labels = rng.integers(0, 2, size=50)
    y = np.where(labels == 1, 1.0, -1.0)
    for c in (0, 1):
        wrong = [i for i in range(50) if labels[i] == c and y[i] * f[i] <= 0]
        best = max(wrong, key=lambda i: (0.5 * (f[i] - y[i]) ** 2, -i))
        assert misclassified_example(f, labels, c) == best
    assert misclassified_example(np.array([-1.0, 1.0]), np.array([0, 1]), 0) is None
    F = rng.normal(size=(30, 3))
    lab = rng.integers(0, 3, size=30)
    wrong = [i for i in range(30) if lab[i] == 2 and F[i].argmax() != 2]
    loss = [0.5 * np.sum((F[i] - np.eye(3)[2]) ** 2) for i in wrong]
    assert misclassified_example(F, lab, 2) == wrong[int(np.argmax(loss))]


def test_flipped_example_and_share():
    si = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    noisy = np.array([False, False, True, True, True])
    assert flipped_example(si, noisy) == 3
    assert flipped_example(si, np.zeros(5, bool)) is None
    assert share_flipped_among_top(si, noisy, 2) == 0.5  # indices 1 and 3
    assert share_flipped_among_top(si, noisy, 5) == 0.6
