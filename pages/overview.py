"""Landing page: what the app is, and the fitted model at a glance."""
import numpy as np
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.ui import md_escape, url_state

ui.page_header("IF Explorer", intro=(
    "Which training images made the network say *this*? For a wide two-layer ReLU network "
    "(the NTK regime) the answer is **exact**: removing a training image and retraining has a "
    "closed form, so every influence here is a true leave-one-out effect, not an approximation."), explanation=r"""
The network is trained on $L(W) = \tfrac12\sum_i (f(x_i)-y_i)^2 + \tfrac{\lambda}{2}\|W-W(0)\|^2$.
When it is wide, it behaves like kernel ridge regression with the NTK $H$:
$f(x) = k(x)^\top (H+\lambda I)^{-1} y$. The **kernel spectrum** $\lambda_{\min}(H), \lambda_{\max}(H)$
decides how well the usual (IHVP) influence estimate works: its error is at least
$\lambda_{\min}/(\lambda+\lambda_{\min})$.
""")

exp = ui.current_experiment()


def _summary() -> None:
    """Sizes, accuracies and the kernel's spectrum, then one line about the data and the fit."""
    data = exp.data
    train_acc, test_acc = exp.accuracy()
    lo, hi = exp.spectrum()
    c = st.columns(5)
    c[0].metric("Training points", f"{len(data.X_train):,}")
    c[1].metric("Train accuracy", f"{train_acc:.1%}")
    c[2].metric("Test accuracy", f"{test_acc:.1%}")
    c[3].metric("λ_min(H)", f"{lo:.3g}")
    c[4].metric("λ_max(H)", f"{hi:.3g}")
    classes = md_escape(", ".join(map(str, data.class_names)))
    st.caption(f"Dataset **{md_escape(data.name)}** · classes {classes} · {len(data.X_test):,} test points · "
               f"λ = {exp.config.reg:g} · {int(exp.noisy_mask().sum())} flipped training labels · "
               f"fitted in {exp.fit_seconds:.1f} s")


def _sample() -> None:
    """Ten training images drawn once (seed 0), with their index and (observed) label."""
    st.subheader("A sample of the training data")
    n = len(exp.data.X_train)
    pick = np.sort(np.random.default_rng(0).choice(n, size=min(10, n), replace=False))
    ui.components.training_grid(exp, pick, key="overview_sample", budget_px=860)
    st.caption("Click an image to open it.")
    st.page_link("pages/gallery.py", label="Open the influence gallery", icon=":material/photo_library:")
    st.page_link("pages/influence101.py", label="New to influence functions? Start with Influence 101",
                 icon=":material/school:")


url_state.keep_only(set())  # no other page's selection in this page's link
with ui.friendly_errors("The overview"):
    _summary()
    _sample()
