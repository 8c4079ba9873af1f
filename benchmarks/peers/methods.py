"""Every method of the peers benchmark: one function per method, run inside a worker process.

Each function takes the Context of one trained network and returns scores (m, n): the method's estimate of the
change of test point j's loss ℓ = ½(f − y)² when training point i is REMOVED (Koh & Liang's sign: > 0 = the point
helps). Every peer is called through its documented public API with its default settings, except three things
mapped to our problem (README "How this compares" lists them per library):
  - the model: ifexplorer.torch_module.TwoLayerReLUModule at the trained weights (one parameter, W);
  - the loss: ½(f − y)² per point (HalfSquaredError), summed or averaged as the library asks;
  - damping / regularization = λ, the weight decay toward W(0) of the objective, scaled to the library's
    Hessian: λ where the library's Hessian is of the summed loss (J^T J), λ/n where it is of the mean loss
    ((1/n) J^T J), λ/(n·s) for dattri's LiSSA damping d (its recursion solves (H_b + d·s I) x = v).
Where a library's score has the opposite sign convention the function flips it (said next to the call).
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ifexplorer import network as N
from ifexplorer import solvers
from ifexplorer.experiments.network_check import CG_DEFAULTS, LISSA_DEFAULTS
from ifexplorer.influence import NTKInfluence
from ifexplorer.torch_module import HalfSquaredError, TwoLayerReLUModule, half_squared_error

TRAIN_CHUNK = 100  # training points per call where a library materialises per-sample gradients (n·p memory)


@dataclass
class Context:
    """One trained network. X (n, d), y (n,), Xe (m, d), ye (m,) float64 tensors; W0, W (width, d), a (width, 1)."""
    X: torch.Tensor
    y: torch.Tensor
    Xe: torch.Tensor
    ye: torch.Tensor
    W0: torch.Tensor
    a: torch.Tensor
    W: torch.Tensor
    reg: float
    seed: int
    kappa: float
    workdir: Path

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def module(self) -> TwoLayerReLUModule:
        return TwoLayerReLUModule(self.W0, self.a, self.W)

    def network(self) -> N.TwoLayerReLU:
        net = N.TwoLayerReLU(self.W0.shape[0], self.X.shape[1], 1, kappa=self.kappa, seed=self.seed, device="cpu",
                             dtype=torch.float64)
        if not torch.equal(net.W0, self.W0):
            raise RuntimeError("the rebuilt network's W(0) differs from the trained one")
        return net

    def checkpoint(self) -> str:
        """The trained module's state_dict saved to a file (captum loads checkpoints from paths)."""
        path = self.workdir / "checkpoint.pt"
        if not path.exists():
            torch.save(self.module().state_dict(), path)
        return str(path)

    def float32(self) -> Context:
        """The same network and data in float32 (for code that creates float32 tensors internally)."""
        cast = {k: getattr(self, k).float() for k in ("X", "y", "Xe", "ye", "W0", "a", "W")}
        return dataclasses.replace(self, **cast)

    def train_set(self) -> TensorDataset:
        return TensorDataset(self.X, self.y)

    def test_set(self) -> TensorDataset:
        return TensorDataset(self.Xe, self.ye)


# --------------------------------------------------------------------------------------------- ours
def ours_ntk(c: Context):
    """NTK influence, closed form (theory §4): exact leave-one-out of kernel regression, all m × n at once."""
    model = NTKInfluence(reg=c.reg, device="cpu").fit(c.X.numpy(), c.y.numpy())
    return model.influence(c.Xe.numpy(), c.ye.numpy()).reshape(len(c.Xe), -1), {}


def ours_ihvp_exact(c: Context):
    """The network's exact inverse Hessian through its empirical NTK (network.NetworkInfluence.exact_influence)."""
    ana = N.NetworkInfluence(c.network(), c.W, c.X, c.y.reshape(-1, 1), c.reg)
    return ana.exact_influence(c.Xe, c.ye.reshape(-1, 1)).numpy(), {}


