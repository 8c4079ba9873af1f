"""Guided lesson: ten steps from three points and a line to why the IHVP estimate is wrong, each a live view on
curated examples (real MNIST 7 vs 9, chosen by rule, fitted through the shared store)."""

import numpy as np
import streamlit as st

import ifexplorer.ui as ui
from ifexplorer import classroom, plots
from ifexplorer.experiments import training_time as studies
from ifexplorer.experiments.lesson import flipped_example, misclassified_example, share_flipped_among_top
from ifexplorer.plots.dynamics import prediction_curve_option
from ifexplorer.ui import ExperimentConfig, get_experiment, md_escape
from ifexplorer.ui.navigate import open_training_point
from ifexplorer.ui.picker import image_buttons

ui.page_header("Guided lesson", r"""
Ten steps for a class (about 20 minutes). Every picture is computed live, on fixed examples: real MNIST 7s and
9s (800 training images, λ = 10⁻³, seed 0), and the same data with 10 % of the labels flipped. The examples are
chosen by rule (e.g. *the misclassified 7 with the largest loss*), so the lesson is the same every time. Use
**Next** / **Back**; the step is in the address bar (`?step=4`), so a link opens the class at that step. The
formulas are in the other pages' "What am I looking at?" and in docs/theory.md.
""")

CLEAN = ExperimentConfig(dataset="mnist", classes=(7, 9), n_train=800, n_test=200, reg=1e-3, seed=0)
NOISY = ExperimentConfig(dataset="mnist", classes=(7, 9), n_train=800, n_test=200, reg=1e-3, seed=0, label_noise=0.1)
SEVEN = 0  # class index of "7" in (7, 9)
K = 6
PATH_HEIGHT = 300  # px: the prediction curve of step 'Training time'


def _clean():
    return get_experiment(CLEAN)


def _seven(exp) -> int:
    """The misclassified 7 of the lesson: the wrong test 7 with the largest loss."""
    i = exp.memo(("lesson", "seven"), lambda: misclassified_example(exp.test_outputs(), exp.data.labels_test, SEVEN))
    if i is None:
        st.warning("This model gets every test 7 right, so there is no misclassified 7 to show.")
        st.stop()
    return int(i)


def _test_card(exp, i: int, size: int = 160) -> None:
    pred, true = exp.test_pred_class()[i], exp.test_true_class()[i]
    ui.show_image(exp.data.images_test[i], f"test #{i}", size=size)
    f = float(np.atleast_1d(exp.test_outputs()[i])[0])
    verdict = ":green[correct]" if pred == true else ":red[wrong]"
    st.markdown(f"**True label:** {md_escape(exp.class_name(true))}  \n**Model says:** "
                f"{md_escape(exp.class_name(pred))} {verdict}  \n"
                f"**f(x)** = {f:+.3f} (below 0 means 7, above 0 means 9)")


def _rows(exp, members, scores, key: str) -> None:
    picked = image_buttons([exp.data.images_train[j] for j in members],
                           [exp.train_caption(j, s) for j, s in zip(members, scores)], members, key=key, size=72,
                           per_row=K, help="Open it in the reverse view")
    if picked is not None:
        open_training_point(picked)


def _top(exp, i: int):
    return exp.memo(("lesson", "top", i), lambda: exp.model.top_influences(exp.data.X_test[i], exp.data.y_test[i], K))


# ----------------------------------------------------------------------------------------------- the steps
def step_line() -> None:
    st.markdown("**Influence** asks: *if one training point counted a little more, or were gone, how would the model "
                "change?* Start with three points and a straight line. Move ε: the chosen point's weight is 1 + ε; "
                "ε = −1 removes it.")
    x, y = classroom.example_points()
    c1, c2 = st.columns([1, 2])
    point = c1.radio("Point", [0, 1, 2], key="lesson_point", horizontal=True,
                     format_func=lambda k: f"{k + 1}: ({x[k]:g}, {y[k]:g})")
    eps = c2.slider("ε (−1 removes the point)", -1.0, 3.0, 0.0, 0.05, key="lesson_eps")
    theta = classroom.weighted_fit(x, y, np.ones(3))
    theta_eps = classroom.weighted_fit(x, y, np.ones(3) + eps * np.eye(3)[point])
    grid = np.linspace(-1.0, 3.0, 81)
    left, right = st.columns(2)
    left.plotly_chart(plots.classroom_fit_figure(x, y, theta, theta_eps, point, eps), key="lesson_fit")
    right.plotly_chart(plots.classroom_response_figure(grid, classroom.response_curve(x, y, point, grid),
                                                       classroom.parameter_influence(x, y)[point], eps),
                       key="lesson_curve")
    st.caption("The tangent at ε = 0 is the classic influence function; at ε = −1 (removal) it is only a guess.")


