"""Your image: draw a digit, upload a picture or take a photo, and see it explained like a test image."""
import time

import numpy as np
import pandas as pd
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer.data import DataError
from ifexplorer.data.own_image import prepare_own_image
from ifexplorer.experiments.embedding import embed
from ifexplorer.experiments.own_point import explain_new_point, place_on_map
from ifexplorer.plots.map import add_new_point, training_map_figure
from ifexplorer.ui import md_escape
from ifexplorer.ui.navigate import open_training_point
from ifexplorer.ui.picker import image_buttons

ui.page_header("Your image", r"""
Your picture becomes a test image: it is turned to gray, its ink cropped, scaled and centred the way the dataset's
images are (for MNIST: the digit fits a 20 px box, its centre of mass on pixel (14, 14) of 28 × 28) and scaled to
unit norm — **"as the model sees it"** shows exactly that input. Then it is explained like any test image:
the prediction $f(x) = k(x)^\top\alpha$, and the exact influence of every training image $i$ on its loss,
$I(i,x) = \ell(f^{-i}(x), y_x) - \ell(f(x), y_x)$ (theory §4). The loss needs a label $y_x$: by default the
class the model predicts (then *helpful* images support the model's answer); say what you meant to draw to ask
"which training images pushed the model away from my answer?". On the map, your image is placed by the same
PCA projection as the training points.
""")

K = 8
CANVAS = 280  # px, square: the default size the ≤ 1 s budget is measured at
SOURCES = ["Draw", "Upload", "Camera"]
ANSWER_KEY = "own_image_seconds"  # seconds the last answer took (shown, and read by the benchmark)


def _is_image_data(exp) -> bool:
    return exp.data.n_features == int(np.prod(exp.data.image_shape))


def _no_images(exp) -> None:
    data = exp.data
    st.info(f"**Your image needs an image dataset.** {md_escape(data.name)} is tabular or simulated data "
            f"({data.n_features} numbers per point, not pixels), so there is nothing to draw. Choose MNIST, "
            "Fashion-MNIST, 8×8 digits or your own images in the sidebar.", icon=":material/image_not_supported:")


def _input():
    """The raw image from the chosen source, or None while there is none."""
    source = st.segmented_control("Your image from", SOURCES, default="Draw", key="own_source") or "Draw"
    if source == "Draw":
        from streamlit_drawable_canvas import st_canvas  # imported here: it needs a running app (see its test)

        st.space("medium")  # the canvas's toolbar floats above its top edge: keep it off the source buttons
        result = st_canvas(stroke_width=20, stroke_color="#000000", background_color="", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", return_image_data=True, key="own_canvas")
        # below the canvas: its toolbar floats over whatever is above it
        st.caption("Draw with the mouse (or a finger); the answer follows each stroke. The bin icon above the "
                   "canvas clears it, the arrows undo and redo.")
        image = result.image_data
        return None if image is None or not np.asarray(image)[..., 3].any() else image
    if source == "Upload":
        return st.file_uploader("A picture (PNG, JPEG, …)", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                                key="own_upload")
    return st.camera_input("Take a photo", key="own_camera")


def _answer_panel(exp, features, display, start: float) -> None:
    names = [exp.class_name(c) for c in range(len(exp.data.class_names))]
    choice = st.selectbox("What is it?", ["(the model's prediction)", *names], key="own_target",
                          help="The label whose loss the influence measures.")
    target = None if choice not in names else names.index(choice)
    answer = explain_new_point(exp.model, features, len(names), target=target, k=K)
    seconds = time.perf_counter() - start
    st.session_state[ANSWER_KEY] = seconds
    ui.show_image(display, "as the model sees it", size=196)
    outputs = ", ".join(f"{v:+.3f}" for v in answer.outputs[:10])
    st.markdown(f"**Prediction:** {md_escape(names[answer.predicted])}  \n**Output f(x):** {outputs}  \n"
                f"**Explained as:** {md_escape(names[answer.target])}")
    st.caption(f"Answered in {seconds * 1000:.0f} ms.")
    return answer


def _neighbours(exp, answer) -> None:
    data = exp.data
    for kind, members, scores in (("helpful", answer.top.helpful, answer.top.helpful_scores),
                                  ("harmful", answer.top.harmful, answer.top.harmful_scores)):
        st.markdown(f"**Most {kind} training images ({len(members)})**")
        if not len(members):
            st.caption(f"No training image is {kind} here.")
            continue
        picked = image_buttons([data.images_train[j] for j in members],
                               [exp.train_caption(j, s) for j, s in zip(members, scores)], members,
                               key=f"own_{kind}", size=72, per_row=K, help="Open it in the reverse view")
        if picked is not None:
            open_training_point(picked)
    members = np.concatenate([answer.top.helpful, answer.top.harmful]).astype(int)
    table = pd.DataFrame({"kind": ["helpful"] * len(answer.top.helpful) + ["harmful"] * len(answer.top.harmful),
                          "training #": members,
                          "label": [exp.class_name(c) for c in exp.train_class()[members]],
                          "flipped": exp.noisy_mask()[members],
                          "influence": np.concatenate([answer.top.helpful_scores, answer.top.harmful_scores])})
    with st.expander("As a table"):
        st.dataframe(table, hide_index=True, key="own_table")


def _map(exp, features, answer) -> None:
    xy = exp.memo(("embedding", "pca"), lambda: embed(exp.data.X_train, "pca", seed=exp.config.seed),
                  label="the training-set map")
    fig = training_map_figure(xy, answer.influence, "influence", labels=[exp.class_name(c) for c in exp.train_class()],
                              title="Your image on the training-set map", color_title="influence on your image")
    add_new_point(fig, place_on_map(exp.data.X_train, xy, features, "pca"))
    fig.update_layout(height=440)
    st.plotly_chart(fig, key="own_map")


def _panel() -> None:
    """The input on the left, the answer on the right, the neighbours and the map below. The experiment is fetched
    inside the right column: a "Model ready" box shown there on a fit never moves the canvas (a moved component
    is remounted, and the drawing would be lost)."""
    left, right = st.columns([1, 1], gap="large")
    with right:
        exp = ui.current_experiment()
    if not _is_image_data(exp):
        with left:
            _no_images(exp)
        return
    with left:
        raw = _input()
    if raw is None:
        right.info("Draw, upload or photograph an image to see what the model makes of it.", icon=":material/draw:")
        return
    start = time.perf_counter()
    try:
        features, display = prepare_own_image(raw, like=exp.data)
    except DataError as exc:  # a blank drawing, an unreadable file: say so next to the input
        right.warning(f"**Your image:** {md_escape(exc)}", icon=":material/warning:")
        return
    with right:
        answer = _answer_panel(exp, features, display, start)
    _neighbours(exp, answer)
    _map(exp, features, answer)


with ui.friendly_errors("Your image"):
    st.fragment(_panel)()
