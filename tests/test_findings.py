"""The paper's qualitative findings hold on the real data, in the values benchmarks/findings.py prints
(ifexplorer.experiments.findings: MNIST 7 vs 9, its 10 %-label-noise variant and the simulated mixture; and
the paper's size, 5,000 / 1,000, on Fashion-MNIST where Debian's dataset-fashion-mnist is installed)."""
import math

import numpy as np
import pytest

from ifexplorer.data import fashion
from ifexplorer.experiments import findings

FASHION = pytest.mark.skipif(fashion.missing(fashion.DEFAULT_DIR) is not None,
                             reason=f"Fashion-MNIST is not installed ({fashion.INSTALL})")


@pytest.fixture(scope="module", params=["mnist", pytest.param("fashion", marks=FASHION)])
def measured(request) -> findings.Findings:
    return findings.measure_findings(findings.load_findings_data(request.param))


def test_ihvp_error_grows_as_reg_shrinks_within_theorem_3s_bounds(measured):
    r = measured.ihvp_vs_reg
    assert list(r.regs) == list(findings.REGS) and np.all(np.diff(r.regs) > 0)
    assert np.all(np.diff(r.mean_error) < 0)
    assert np.all(r.lower_bound <= r.mean_error) and np.all(r.mean_error <= r.upper_bound)
    # the measured influence error is the predicted error rate (README table: equal to 3 digits)
    np.testing.assert_allclose(r.influence_error, r.median_error, atol=0.01)


def test_ihvp_error_is_larger_in_sparse_regions(measured):
    rows = measured.ihvp_vs_density
    kinds = ("leave-one-out KDE, 10 PCA dims", "true")  # MNIST's estimated density, the mixture's true one
    assert [(row.density, row.reg) for row in rows] == [(k, reg) for k in kinds for reg in findings.DENSITY_REGS]
    for row in rows:
        assert row.result.spearman < -0.3, row
        assert row.result.bin_mean_error[0] > row.result.bin_mean_error[-1], row  # sparsest bin vs densest


def test_the_most_harmful_and_most_helpful_groups_carry_the_most_complexity(measured):
    g = measured.groups.groups
    assert len(g.complexity) == 10 and np.all(np.diff(g.mean_score) > 0)
    assert g.mean_score[0] < 0 < g.mean_score[-1]
    assert set(np.argsort(g.complexity)[-2:]) == {0, 9}


def test_flipped_labels_gain_influence_as_training_runs_and_self_influence_finds_them(measured):
    noise = measured.label_noise
    share = noise.share
    assert math.isinf(share.times[-1]) and len(share.times) == findings.NOISE_TIMES + 1
    assert share.share[-1] > 0.3 > share.share[1]
    assert share.base_rate == pytest.approx(0.1)
    assert math.isfinite(share.times[noise.best])
    for detection in (noise.detection_at_best, noise.detection_final):
        assert detection.auc > 0.9 and detection.random_auc == 0.5
        assert np.all(detection.found > detection.random)