def step_seven() -> None:
    exp = _clean()
    i = _seven(exp)
    train_acc, test_acc = exp.accuracy()
    st.markdown(f"A network trained on 800 real 7s and 9s gets **{test_acc:.1%}** of 200 new images right. "
                "Here is the one it gets *most* wrong among the 7s:")
    _test_card(exp, i, 196)
    st.caption("Which training images made it say this? In a wide network the answer is exact: remove an image, "
               "retrain, and compare — the NTK does all 800 retrainings at the cost of one.")


def step_helped() -> None:
    _neighbours(helpful=True)


def step_hurt() -> None:
    _neighbours(helpful=False)


def _neighbours(helpful: bool) -> None:
    """The misclassified 7 beside the training images that help (or hurt) it most."""
    exp = _clean()
    i = _seven(exp)
    top = _top(exp, i)
    left, right = st.columns([1, 4])
    with left:
        _test_card(exp, i, 120)
    with right:
        if helpful:
            st.markdown(f"**The {len(top.helpful)} training images that help it most** (its loss would grow "
                        "without them): they pull the prediction toward *7*.")
            _rows(exp, top.helpful, top.helpful_scores, "lesson_help")
        else:
            st.markdown(f"**The {len(top.harmful)} training images that hurt it most**: without them it would do "
                        "better. Often 9s written like this 7 — similar pixels, the other label.")
            _rows(exp, top.harmful, top.harmful_scores, "lesson_hurt")


def step_remove() -> None:
    exp = _clean()
    i = _seven(exp)
    top = _top(exp, i)
    harmful = [int(j) for j in top.harmful]
    count = st.slider("Remove the most harmful images (how many)", 0, len(harmful), min(3, len(harmful)),
                      key="lesson_remove")
    gone = harmful[:count]
    data = exp.data
    keep = np.setdiff1d(np.arange(len(data.X_train)), gone)
    refit = exp.memo(("lesson", "refit", tuple(gone)), lambda: _refit_prediction(exp, keep, i),
                     label="the retrained model")
    before = float(np.atleast_1d(exp.test_outputs()[i])[0])
    c = st.columns(3)
    c[0].metric("f(x) with every image", f"{before:+.3f}")
    c[1].metric(f"f(x) without {count}", f"{refit:+.3f}", f"{refit - before:+.3f}", delta_color="off")
    c[2].metric("The model now says", exp.class_name(int(refit > 0)))
    st.caption("A real refit of the NTK model on the remaining images (not an estimate). Removing one image changes "
               "f(x) by exactly its leave-one-out effect; several together interact a little.")


def _refit_prediction(exp, keep, i: int) -> float:
    from ifexplorer import NTKInfluence

    model = NTKInfluence(reg=exp.config.reg).fit(exp.data.X_train[keep], exp.data.y_train[keep])
    return float(np.atleast_1d(model.predict(exp.data.X_test[i:i + 1])[0])[0])


def step_flipped() -> None:
    exp = get_experiment(NOISY)
    si, noisy = exp.self_influence(), exp.noisy_mask()
    order = np.argsort(-si, kind="stable")[:12]
    share = share_flipped_among_top(si, noisy, 40)
    st.markdown(f"Now flip **10 %** of the training labels on purpose ({int(noisy.sum())} images: some 7s called 9 "
                "and the other way round). Rank the training images by **self-influence** — how much an image's own "
                f"loss grows when it is left out. Among the top 40, **{share:.0%}** are flipped (chance: 10 %):")
    ui.flip_legend(exp)
    ui.image_row([exp.data.images_train[j] for j in order], [exp.train_caption(j, si[j]) for j in order], size=64,
                 per_row=6)


def step_flip_effect() -> None:
    exp = get_experiment(NOISY)
    j = exp.memo(("lesson", "flipped"), lambda: flipped_example(exp.self_influence(), exp.noisy_mask()))
    effect = exp.memo(("removal_effect", int(j), K),
                      lambda: exp.model.removal_effect(int(j), exp.data.X_test, exp.data.y_test, k=K))
    left, right = st.columns([1, 3])
    with left:
        ui.show_image(exp.data.images_train[j], exp.train_caption(j), size=160)
    with right:
        st.markdown("The loudest flipped label: what does it do to the 200 test images? Removing it and retraining "
                    "(exactly):")
        c = st.columns(2)
        c[0].metric("Test accuracy without it", f"{effect.accuracy_after:.1%}",
                    f"{100 * (effect.accuracy_after - effect.accuracy_before):+.1f} points")
        c[1].metric("Mean test loss without it", f"{effect.loss_after:.4f}",
                    f"{effect.loss_after - effect.loss_before:+.4f}", delta_color="inverse")
        st.markdown(f"**Test images it hurts most ({len(effect.hurts)})**")
        ui.image_row([exp.data.images_test[t] for t in effect.hurts],
                     [f"test #{t} · {ui.fmt(s)}" for t, s in zip(effect.hurts, effect.hurts_scores)], size=64,
                     per_row=K)


