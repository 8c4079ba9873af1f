"""Landing page: what the app is, and the fitted model at a glance."""
import numpy as np
import streamlit as st

import ifexplorer.ui as ui

ui.ensure_router()  # a deep link runs this page through app.py's router
st.title("IF Explorer")
st.markdown("Which training images made the network say *this*? For a wide two-layer ReLU network "
            "(the NTK regime) the answer is **exact**: removing a training image and retraining has a "
            "closed form, so every influence here is a true leave-one-out effect, not an approximation.")
ui.explain(r"""
The network is trained on $L(W) = \tfrac12\sum_i (f(x_i)-y_i)^2 + \tfrac{\lambda}{2}\|W-W(0)\|^2$.
When it is wide, it behaves like kernel ridge regression with the NTK $H$:
$f(x) = k(x)^\top (H+\lambda I)^{-1} y$. The **kernel spectrum** $\lambda_{\min}(H), \lambda_{\max}(H)$
decides how well the usual (IHVP) influence estimate works: its error is at least
$\lambda_{\min}/(\lambda+\lambda_{\min})$.
""")

exp = ui.current_experiment()
data = exp.data
with ui.friendly_errors("The overview"):
    train_acc, test_acc = exp.accuracy()
    lo, hi = exp.spectrum()
    c = st.columns(5)
    c[0].metric("Training points", f"{len(data.X_train):,}")
    c[1].metric("Train accuracy", f"{train_acc:.1%}")
    c[2].metric("Test accuracy", f"{test_acc:.1%}")
    c[3].metric("λ_min(H)", f"{lo:.3g}")
    c[4].metric("λ_max(H)", f"{hi:.3g}")
    noisy = exp.noisy_mask()
    st.caption(f"Dataset **{data.name}** · classes {', '.join(map(str, data.class_names))} · "
               f"{len(data.X_test)} test points · λ = {exp.config.reg:g} · "
               f"{int(noisy.sum())} flipped training labels · fitted in {exp.fit_seconds:.1f} s")

    st.subheader("A sample of the training data")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(data.X_train), size=min(10, len(data.X_train)), replace=False))
    labels = exp.train_class()
    ui.image_row([data.images_train[i] for i in pick],
                 [f"#{i} · {exp.class_name(labels[i])}" + (" ⚠" if noisy[i] else "") for i in pick],
                 size=84, per_row=10)
    st.page_link("pages/gallery.py", label="Open the influence gallery", icon=":material/photo_library:")
    st.page_link("pages/influence101.py", label="New to influence functions? Start with Influence 101",
                 icon=":material/school:")