def _ours_solver(c: Context, solver: str):
    ana = N.NetworkInfluence(c.network(), c.W, c.X, c.y.reshape(-1, 1), c.reg)
    opts = dict(LISSA_DEFAULTS if solver == "lissa" else CG_DEFAULTS)
    if solver == "lissa":
        opts["scale"] = 1.5 * ana.hessian_max_eigenvalue()
    for _ in range(4):  # as the network check does: double LiSSA's scale when it diverges
        try:
            scores, _ = ana.solver_influence(c.Xe, c.ye.reshape(-1, 1), solver, **opts)
            return scores.numpy(), {"settings": dict(opts)}
        except solvers.LissaDivergedError:
            opts["scale"] *= 2
    raise RuntimeError("LiSSA diverged four times")


def ours_lissa(c: Context):
    """Our LiSSA (solvers.lissa) with the network check's defaults: damping 0.01, depth 500, batch 16."""
    return _ours_solver(c, "lissa")


def ours_cg(c: Context):
    """Our conjugate gradient (solvers.conjugate_gradient), the network check's defaults: 50 iterations."""
    return _ours_solver(c, "cg")


# ------------------------------------------------------------------------------------------- captum
def _captum_common(c: Context) -> dict:
    # loss_fn with reduction "none" is what captum's influence classes ask for by default
    # (sample_wise_grads_per_batch=False); their Hessian is of the summed loss, so hessian_reg = λ.
    return dict(model=c.module(), train_dataset=c.train_set(), loss_fn=HalfSquaredError("none"), batch_size=c.n)


def captum_naive(c: Context):
    from captum.influence import NaiveInfluenceFunction
    # captum's score is ∇ℓ_testᵀ H⁻¹ ∇ℓ_train (positive = proponent): the removal sign already.
    f = NaiveInfluenceFunction(checkpoint=c.checkpoint(), hessian_reg=c.reg, **_captum_common(c))
    return f.influence((c.Xe, c.ye)).detach().numpy(), {"settings": {"hessian_reg": c.reg, "projection_dim": 50}}


def captum_arnoldi(c: Context):
    # not exported from captum.influence in 0.9.0; its documented module path:
    from captum.influence._core.arnoldi_influence_function import ArnoldiInfluenceFunction
    f = ArnoldiInfluenceFunction(checkpoint=c.checkpoint(), hessian_reg=c.reg, **_captum_common(c))
    return f.influence((c.Xe, c.ye)).detach().numpy(), {"settings": {"hessian_reg": c.reg, "arnoldi_dim": 200,
                                                                      "projection_dim": 50}}


def captum_tracincp(c: Context):
    from captum.influence import TracInCP
    common = _captum_common(c)
    # One checkpoint, the trained weights (training is full-batch Nesterov, no saved trajectory); the default
    # checkpoint loader gives learning rate 1. TracIn has no Hessian, hence no damping.
    f = TracInCP(common.pop("model"), common.pop("train_dataset"), [c.checkpoint()], **common)
    return f.influence((c.Xe, c.ye)).detach().numpy(), {"settings": {"checkpoints": 1}}


# -------------------------------------------------------------------------------------------- pyDVL
def _pydvl_run(c: Context, model_cls, **kwargs):
    """Fit a pyDVL influence model (mean loss over batches, so regularization = λ/n) and get the (m, n)
    influences in chunks of training points (each chunk holds its per-sample gradients)."""
    from pydvl.influence import InfluenceMode
    loss = HalfSquaredError("mean")
    model = model_cls(c.module(), loss, regularization=c.reg / c.n, **kwargs)
    model = model.fit(DataLoader(c.train_set(), batch_size=c.n))
    cols = [model.influences(c.Xe, c.ye, c.X[s:s + TRAIN_CHUNK], c.y[s:s + TRAIN_CHUNK], mode=InfluenceMode.Up)
            for s in range(0, c.n, TRAIN_CHUNK)]
    # pyDVL's up-weighting influence is ⟨H⁻¹∇ℓ_test, ∇ℓ_train⟩ (its docstring): the removal sign already.
    return torch.cat(cols, dim=1).detach().numpy(), {"settings": {"regularization": c.reg / c.n, **kwargs}}


def pydvl_direct(c: Context):
    from pydvl.influence.torch import DirectInfluence
    return _pydvl_run(c, DirectInfluence)


def pydvl_cg(c: Context):
    from pydvl.influence.torch import CgInfluence
    return _pydvl_run(c, CgInfluence)


def pydvl_lissa(c: Context):
    from pydvl.influence.torch import LissaInfluence
    return _pydvl_run(c, LissaInfluence)


