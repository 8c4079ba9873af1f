"""Network check: does the NTK influence match real leave-one-out retraining of a finite network?"""
import streamlit as st
import torch

import ifexplorer.ui as ui

try:
    from ifexplorer.experiments.validation import run_validation
except ImportError:
    run_validation = None

ui.ensure_router()  # a deep link runs this page through app.py's router
st.title("Network check")
ui.explain(r"""
Everything else in this app uses the infinitely wide network (the NTK). Here a real two-layer ReLU network of finite
width is trained by gradient descent on $L(W) = \tfrac12\sum_i (f(x_i)-y_i)^2 + \tfrac\lambda2\|W-W(0)\|^2$, then
**retrained without each of a few training points** from the same $W(0)$. The actual change of the test loss is
compared with the NTK influence $I(i,x)$ and with the practitioner's estimates — the exact inverse-Hessian product (IHVP),
LiSSA and conjugate gradient — by Pearson and Spearman correlation (the paper's Table 1). Agreement rises with width.
""")

GPU = torch.cuda.is_available()
DEFAULTS = dict(n_train=2000 if GPU else 100, n_test=3, widths=(1024, 4096, 16384) if GPU else (512, 2048),
                n_retrain=40 if GPU else 12)

with ui.friendly_errors("The network check"):
    exp = ui.current_experiment()
    if run_validation is None:
        st.info("The real-network study (ifexplorer.experiments.validation) is coming soon.",
                icon=":material/hourglass_top:")
        st.stop()
