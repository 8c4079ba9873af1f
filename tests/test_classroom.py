import numpy as np
import pytest

from ifexplorer.classroom import example_points, parameter_influence, response_curve, weighted_fit


def test_linear_regression_example_of_math_section_8():
    x, y = example_points()
    np.testing.assert_allclose(weighted_fit(x, y, np.ones(3)), [1.0, 1 / 6], atol=1e-12)
    expected = [[0.083, -0.139], [0.000, 0.111], [-0.083, 0.028]]
    np.testing.assert_allclose(parameter_influence(x, y), expected, atol=5e-4)
    eps = 1e-6
    for k in range(3):  # the influence is the tangent of θ(ε) at ε = 0
        fd = (response_curve(x, y, k, [eps])[0] - response_curve(x, y, k, [-eps])[0]) / (2 * eps)
        np.testing.assert_allclose(fd, parameter_influence(x, y)[k], atol=1e-8)
    with pytest.raises(ValueError, match="undetermined"):
        weighted_fit(x, y, [1, 0, 0])