def pydvl_arnoldi(c: Context):
    from pydvl.influence.torch import ArnoldiInfluence
    return _pydvl_run(c, ArnoldiInfluence)


def pydvl_ekfac(c: Context):
    from pydvl.influence import InfluenceMode
    from pydvl.influence.torch import EkfacInfluence
    # Documented as cross-entropy classification only (it fixes the loss to cross_entropy); run as documented,
    # with the labels as class indices {0, 1}, on our one-output network.
    model = EkfacInfluence(c.module(), hessian_regularization=c.reg / c.n)
    labels = ((c.y + 1) / 2).long()
    model = model.fit(DataLoader(TensorDataset(c.X, labels), batch_size=c.n))
    scores = model.influences(c.Xe, ((c.ye + 1) / 2).long(), c.X, labels, mode=InfluenceMode.Up)
    return scores.detach().numpy(), {"settings": {"hessian_regularization": c.reg / c.n}}


# -------------------------------------------------------------------------------------- kronfluence
def kronfluence_ekfac(c: Context):
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.arguments import FactorArguments, ScoreArguments
    from kronfluence.task import Task

    class SquaredErrorTask(Task):
        """kronfluence's regression recipe with our ½(f − y)² (summed over the batch, as it asks)."""

        def compute_train_loss(self, batch, model, sample=False):
            x, y = batch
            out = model(x)
            if sample:  # true Fisher: targets drawn from the model's Gaussian predictive N(f, 1)
                with torch.no_grad():
                    y = torch.normal(out.detach()).reshape(y.shape)
            return half_squared_error(out, y, "sum")

        def compute_measurement(self, batch, model):
            x, y = batch
            return half_squared_error(model(x), y, "sum")

    task = SquaredErrorTask()
    model = prepare_model(c.module(), task)
    out = tempfile.mkdtemp(dir=c.workdir)
    analyzer = Analyzer(analysis_name="peers", model=model, task=task, cpu=True, output_dir=out, disable_tqdm=True)
    analyzer.fit_all_factors(factors_name="ekfac", dataset=c.train_set(), factor_args=FactorArguments(strategy="ekfac"),
                             per_device_batch_size=c.n)
    # kronfluence's factors are averages over examples ((1/n) Σ), so its damping is λ/n.
    analyzer.compute_pairwise_scores(scores_name="scores", factors_name="ekfac", query_dataset=c.test_set(),
                                     train_dataset=c.train_set(), per_device_query_batch_size=len(c.Xe),
                                     score_args=ScoreArguments(damping_factor=c.reg / c.n))
    scores = analyzer.load_pairwise_scores("scores")["all_modules"]
    # kronfluence's pairwise score is ∇ℓ_queryᵀ H⁻¹ ∇ℓ_train (positive = helpful): the removal sign already.
    return scores.detach().numpy(), {"settings": {"strategy": "ekfac", "damping_factor": c.reg / c.n}}


# ------------------------------------------------------------------------------------------- dattri
def _dattri_task(c: Context):
    from dattri.task import AttributionTask
    module = c.module()
    d = c.X.shape[1]

    def loss_func(params, data):
        x, y = data
        out = torch.func.functional_call(module, params, x.reshape(-1, d))
        return half_squared_error(out, y.reshape(-1), "sum")

    return AttributionTask(loss_func=loss_func, model=module, checkpoints=module.state_dict()), module


def _dattri_loaders(c: Context):
    return DataLoader(c.train_set(), batch_size=c.n), DataLoader(c.test_set(), batch_size=len(c.Xe))


def _dattri_inner_product(c: Context, cls, **kwargs):
    task, _ = _dattri_task(c)
    attributor = cls(task=task, device="cpu", **kwargs)
    train, test = _dattri_loaders(c)
    attributor.cache(train)
    # dattri returns (n_train, n_test) with ∇ℓ_trainᵀ H⁻¹ ∇ℓ_test: the removal sign already.
    scores = attributor.attribute(DataLoader(c.train_set(), batch_size=TRAIN_CHUNK), test)
    return scores.detach().numpy().T, {"settings": dict(kwargs)}


def dattri_explicit(c: Context):
    from dattri.algorithm.influence_function import IFAttributorExplicit
    return _dattri_inner_product(c, IFAttributorExplicit, regularization=c.reg)