def step_time() -> None:
    exp = _clean()
    i = _seven(exp)
    times = exp.memo(("lesson", "times"), lambda: studies.time_grid(exp.model, n_points=30))
    path = exp.memo(("path", i), lambda: studies.prediction_path(exp.model, exp.data.X_test[i], times))
    preds = np.asarray(path.predictions).reshape(len(times), -1)[:, 0]
    st.markdown("Training is not instant: gradient descent moves the network along a path in time t. The same "
                "misclassified 7, its output f_t(x) while the network trains (below 0 = 7):")
    chart = st.empty()  # above the slider, marking the slider's time
    k = st.select_slider("Training time t", list(range(len(times))), value=len(times) // 3, key="lesson_t",
                         format_func=lambda n: f"{times[n]:.3g}")
    chart.echarts_chart(prediction_curve_option(times, preds, float(times[k]), exp.data.class_names,
                                                f"Prediction for test #{i} over time"), height=PATH_HEIGHT,
                        key="lesson_path", alt=f"Output of the network for test image {i} over training time")
    top = exp.memo(("lesson", "top_t", i, k), lambda: exp.model.at_time(float(times[k])).top_influences(
        exp.data.X_test[i], exp.data.y_test[i], K))
    st.markdown(f"**Most helpful at t = {times[k]:.3g}** (at t = ∞ it is the earlier step's list):")
    ui.image_row([exp.data.images_train[j] for j in top.helpful],
                 [exp.train_caption(j, s) for j, s in zip(top.helpful, top.helpful_scores)], size=64, per_row=K)


def step_ihvp() -> None:
    exp = _clean()
    i = _seven(exp)
    exact = exp.memo(("lesson", "exact_row", i), lambda: exp.influence_matrix()[i])
    ihvp = exp.memo(("lesson", "ihvp_row", i), lambda: exp.ihvp_matrix()[i])
    err = exp.memo(("lesson", "ihvp_error"), lambda: exp.model.ihvp_error())
    left, right = st.columns([1, 2], gap="large")
    left.markdown("Practitioners estimate influence with Koh & Liang's **IHVP** (inverse-Hessian-vector product), a "
                  "first-order guess. Right: it against the exact answer for the same 7 — every dot a training "
                  "image; on the dashed line they would agree.")
    left.metric("IHVP's shortfall 1 − λQᵢᵢ (mean over images)", f"{np.mean(err):.1%}",
                help="The IHVP output change for image i is the exact one times λQᵢᵢ (theory §5).")
    left.markdown("With weak regularization (small λ) and for isolated images the IHVP misses most of the effect; "
                  "the ranking survives better than the size.")
    right.plotly_chart(plots.ihvp_scatter(exact, ihvp), key="lesson_ihvp")


def step_next() -> None:
    st.markdown("That is the story. Now let the class explore:")
    links = (("pages/own_image.py", "Draw your own digit and see what it leans on", ":material/draw:"),
             ("pages/map.py", "The training-set map: click any image", ":material/bubble_chart:"),
             ("pages/gallery.py", "The influence gallery: every test image", ":material/photo_library:"),
             ("pages/dynamics.py", "Training dynamics, with a time slider", ":material/timeline:"),
             ("pages/ihvp.py", "When the IHVP goes wrong, and why", ":material/scatter_plot:"))
    for page, label, icon in links:
        st.page_link(page, label=label, icon=icon)


STEPS = [("Influence 101: three points and a line", step_line), ("A misclassified 7", step_seven),
         ("What helped it", step_helped), ("What hurt it", step_hurt), ("Take them away", step_remove),
         ("A flipped label stands out", step_flipped), ("What a flipped label does", step_flip_effect),
         ("Training time", step_time), ("Why the IHVP estimate is wrong", step_ihvp), ("Your turn", step_next)]


def _step() -> int:
    """The step from the URL (?step=1..len(STEPS)); anything else is step 1."""
    raw = st.query_params.get("step", "1")
    return min(max(int(raw), 1), len(STEPS)) if str(raw).isdigit() else 1


def _go(step: int) -> None:
    st.query_params["step"] = str(step)


def _nav(step: int, where: str) -> None:
    back, middle, forward = st.columns([1, 4, 1])
    back.button("Back", icon=":material/arrow_back:", key=f"lesson_back_{where}", disabled=step == 1,
                on_click=_go, args=(step - 1,), width="stretch")
    middle.progress(step / len(STEPS), text=f"Step {step} of {len(STEPS)}")
    forward.button("Next", icon=":material/arrow_forward:", key=f"lesson_next_{where}", disabled=step == len(STEPS),
                   on_click=_go, args=(step + 1,), type="primary", width="stretch")


with ui.friendly_errors("The lesson"):
    step = _step()
    title, show = STEPS[step - 1]
    _nav(step, "top")
    st.subheader(f"{step}. {title}")
    show()
    st.divider()
    _nav(step, "bottom")