def dattri_cg(c: Context):
    from dattri.algorithm.influence_function import IFAttributorCG
    return _dattri_inner_product(c, IFAttributorCG, regularization=c.reg)


def dattri_lissa(c: Context):
    from dattri.algorithm.influence_function import IFAttributorLiSSA
    c = c.float32()  # its internals make float32 tensors (a float64 model fails with a dtype error)
    # batch_size 1: the per-sample Hessian estimates H/n; damping d solves (H_b + d·s·I): d = λ/(n·s), s = 50.
    return _dattri_inner_product(c, IFAttributorLiSSA, damping=c.reg / (c.n * 50.0))


def dattri_arnoldi(c: Context):
    from dattri.algorithm.influence_function import IFAttributorArnoldi
    c = c.float32()  # its internals make float32 tensors (a float64 model fails with a dtype error)
    return _dattri_inner_product(c, IFAttributorArnoldi, regularization=c.reg)


def dattri_datainf(c: Context):
    from dattri.algorithm.influence_function import IFAttributorDataInf
    c = c.float32()  # its internals make float32 tensors (a float64 model fails with a dtype error)
    # DataInf inverts the per-layer mean of g gᵀ: regularization λ/n.
    return _dattri_inner_product(c, IFAttributorDataInf, regularization=c.reg / c.n)


def dattri_trak(c: Context):
    from dattri.algorithm.trak import TRAKAttributor
    c = c.float32()
    task, module = _dattri_task(c)
    d = c.X.shape[1]

    def correct_probability(params, data):  # dattri's documented pattern: p = exp(−loss)
        x, y = data
        out = torch.func.functional_call(module, params, x.reshape(-1, d))
        return torch.exp(-half_squared_error(out, y.reshape(-1), "sum"))

    attributor = TRAKAttributor(task=task, correct_probability_func=correct_probability, device="cpu",
                                regularization=0.0)
    train, test = _dattri_loaders(c)
    attributor.cache(train)
    # TRAK's score predicts how much including the training point lowers the target (the loss): removal sign.
    return attributor.attribute(test).detach().numpy().T, {"settings": {"projector": "dattri default"}}


# name: (library, method label, function)
METHODS = {
    "ours_ntk": ("ours", "NTK influence (closed form)", ours_ntk),
    "ours_ihvp_exact": ("ours", "network exact IHVP", ours_ihvp_exact),
    "ours_lissa": ("ours", "LiSSA", ours_lissa),
    "ours_cg": ("ours", "CG", ours_cg),
    "captum_naive": ("captum", "NaiveInfluenceFunction", captum_naive),
    "captum_arnoldi": ("captum", "ArnoldiInfluenceFunction", captum_arnoldi),
    "captum_tracincp": ("captum", "TracInCP", captum_tracincp),
    "pydvl_direct": ("pyDVL", "DirectInfluence", pydvl_direct),
    "pydvl_cg": ("pyDVL", "CgInfluence", pydvl_cg),
    "pydvl_lissa": ("pyDVL", "LissaInfluence", pydvl_lissa),
    "pydvl_arnoldi": ("pyDVL", "ArnoldiInfluence", pydvl_arnoldi),
    "pydvl_ekfac": ("pyDVL", "EkfacInfluence", pydvl_ekfac),
    "kronfluence_ekfac": ("kronfluence", "EK-FAC", kronfluence_ekfac),
    "dattri_explicit": ("dattri", "IFAttributorExplicit", dattri_explicit),
    "dattri_cg": ("dattri", "IFAttributorCG", dattri_cg),
    "dattri_lissa": ("dattri", "IFAttributorLiSSA", dattri_lissa),
    "dattri_arnoldi": ("dattri", "IFAttributorArnoldi", dattri_arnoldi),
    "dattri_datainf": ("dattri", "IFAttributorDataInf", dattri_datainf),
    "dattri_trak": ("dattri", "TRAKAttributor", dattri_trak),
}


def finite_or_raise(scores: np.ndarray, m: int, n: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (m, n):
        raise ValueError(f"scores have shape {scores.shape}, expected (m, n) = ({m}, {n})")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} non-finite scores")
    return scores


__all__ = ["Context", "METHODS", "finite_or_raise", "math"]
